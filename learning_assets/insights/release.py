"""Shared insights from the pooled tables: contribution bounding, DP release, best-practice rules.

Contribution bounding makes a project's influence independent of how much data it has:

* mean statistics (per capability type, pattern type, agent, refinement kind): each project
  contributes at most ONE value per group, its own mean over its rows clipped to the metric's bounds
  [lo, hi], to at most G groups of a dimension (G = the vocabulary size for closed vocabularies,
  else `max_groups`; a project with more keeps its G largest). Per group the release holds noisy
  versions of the number of projects n (L1 sensitivity G), the sum of their centred values
  sum(v - c) with c = (lo + hi) / 2 (sensitivity G * h, h = (hi - lo) / 2) and the sum of squared
  centred values (sensitivity G * h^2), from which the mean and the spread between projects follow.
* task outcome shares: each project contributes its share vector over the outcomes (it sums to 1):
  noisy count of projects, sums and sums of squares of the shares (each sensitivity 1).
* failure reasons (scrubbed free text, normalized): each project counts once for at most R of its
  most frequent reasons: noisy counts, sensitivity R.

A group is published only when at least k projects contributed to it AND its noisy count is at
least k. The first condition is the policy "never fewer than k projects"; it is a deterministic
test on the true count, so whether a group appears at all is not covered by epsilon (only the
numbers are). Means are post-processed from the noisy sums and counts and clipped to their bounds;
every row carries the standard deviation of its DP noise and a confidence interval combining that
noise with the between-project spread estimated from the noisy sums of squares (a normal
approximation; the spread is clipped to what a bounded value can have).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from statistics import NormalDist
from typing import Callable

import numpy as np
import pandas as pd

from learning_assets.insights.dp import (
    Accountant,
    Noise,
    OpenDPLaplace,
    laplace_variance,
)
from learning_assets.tables.columns import IMPROVEMENT_TYPES, OUTCOMES, PATTERN_TYPES

FORMAT = "learning-shared-insights"
RULES_FORMAT = "learning-best-practices"
FORMAT_VERSION = 1
PSEUDONYM = re.compile(r"^[a-z]+_[0-9a-f]{16}$")
REASON_MAX_CHARS = 80


@dataclass(frozen=True)
class Policy:
    epsilon: float = 4.0
    k: int = 5
    max_groups: int = 8
    max_failure_reasons: int = 3
    duration_cap_seconds: float = 300.0
    confidence: float = 0.95
    top_rules: int = 10

    def __post_init__(self):
        if self.k < 2:
            raise ValueError("k must be at least 2: a group of one project is that project")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")


@dataclass(frozen=True)
class MeanSlot:
    dimension: str
    metric: str
    table: str
    group: str
    columns: tuple[str, ...]
    value: Callable[[pd.DataFrame], pd.Series]
    lo: float
    hi: float
    vocabulary: tuple[str, ...] | None = None
    unit: str = "rate"

    @property
    def name(self) -> str:
        return f"{self.dimension}.{self.metric}"

    def groups_per_project(self, policy: Policy) -> int:
        return len(self.vocabulary) if self.vocabulary else policy.max_groups

    @property
    def center(self) -> float:
        return (self.lo + self.hi) / 2

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2


def _col(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: pd.to_numeric(df[name], errors="coerce").astype(float)


def _diff(after: str, before: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: _col(after)(df) - _col(before)(df)


def mean_slots(policy: Policy) -> list[MeanSlot]:
    patterns, improvements = tuple(PATTERN_TYPES + ["other"]), tuple(IMPROVEMENT_TYPES + ["other"])
    return [
        MeanSlot("capability_type", "success_rate", "capabilities", "capability_type",
                 ("capability_type", "success_rate"), _col("success_rate"), 0.0, 1.0),
        MeanSlot("capability_type", "quality_score", "capabilities", "capability_type",
                 ("capability_type", "quality_score"), _col("quality_score"), 0.0, 1.0),
        MeanSlot("pattern_type", "success_rate", "patterns", "pattern_type", ("pattern_type", "success_rate"),
                 _col("success_rate"), 0.0, 1.0, patterns),
        MeanSlot("pattern_type", "quality_score", "patterns", "pattern_type", ("pattern_type", "quality_score"),
                 _col("quality_score"), 0.0, 1.0, patterns),
        MeanSlot("agent", "success_rate", "agent_executions", "agent_id", ("agent_id", "success"),
                 lambda df: df["success"].astype("Float64").astype(float), 0.0, 1.0),
        MeanSlot("agent", "duration_seconds", "agent_executions", "agent_id", ("agent_id", "duration"),
                 _col("duration"), 0.0, float(policy.duration_cap_seconds), unit="seconds"),
        MeanSlot("improvement_type", "success_gain", "capability_refinements", "improvement_type",
                 ("improvement_type", "before_success_rate", "after_success_rate"),
                 _diff("after_success_rate", "before_success_rate"), -1.0, 1.0, improvements, unit="difference"),
        MeanSlot("improvement_type", "quality_gain", "capability_refinements", "improvement_type",
                 ("improvement_type", "before_quality_score", "after_quality_score"),
                 _diff("after_quality_score", "before_quality_score"), -1.0, 1.0, improvements, unit="difference"),
    ]


OUTCOME_SLOT = "task_outcome.share"
REASON_SLOT = "failure_reason.projects"
OUTCOME_VOCABULARY = tuple(OUTCOMES + ["other"])


MEAN_KINDS = ("count", "sum", "sumsq")


def planned_measurements(policy: Policy) -> int:
    return len(MEAN_KINDS) * len(mean_slots(policy)) + len(MEAN_KINDS) + 1


def columns_needed(policy: Policy) -> dict[str, list[str]]:
    cols: dict[str, list[str]] = {}
    for s in mean_slots(policy):
        cols.setdefault(s.table, []).extend(s.columns)
    cols.setdefault("task_memories", []).append("outcome")
    cols.setdefault("patterns", []).append("failure_reasons")
    return {t: list(dict.fromkeys(c)) for t, c in cols.items()}


# --- per-project contributions (bounded) ----------------------------------------------------------


def _shareable_group(value: str) -> bool:
    """Groups that can be shared across projects: not a per-project pseudonym, not `unknown`."""
    return bool(value) and value != "unknown" and not PSEUDONYM.match(value)


def mean_contributions(df: pd.DataFrame, slot: MeanSlot, policy: Policy) -> pd.DataFrame:
    """One row per (project, group): the project's own mean, clipped; at most G groups per project."""
    if df.empty:
        return pd.DataFrame({"project": [], "group": [], "value": [], "rows": []})
    d = pd.DataFrame({"project": df["project"].astype(str).to_numpy(),
                      "group": df[slot.group].astype(object).where(df[slot.group].notna(), None).to_numpy(),
                      "value": slot.value(df).to_numpy(dtype=float)})
    d = d[d["group"].notna() & np.isfinite(d["value"])]
    d["group"] = d["group"].astype(str)
    d = d[d["group"].map(_shareable_group)]
    if slot.vocabulary:
        d["group"] = d["group"].where(d["group"].isin(slot.vocabulary), "other")
    d["value"] = d["value"].clip(slot.lo, slot.hi)
    per = d.groupby(["project", "group"], sort=True).agg(value=("value", "mean"), rows=("value", "size")).reset_index()
    per = per.sort_values(["project", "rows", "group"], ascending=[True, False, True])
    per = per.groupby("project", sort=False).head(slot.groups_per_project(policy))
    per["value"] = per["value"].clip(slot.lo, slot.hi)
    return per.sort_values(["group", "project"]).reset_index(drop=True)


