"""Differential privacy for shared insights: Laplace noise from OpenDP, a per-release budget, a ledger.

Privacy unit: one project (one accepted submission; a resubmission replaces the project's rows).
Neighbouring releases differ by adding or removing one project; replacing a project's data is
remove + add and therefore costs twice the stated epsilon.

Every released vector (the per-group counts or sums of one statistic) is one *measurement*: its L1
sensitivity is fixed in advance by contribution bounding (see `learning_assets.insights.release`),
OpenDP's `make_laplace` adds noise with scale = sensitivity / epsilon_m, and OpenDP's privacy map
returns the epsilon actually spent (it accounts for floating-point rounding). The release's epsilon
is split evenly over its measurements; by sequential composition of pure-DP mechanisms the release
spends the sum, which the accountant keeps at or below the budget.

Why OpenDP rather than numpy: OpenDP samples Laplace noise through exact discrete sampling with a
cryptographically secure RNG, so its floating-point outputs do not leak the input through the
low-order bits (Mironov 2012), and its privacy maps are written against proofs. A hand-rolled
`numpy.random.laplace` has neither property. The only thing used from numpy here is the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Protocol

import opendp.prelude as dp

dp.enable_features("contrib")

MECHANISM = "Laplace mechanism, OpenDP make_laplace (discrete sampling, CSPRNG), sequential composition"
NEIGHBOURING = "add or remove one project (replacing one project's data costs 2 x epsilon)"


class Noise(Protocol):
    """Adds noise calibrated to `sensitivity / scale`; returns the noisy values and the epsilon spent."""

    name: str

    def __call__(self, values: list, sensitivity: float, scale: float, integer: bool) -> tuple[list, float]: ...


class OpenDPLaplace:
    name = "opendp.measurements.make_laplace"

    @staticmethod
    def _space(integer: bool):
        if integer:
            return dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
        return dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)

    def measurement(self, sensitivity: float, scale: float, integer: bool):
        meas = dp.m.make_laplace(*self._space(integer), scale=float(scale))
        return meas, meas.map(int(sensitivity) if integer else float(sensitivity))

    def __call__(self, values: list, sensitivity: float, scale: float, integer: bool) -> tuple[list, float]:
        meas, spent = self.measurement(sensitivity, scale, integer)
        data = [int(v) for v in values] if integer else [float(v) for v in values]
        return list(meas(data)), float(spent)


def calibrate(sensitivity: float, epsilon: float, integer: bool) -> float:
    """The smallest scale (up to rounding) whose OpenDP privacy map stays within `epsilon`."""
    scale = sensitivity / epsilon
    noise = OpenDPLaplace()
    for _ in range(50):
        if noise.measurement(sensitivity, scale, integer)[1] <= epsilon:
            return scale
        scale *= 1 + 1e-12
    raise RuntimeError("could not calibrate the Laplace scale to the privacy budget")


def laplace_variance(scale: float, integer: bool) -> float:
    """Variance of the noise OpenDP adds: continuous Laplace 2b^2; discrete Laplace for integers."""
    if integer:
        q = math.exp(-1.0 / scale) if scale > 0 else 0.0
        return 2 * q / (1 - q) ** 2 if q < 1 else float("inf")
    return 2 * scale * scale


@dataclass(frozen=True)
class Charge:
    """One measurement of a release: what was released, its L1 sensitivity, noise scale and epsilon."""

    slot: str
    kind: str
    groups: int
    sensitivity: float
    scale: float
    epsilon: float


@dataclass
class Accountant:
    """Splits a release's epsilon evenly over its planned measurements and records what each spent."""

    epsilon: float
    planned: int
    noise: Noise = field(default_factory=OpenDPLaplace)
    charges: list[Charge] = field(default_factory=list)

    def __post_init__(self):
        if not self.epsilon > 0:
            raise ValueError("epsilon must be positive")
        if self.planned < 1:
            raise ValueError("a release needs at least one measurement")

    @property
    def per_measurement(self) -> float:
        return self.epsilon / self.planned

    @property
    def spent(self) -> float:
        return sum(c.epsilon for c in self.charges)

    def measure(self, slot: str, kind: str, values: list, sensitivity: float, integer: bool = False
                ) -> tuple[list, float]:
        """Release `values` with noise; returns (noisy values, noise scale)."""
        if len(self.charges) >= self.planned:
            raise RuntimeError("more measurements than planned: the budget would be exceeded")
        scale = calibrate(sensitivity, self.per_measurement, integer)
        noisy, spent = self.noise(list(values), sensitivity, scale, integer)
        if spent > self.per_measurement * (1 + 1e-9):
            raise RuntimeError(f"{slot}/{kind}: spent {spent} > {self.per_measurement}")
        self.charges.append(Charge(slot, kind, len(values), float(sensitivity), float(scale), float(spent)))
        return noisy, scale

    def summary(self) -> dict:
        return {
            "mechanism": MECHANISM,
            "noise": getattr(self.noise, "name", type(self.noise).__name__),
            "privacy_unit": "project",
            "neighbouring": NEIGHBOURING,
            "epsilon_budget": self.epsilon,
            "epsilon_spent": self.spent,
            "measurements": len(self.charges),
            "epsilon_per_measurement": self.per_measurement,
            "charges": [asdict(c) for c in self.charges],
        }
