"""Differential privacy for shared insights: Laplace noise and DP key selection from OpenDP, a per-release budget.

Privacy unit: one project (one accepted submission, pooled under its installation's signing key when signed;
a resubmission replaces the project's rows).
Neighbouring releases differ by adding or removing one project; replacing a project's data is
remove + add and therefore costs twice the stated epsilon and delta.

Every released vector (the per-group counts or sums of one statistic) is one *measurement*: its L1
sensitivity is fixed in advance by contribution bounding (see `learning_assets.insights.release`).
Over a fixed key set (a closed vocabulary, or keys an earlier measurement released) OpenDP's
`make_laplace` adds noise with scale = sensitivity / epsilon_m. Where the keys come from the data
(failure reasons, custom capability types), OpenDP's `make_laplace_threshold` adds noise to the
counts of the keys present and keeps a key only when its noisy count clears a threshold; whether a
key appears is then covered too, at the cost of a delta. OpenDP's privacy maps return the (epsilon,
delta) actually spent (they account for floating-point rounding). The release's epsilon is split over
its measurements in proportion to explicit weights (the release's table says why each weighs what it
does) and its delta evenly over its threshold measurements; by sequential composition the release
spends the sums, which the accountant keeps at or below the budget.

Why OpenDP rather than numpy: OpenDP samples Laplace noise through exact discrete sampling with a
cryptographically secure RNG, so its floating-point outputs do not leak the input through the
low-order bits (Mironov 2012), and its privacy maps are written against proofs. A hand-rolled
`numpy.random.laplace` has neither property. The only thing used from numpy here is the arithmetic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Protocol

import opendp.prelude as dp

dp.enable_features("contrib")

MECHANISM = ("Laplace mechanism over fixed keys (OpenDP make_laplace) and Laplace thresholding over keys "
             "from the data (OpenDP make_laplace_threshold); discrete sampling, CSPRNG; sequential composition")
NEIGHBOURING = "add or remove one project (replacing one project's data costs 2 x epsilon and 2 x delta)"


class Noise(Protocol):
    """Adds integer noise of `scale` to integer values; returns the noisy values and the epsilon spent.

    `threshold` adds noise to the counts of the keys present, keeps those at or above `threshold`,
    and returns them with the (epsilon, delta) spent for a project touching at most `keys` keys,
    each by at most 1.
    """

    name: str

    def __call__(self, values: list[int], sensitivity: int, scale: float) -> tuple[list[int], float]: ...

    def threshold(self, counts: dict[str, int], keys: int, scale: float, threshold: int
                  ) -> tuple[dict[str, int], tuple[float, float]]: ...


class OpenDPLaplace:
    name = "opendp.measurements: make_laplace, make_laplace_threshold"

    @staticmethod
    def measurement(sensitivity: int, scale: float):
        """Discrete Laplace over 64-bit integer vectors (counts, and sums in fixed point)."""
        meas = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"),
                                 scale=float(scale))
        return meas, meas.map(int(sensitivity))

    def __call__(self, values: list[int], sensitivity: int, scale: float) -> tuple[list[int], float]:
        meas, spent = self.measurement(sensitivity, scale)
        return list(meas([int(v) for v in values])), float(spent)

    @staticmethod
    def threshold_measurement(keys: int, scale: float, threshold: int):
        """Laplace thresholding of string-keyed counts; a project moves at most `keys` counts by 1 each."""
        meas = dp.m.make_laplace_threshold(dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
                                           dp.l01inf_distance(dp.absolute_distance(T=int)),
                                           scale=float(scale), threshold=int(threshold))
        return meas, tuple(float(x) for x in meas.map((int(keys), int(keys), 1)))

    def threshold(self, counts: dict[str, int], keys: int, scale: float, threshold: int
                  ) -> tuple[dict[str, int], tuple[float, float]]:
        meas, spent = self.threshold_measurement(keys, scale, threshold)
        return dict(meas({str(g): int(n) for g, n in counts.items()})), spent


@functools.lru_cache(maxsize=256)
def calibrate(sensitivity: int, epsilon: float) -> float:
    """The smallest scale (up to rounding) whose OpenDP privacy map stays within `epsilon`."""
    scale = sensitivity / epsilon
    for _ in range(50):
        if OpenDPLaplace.measurement(sensitivity, scale)[1] <= epsilon:
            return scale
        scale *= 1 + 1e-12
    raise RuntimeError("could not calibrate the Laplace scale to the privacy budget")


@functools.lru_cache(maxsize=256)
def calibrate_threshold(keys: int, epsilon: float, delta: float, minimum: int) -> tuple[float, int]:
    """Scale and the smallest threshold (at least `minimum`) whose OpenDP privacy map is within (epsilon, delta)."""
    scale = float(keys) / epsilon
    for _ in range(50):
        if OpenDPLaplace.threshold_measurement(keys, scale, minimum)[1][0] <= epsilon:
            break
        scale *= 1 + 1e-12
    else:
        raise RuntimeError("could not calibrate the Laplace scale to the privacy budget")

    def fits(t: int) -> bool:
        return OpenDPLaplace.threshold_measurement(keys, scale, t)[1][1] <= delta

    lo, hi = minimum, max(minimum, 1)
    while not fits(hi):
        lo, hi = hi + 1, hi * 2
    while lo < hi:  # the smallest threshold in [lo, hi] that fits
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return scale, hi


def laplace_variance(scale: float) -> float:
    """Variance of the discrete Laplace noise OpenDP adds at `scale`."""
    q = math.exp(-1.0 / scale) if scale > 0 else 0.0
    return 2 * q / (1 - q) ** 2 if q < 1 else float("inf")


def laplace_quantile(scale: float, alpha: float) -> float:
    """The smallest integer t with P(|noise| > t) <= alpha; discrete Laplace: P(|X| >= m) = 2 q^m / (1 + q)."""
    q = math.exp(-1.0 / scale) if scale > 0 else 0.0
    if q == 0.0:
        return 0.0
    return float(max(0, math.ceil(math.log(alpha * (1 + q) / 2) / math.log(q)) - 1))


@dataclass(frozen=True)
class Charge:
    """One measurement of a release: what was released, its L1 sensitivity, noise scale and s.d., its weight
    in the budget, and the epsilon and delta it spent.

    `threshold` is set for a selection: a key was released only if its noisy count reached it.
    """

    slot: str
    kind: str
    groups: int
    sensitivity: float
    scale: float
    noise_sd: float
    weight: float
    epsilon: float
    delta: float = 0.0
    threshold: int | None = None


Measurement = tuple[str, str]  # (slot, kind)


@dataclass
class Accountant:
    """Splits a release's epsilon over its planned measurements in proportion to `weights` ({(slot, kind):
    weight}), its delta evenly over its planned selections, and records what each spent. Each planned
    measurement may be made once; an unplanned one is refused."""

    epsilon: float
    weights: dict[Measurement, float]
    noise: Noise = field(default_factory=OpenDPLaplace)
    delta: float = 0.0
    selections: int = 0
    charges: list[Charge] = field(default_factory=list)
    allocation: dict[Measurement, float] = field(init=False)  # the epsilon planned for each measurement

    def __post_init__(self):
        if not self.epsilon > 0:
            raise ValueError("epsilon must be positive")
        if not self.weights or not all(w > 0 for w in self.weights.values()):
            raise ValueError("a release needs at least one measurement, each with a positive weight")
        if self.selections and not 0 < self.delta < 1:
            raise ValueError("a release that selects keys from the data needs a delta between 0 and 1")
        total = math.fsum(self.weights.values())
        self.allocation = {m: self.epsilon * w / total for m, w in self.weights.items()}

    @property
    def per_selection(self) -> float:
        return self.delta / self.selections if self.selections else 0.0

    @property
    def spent(self) -> float:
        return math.fsum(c.epsilon for c in self.charges)

    @property
    def delta_spent(self) -> float:
        return math.fsum(c.delta for c in self.charges)

    def budget(self, slot: str, kind: str) -> float:
        """The epsilon planned for measurement (slot, kind), which must not have been made yet."""
        if (slot, kind) not in self.allocation:
            raise RuntimeError(f"{slot}/{kind}: not a planned measurement: the budget would be exceeded")
        if any((c.slot, c.kind) == (slot, kind) for c in self.charges):
            raise RuntimeError(f"{slot}/{kind}: measured twice: the budget would be exceeded")
        return self.allocation[(slot, kind)]

    def _charge(self, slot: str, kind: str, groups: int, sensitivity: float, scale: float, epsilon: float,
                delta: float = 0.0, threshold: int | None = None) -> None:
        planned = self.budget(slot, kind)
        if epsilon > planned * (1 + 1e-9) or delta > self.per_selection * (1 + 1e-9):
            raise RuntimeError(f"{slot}/{kind}: spent ({epsilon}, {delta}) > ({planned}, {self.per_selection})")
        self.charges.append(Charge(slot, kind, groups, float(sensitivity), float(scale),
                                   math.sqrt(laplace_variance(scale)), self.weights[(slot, kind)], float(epsilon),
                                   float(delta), threshold))

    def measure(self, slot: str, kind: str, values: list[int], sensitivity: int) -> tuple[list[int], float]:
        """Release `values` (over keys fixed before this measurement) with noise; returns (noisy values, scale)."""
        scale = calibrate(int(sensitivity), self.budget(slot, kind))
        noisy, spent = self.noise(list(values), int(sensitivity), scale)
        self._charge(slot, kind, len(values), sensitivity, scale, spent)
        return noisy, scale

    def select(self, slot: str, counts: dict[str, int], keys: int, minimum: int) -> tuple[dict[str, int], float]:
        """Keys from the data, each counted once per project (at most `keys` per project): noisy counts of
        those whose noisy count reaches a threshold (at least `minimum`); returns (them, noise scale)."""
        scale, threshold = calibrate_threshold(int(keys), self.budget(slot, "count"), self.per_selection,
                                               int(minimum))
        noisy, (eps, delta) = self.noise.threshold(counts, keys, scale, threshold)
        self._charge(slot, "count", len(noisy), keys, scale, eps, delta, threshold)
        return noisy, scale

    def summary(self) -> dict:
        return {
            "mechanism": MECHANISM,
            "noise": getattr(self.noise, "name", type(self.noise).__name__),
            "privacy_unit": "project",
            "neighbouring": NEIGHBOURING,
            "epsilon_budget": self.epsilon,
            "epsilon_spent": self.spent,
            "delta_budget": self.delta,
            "delta_spent": self.delta_spent,
            "measurements": len(self.charges),
            "allocation": "epsilon split over the measurements in proportion to their weights; delta evenly "
                          "over the selections",
            "charges": [asdict(c) for c in self.charges],
        }