def outcome_shares(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per project with tasks: its share of tasks with each outcome (a row sums to 1)."""
    if tasks.empty:
        return pd.DataFrame(columns=list(OUTCOME_VOCABULARY), dtype=float)
    outcome = tasks["outcome"].astype(object).where(tasks["outcome"].isin(OUTCOME_VOCABULARY), "other")
    shares = pd.crosstab(tasks["project"].astype(str), outcome, normalize="index")
    return shares.reindex(columns=list(OUTCOME_VOCABULARY), fill_value=0.0).astype(float)


def normalize_reason(text) -> str | None:
    if not isinstance(text, str):
        return None
    t = re.sub(r"\s+", " ", text).strip().strip(".;:,").lower()
    return t if 0 < len(t) <= REASON_MAX_CHARS else None


def reason_contributions(patterns: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """One row per (project, reason): each project's R most frequent normalized failure reasons."""
    if patterns.empty:
        return pd.DataFrame({"project": [], "group": [], "rows": []})
    d = patterns[["project", "failure_reasons"]].explode("failure_reasons")
    d = pd.DataFrame({"project": d["project"].astype(str), "group": d["failure_reasons"].map(normalize_reason)})
    d = d[d["group"].notna()]
    per = d.groupby(["project", "group"]).size().rename("rows").reset_index()
    per = per.sort_values(["project", "rows", "group"], ascending=[True, False, True])
    return per.groupby("project", sort=False).head(policy.max_failure_reasons).reset_index(drop=True)


def _mean_vectors(per: pd.DataFrame, slot: MeanSlot) -> tuple[list[str], list[int], list[float], list[float]]:
    """Per group: number of projects, sum of centred values, sum of squared centred values."""
    c = per["value"].astype(float) - slot.center
    agg = pd.DataFrame({"group": per["group"], "c": c, "c2": c * c}).groupby("group").agg(
        n=("c", "size"), s=("c", "sum"), q=("c2", "sum"))
    return ([str(g) for g in agg.index], [int(v) for v in agg["n"]], [float(v) for v in agg["s"]],
            [float(v) for v in agg["q"]])


def exact_aggregates(tables: dict[str, pd.DataFrame], policy: Policy) -> dict[str, dict[str, dict[str, float]]]:
    """The true (pre-noise) value of every measurement: {slot: {"count"/"sum": {group: value}}}.

    Not for publication: the release adds noise to exactly these vectors, so their change between
    neighbouring inputs is what the sensitivities must bound (tests check that).
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for slot in mean_slots(policy):
        groups, counts, sums, squares = _mean_vectors(mean_contributions(tables[slot.table], slot, policy), slot)
        out[slot.name] = {"count": dict(zip(groups, map(float, counts))), "sum": dict(zip(groups, sums)),
                          "sumsq": dict(zip(groups, squares))}
    shares = outcome_shares(tables["task_memories"])
    out[OUTCOME_SLOT] = {"count": {"*": float(len(shares))},
                         "sum": {g: float(shares[g].sum()) for g in shares.columns},
                         "sumsq": {g: float((shares[g] ** 2).sum()) for g in shares.columns},
                         "support": {g: float((shares[g] > 0).sum()) for g in shares.columns}}
    reasons = reason_contributions(tables["patterns"], policy)
    out[REASON_SLOT] = {"count": {g: float(v) for g, v in reasons.groupby("group").size().items()}}
    return out


def sensitivities(policy: Policy) -> dict[tuple[str, str], float]:
    """L1 sensitivity of every measurement under adding or removing one project."""
    out = {}
    for slot in mean_slots(policy):
        g = slot.groups_per_project(policy)
        out[(slot.name, "count")] = float(g)
        out[(slot.name, "sum")] = float(g) * slot.half
        out[(slot.name, "sumsq")] = float(g) * slot.half ** 2
    out[(OUTCOME_SLOT, "count")] = 1.0   # a project counts once
    out[(OUTCOME_SLOT, "sum")] = 1.0     # its shares add up to 1
    out[(OUTCOME_SLOT, "sumsq")] = 1.0   # and so do at most their squares
    out[(REASON_SLOT, "count")] = float(policy.max_failure_reasons)
    return out


# --- the release ---------------------------------------------------------------------------------


@dataclass
class Release:
    document: dict
    rules: dict
    accountant: Accountant
    projects: int
    withheld: dict[str, int] = field(default_factory=dict)


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _mean_row(dimension, group, metric, unit, n_noisy, s_noisy, q_noisy, var_n, var_s, lo, hi, center, z) -> dict:
    """A published mean from noisy (count, centred sum, centred sum of squares): value, noise, CI."""
    n = max(float(n_noisy), 1.0)
    value = min(max(center + s_noisy / n, lo), hi)
    d = value - center
    var_dp = (var_s + d * d * var_n) / (n * n)            # delta method for (c + S/n)
    spread = max(0.0, q_noisy / n - d * d) * n / max(n - 1.0, 1.0)
    spread = min(spread, max(0.0, (value - lo) * (hi - value)))  # no bounded value varies more
    sd = math.sqrt(var_dp + spread / n)
    return {"dimension": dimension, "group": group, "metric": metric, "unit": unit, "projects": int(n_noisy),
            "value": _r(value), "ci_low": _r(max(lo, value - z * sd)), "ci_high": _r(min(hi, value + z * sd)),
            "noise_sd": _r(math.sqrt(var_dp)), "std_error": _r(sd), "between_project_sd": _r(math.sqrt(spread)),
            "bounds": [lo, hi]}


def build_release(tables: dict[str, pd.DataFrame], policy: Policy, *, release_id: str,
                  noise: Noise | None = None, now: datetime | None = None) -> Release:
    """Compute the DP release from pooled tables (each with a `project` column)."""
    acct = Accountant(policy.epsilon, planned_measurements(policy), noise or OpenDPLaplace())
    sens = sensitivities(policy)
    z = NormalDist().inv_cdf(0.5 + policy.confidence / 2)
    k = policy.k
    rows: list[dict] = []
    withheld: dict[str, int] = {}
    projects = set()
    for df in tables.values():
        if "project" in df:
            projects |= set(df["project"].astype(str))

    for slot in mean_slots(policy):
        groups, counts, sums, squares = _mean_vectors(mean_contributions(tables[slot.table], slot, policy), slot)
        noisy_n, scale_n = acct.measure(slot.name, "count", counts, sens[(slot.name, "count")], integer=True)
        noisy_s, scale_s = acct.measure(slot.name, "sum", sums, sens[(slot.name, "sum")])
        noisy_q, _ = acct.measure(slot.name, "sumsq", squares, sens[(slot.name, "sumsq")])
        var_n, var_s = laplace_variance(scale_n, True), laplace_variance(scale_s, False)
        for g, n, nn, ns, nq in zip(groups, counts, noisy_n, noisy_s, noisy_q):
            if n < k or nn < k:
                withheld[slot.name] = withheld.get(slot.name, 0) + 1
                continue
            rows.append(_mean_row(slot.dimension, g, slot.metric, slot.unit, nn, ns, nq, var_n, var_s, slot.lo,
                                  slot.hi, slot.center, z))

    shares = outcome_shares(tables["task_memories"])
    (noisy_tasks,), scale_n = acct.measure(OUTCOME_SLOT, "count", [len(shares)], sens[(OUTCOME_SLOT, "count")],
                                           integer=True)
    has = len(shares) > 0
    share_sums = [float(shares[g].sum()) if has else 0.0 for g in OUTCOME_VOCABULARY]
    share_squares = [float((shares[g] ** 2).sum()) if has else 0.0 for g in OUTCOME_VOCABULARY]
    noisy_shares, scale_s = acct.measure(OUTCOME_SLOT, "sum", share_sums, sens[(OUTCOME_SLOT, "sum")])
    noisy_squares, _ = acct.measure(OUTCOME_SLOT, "sumsq", share_squares, sens[(OUTCOME_SLOT, "sumsq")])
    var_n, var_s = laplace_variance(scale_n, True), laplace_variance(scale_s, False)
    for g, ns, nq in zip(OUTCOME_VOCABULARY, noisy_shares, noisy_squares):
        support = int((shares[g] > 0).sum()) if has else 0
        if len(shares) < k or noisy_tasks < k or support < k:
            withheld[OUTCOME_SLOT] = withheld.get(OUTCOME_SLOT, 0) + 1
            continue
        rows.append(_mean_row("task_outcome", g, "share", "rate", noisy_tasks, ns, nq, var_n, var_s, 0.0, 1.0, 0.0,
                              z))

    reasons = reason_contributions(tables["patterns"], policy)
    sizes = reasons.groupby("group").size()
    noisy_r, scale_r = acct.measure(REASON_SLOT, "count", [int(v) for v in sizes.to_numpy()],
                                    sens[(REASON_SLOT, "count")], integer=True)
    sd_r = math.sqrt(laplace_variance(scale_r, True))
    for g, n, nn in sorted(zip(sizes.index, sizes.to_numpy(), noisy_r), key=lambda t: (-t[2], t[0])):
        if n < k or nn < k:
            withheld[REASON_SLOT] = withheld.get(REASON_SLOT, 0) + 1
            continue
        rows.append({"dimension": "failure_reason", "group": g, "metric": "projects", "unit": "projects",
                     "projects": int(nn), "value": None, "ci_low": _r(max(0.0, nn - z * sd_r), 1),
                     "ci_high": _r(nn + z * sd_r, 1), "noise_sd": _r(sd_r), "std_error": _r(sd_r), "bounds": None})

    created = (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat()
    privacy = {**acct.summary(), "k": k, "confidence": policy.confidence,
               "group_rule": f"a group is published only if >= {k} projects contributed and its noisy count is "
                             f">= {k}; the presence of a group is decided on the true count and is not covered "
                             "by epsilon, its numbers are",
               "contribution_bounds": {
                   **{s.name: {"groups_per_project": s.groups_per_project(policy), "value_bounds": [s.lo, s.hi],
                               "centre": s.center, "values_per_group": 1} for s in mean_slots(policy)},
                   OUTCOME_SLOT: {"share_vector_l1": 1},
                   REASON_SLOT: {"reasons_per_project": policy.max_failure_reasons,
                                 "max_chars": REASON_MAX_CHARS}}}
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, "release_id": release_id,
                "created_at": created, "privacy": privacy, "insights": rows}
    rules = best_practices(document, policy)
    return Release(document=document, rules=rules, accountant=acct, projects=len(projects), withheld=withheld)


# --- best-practice rules (post-processing of the release only) -------------------------------------

RULE_SLOTS = (
    ("pattern_type", "success_rate", "level", "pattern type"),
    ("capability_type", "success_rate", "level", "capability type"),
    ("agent", "success_rate", "level", "agent"),
    ("improvement_type", "success_gain", "gain", "refinement kind"),
    ("improvement_type", "quality_gain", "gain", "refinement kind"),
)


METRIC_LABELS = {"success_rate": "success rate", "quality_score": "quality score",
                 "success_gain": "success rate", "quality_gain": "quality score"}


def _rule_text(kind, label, group, metric, effect, row, baseline, lo, hi, conf, projects) -> str:
    ci = f"{round(conf * 100)}% CI {lo:+.2f}..{hi:+.2f}"
    name = METRIC_LABELS.get(metric, metric.replace("_", " "))
    if kind == "gain":
        verb = "Use" if effect > 0 else "Do not count on"
        return (f"{verb} the {label} '{group}': it changes the {name} by {effect:+.2f} on average "
                f"({ci}; {projects} projects)")
    verb = "Prefer" if effect > 0 else "Be careful with"
    return (f"{verb} the {label} '{group}': {name} {row['value']:.2f} vs {baseline:.2f} on average "
            f"({effect:+.2f}, {ci}; {projects} projects)")


def best_practices(document: dict, policy: Policy) -> dict:
    """A small ranked table of what goes with higher success, computed from the released numbers only."""
    z = NormalDist().inv_cdf(0.5 + policy.confidence / 2)
    rules = []
    rows = document["insights"]
    for dimension, metric, kind, label in RULE_SLOTS:
        published = [r for r in rows if r["dimension"] == dimension and r["metric"] == metric]
        if kind == "level":
            if len(published) < 2:
                continue
            weights = np.array([r["projects"] for r in published], dtype=float)
            values = np.array([r["value"] for r in published], dtype=float)
            ses = np.array([r["std_error"] for r in published], dtype=float)
            baseline = float((weights * values).sum() / weights.sum())
            var_base = float((weights ** 2 * ses ** 2).sum() / weights.sum() ** 2)
        for r in published:
            if kind == "level":
                effect, se = r["value"] - baseline, math.sqrt(r["std_error"] ** 2 + var_base)
            else:
                effect, se, baseline = r["value"], r["std_error"], 0.0
            lo, hi = effect - z * se, effect + z * se
            supported = lo > 0 or hi < 0
            rules.append({
                "dimension": dimension, "group": r["group"], "metric": metric, "comparison":
                    "vs the project-weighted average of the published groups" if kind == "level" else "vs no change",
                "direction": "prefer" if effect > 0 else "avoid", "effect": _r(effect), "ci_low": _r(lo),
                "ci_high": _r(hi), "value": r["value"], "baseline": _r(baseline), "projects": r["projects"],
                "supported": supported, "_score": lo if effect > 0 else -hi,
                "rule": _rule_text(kind, label, r["group"], metric, effect, r, baseline, lo, hi, policy.confidence,
                                   r["projects"])})
    rules.sort(key=lambda x: (not x["supported"], -x["_score"], x["dimension"], x["group"]))
    ranked = []
    for i, rule in enumerate(rules[: policy.top_rules], start=1):
        rule.pop("_score")
        ranked.append({"rank": i, **rule})
    return {"format": RULES_FORMAT, "format_version": FORMAT_VERSION, "release_id": document["release_id"],
            "created_at": document["created_at"], "confidence": policy.confidence,
            "privacy": {"epsilon": document["privacy"]["epsilon_budget"], "k": policy.k,
                        "note": "computed only from the differentially private release (post-processing)"},
            "rules": ranked}
