"""Shared insights from the pooled tables: contribution bounding, DP release, best-practice rules.

Contribution bounding makes a project's influence independent of how much data it has:

* dimensions of means (capability type, pattern type, agent, refinement kind, step, workflow): each
  project contributes to at most G groups of a dimension (G = `max_groups`, or the vocabulary's size
  if smaller; a project with more keeps the G with the most rows), and in each of them ONE value per
  metric, its own mean over its rows, clipped to the metric's bounds [lo, hi]. A project counts in a
  group only when it has a value of EVERY metric of the dimension there (a finite value in at least one
  of its rows); groups where it lacks one are dropped before the G are chosen. So each group has one
  count n of projects, shared by the dimension's metrics, and every counted project is in every
  metric's sum: each published mean is the plain mean over the same n projects. (Putting a missing
  metric at the centre of its range instead would pull every mean towards the centre by an amount
  the reader cannot know; counting projects per metric would need one noisy count per metric.)
  Per group the release holds a noisy n (L1 sensitivity G, one measurement per dimension) and, per
  metric, a noisy sum of the centred values v - c, c = (lo + hi) / 2, h = (hi - lo) / 2, as fixed-point
  integers: each project's round((v - c) / h * UNITS) lies in [-UNITS, UNITS] exactly, so the sum is
  an exact integer with sensitivity G * UNITS, noised by OpenDP's integer Laplace. No float sum is
  ever assumed to be bounded.
* task outcome shares: each project contributes its share vector over the outcomes (it sums to 1):
  noisy count of projects and fixed-point sums of the shares (sensitivity UNITS plus the rounding).
* failure reasons (scrubbed free text, normalized): each project counts once for at most R of its
  most frequent reasons: noisy counts, sensitivity R.

The bounding and the per-group sums run as DuckDB SQL over the pooled Parquet (`engine`), so they
scale past memory; only the small per-group vectors come back to Python, where OpenDP adds the noise.

The budget is split by WEIGHTS, not evenly: the split that makes the published numbers' noise least
overall gives a dimension's shared count, published itself and dividing its m metrics, the weight
(m + 1)^(1/3), and every other measurement 1. The release states each measurement's epsilon, noise
scale and noise s.d. (`privacy.charges`).

Which groups appear depends only on noisy values, so it is covered by the privacy budget too.
Closed vocabularies (pattern types, refinement kinds, task outcomes, the framework's own agents, steps
and workflows) are measured as full vectors in a fixed order, zeros included; a name outside the
vocabulary counts as `other`, a per-project pseudonym not at all. Groups that come from the data
(custom capability types, failure reasons) are chosen by OpenDP's Laplace thresholding, once per
dimension: a group is kept only if its noisy count reaches a threshold set so that a group only one
project has appears with probability at most the selection's delta. A group is then published only
if its noisy count is at least max(k, c * the count's noise s.d.). Means are post-processed from the
noisy sums and counts and clipped to their bounds. Its interval is about the DP noise alone: with
probability at least the confidence level both noises lie within their Laplace quantiles (confidence
split between the two), and the interval is the range of sum / count over that box, so it covers the
pooled mean at least at the stated level whatever the data. Every row states the standard deviation
of its noise (`noise_sd`, its expected error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from statistics import NormalDist

import duckdb
import numpy as np
import pandas as pd

from learning_assets.insights.dp import (
    Accountant,
    Noise,
    OpenDPLaplace,
    laplace_quantile,
    laplace_variance,
)
from learning_assets.insights.engine import EngineSettings, Pooled, connect, literal
from learning_assets.privacy.vocabulary import framework, framework_names
from learning_assets.tables import step_executions, workflow_executions
from learning_assets.tables.columns import IMPROVEMENT_TYPES, OUTCOMES, PATTERN_TYPES

FORMAT = "learning-shared-insights"
RULES_FORMAT = "learning-best-practices"
FORMAT_VERSION = 1
REASON_MAX_CHARS = 80
UNITS = 1 << 16  # fixed-point units per half-range: a project's centred value is an integer in [-UNITS, UNITS]


@dataclass(frozen=True)
class Policy:
    epsilon: float = 4.0
    delta: float = 1e-6
    k: int = 5
    min_support_sds: float = 2.0
    max_groups: int = 8
    max_failure_reasons: int = 3
    duration_cap_seconds: float = 300.0
    workflow_duration_cap_seconds: float = 3600.0
    confidence: float = 0.95
    top_rules: int = 10

    def __post_init__(self):
        if self.k < 2:
            raise ValueError("k must be at least 2: a group of one project is that project")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        if not 0 < self.delta < 1:
            raise ValueError("delta must be between 0 and 1")


@dataclass(frozen=True)
class Metric:
    name: str
    value: str  # SQL expression over the table's columns; NULL or not finite: the row has no value of it
    lo: float
    hi: float
    unit: str = "rate"

    @property
    def center(self) -> float:
        return (self.lo + self.hi) / 2

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2


@dataclass(frozen=True)
class Dimension:
    """Groups of one table's rows (by `group`) and the metrics measured per group over one shared count."""

    name: str
    table: str
    group: str
    metrics: tuple[Metric, ...]
    vocabulary: tuple[str, ...] | None = None  # closed: released in full, in this order; None: selected

    def groups_per_project(self, policy: Policy) -> int:
        return min(len(self.vocabulary), policy.max_groups) if self.vocabulary else policy.max_groups

    def slot(self, metric: Metric) -> str:
        return f"{self.name}.{metric.name}"


def _num(column: str) -> str:
    return f'TRY_CAST("{column}" AS DOUBLE)'


def _closed(names) -> tuple[str, ...]:
    """A closed vocabulary in a fixed order: the framework's names (`unknown` is no group), then `other`."""
    return tuple(sorted(set(names) - {"unknown", "other"})) + ("other",)


# The framework's own names, which every installation shares and the anonymizer keeps as they are.
AGENTS = _closed(framework()["agent_ids"])
STEPS = _closed(framework_names(*step_executions.SPEC.rules["step_id"].vocabulary))
WORKFLOWS = _closed(framework_names(*workflow_executions.SPEC.rules["workflow_name"].vocabulary))
FINISHED = {"success": 1.0, "failed": 0.0, "timeout": 0.0, "cancelled": 0.0}  # a step's status; others: no outcome
STEP_SUCCESS = "CASE status " + " ".join(f"WHEN {literal(s)} THEN {v!r}" for s, v in FINISHED.items()) + " END"


def dimensions(policy: Policy) -> list[Dimension]:
    rate = lambda column: Metric("success_rate", _num(column), 0.0, 1.0)  # noqa: E731
    quality = Metric("quality_score", _num("quality_score"), 0.0, 1.0)
    gain = lambda name, what: Metric(name, f"{_num(f'after_{what}')} - {_num(f'before_{what}')}",  # noqa: E731
                                     -1.0, 1.0, "difference")
    seconds = lambda expr, cap: Metric("duration_seconds", expr, 0.0, float(cap), "seconds")  # noqa: E731
    return [
        Dimension("capability_type", "capabilities", "capability_type", (rate("success_rate"), quality)),
        Dimension("pattern_type", "patterns", "pattern_type", (rate("success_rate"), quality),
                  tuple(PATTERN_TYPES + ["other"])),
        Dimension("agent", "agent_executions", "agent_id",
                  (rate("success"), seconds(_num("duration"), policy.duration_cap_seconds)), AGENTS),
        Dimension("improvement_type", "capability_refinements", "improvement_type",
                  (gain("success_gain", "success_rate"), gain("quality_gain", "quality_score")),
                  tuple(IMPROVEMENT_TYPES + ["other"])),
        Dimension("step", "step_executions", "step_id",
                  (Metric("success_rate", STEP_SUCCESS, 0.0, 1.0),
                   seconds(f"{_num('duration_ms')} / 1000", policy.duration_cap_seconds)), STEPS),
        Dimension("workflow", "workflow_executions", "workflow_name",
                  (rate("success"), seconds(_num("duration"), policy.workflow_duration_cap_seconds)), WORKFLOWS),
    ]


OUTCOME_DIMENSION = "task_outcome"
OUTCOME_SLOT = "task_outcome.share"
REASON_SLOT = "failure_reason"
OUTCOME_VOCABULARY = tuple(OUTCOMES + ["other"])
RELEASE_TABLES = ("capabilities", "patterns", "agent_executions", "capability_refinements", "task_memories",
                  "step_executions", "workflow_executions")


def _weights() -> dict[tuple[str, str], float]:
    """How a release's epsilon is split: measurement (slot, kind) gets epsilon * weight / the sum of weights.

    The weights minimize the summed noise variance of the release's published numbers,
    sum(a_i / eps_i^2) under sum(eps_i) = eps, whose solution is eps_i proportional to a_i^(1/3). In each
    metric's half-range, a metric's sum has a_i = 1; a dimension's count is published itself (`projects`,
    which also decides whether a group is shown) and divides all m of its metrics, entering each mean as
    much as its sum does when the mean lies at a bound, so a_i = m + 1. A count weighs (m + 1)^(1/3), a
    sum 1, and so do the outcome count and shares and the failure reasons.
    """
    out: dict[tuple[str, str], float] = {}
    for dim in dimensions(Policy()):  # names and metrics do not depend on the policy
        out[(dim.name, "count")] = (len(dim.metrics) + 1) ** (1 / 3)
        out.update({(dim.slot(m), "sum"): 1.0 for m in dim.metrics})
    return {**out, (OUTCOME_DIMENSION, "count"): 1.0, (OUTCOME_SLOT, "sum"): 1.0, (REASON_SLOT, "count"): 1.0}


WEIGHTS = _weights()


def planned_selections(policy: Policy) -> int:
    """Measurements whose keys come from the data: the open dimensions' counts and the failure reasons."""
    return sum(1 for d in dimensions(policy) if not d.vocabulary) + 1


# --- per-project contributions (bounded), in SQL --------------------------------------------------

# What Python's str.isspace() calls whitespace (RE2's \s is ASCII only), so reasons that differ only in
# a no-break or ideographic space are one reason.
WHITESPACE = (r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
              r"\x{205f}\x{3000}]+")


def _double(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)"


def _fixed(expr: str, half: float) -> str:
    """`expr` (within [-half, half]) as an integer number of half / UNITS, rounded half up."""
    return f"CAST(floor(({expr}) / {_double(half)} * {UNITS} + 0.5) AS BIGINT)"


def _clip(expr: str, lo: float, hi: float) -> str:
    return f"least(greatest({expr}, {_double(lo)}), {_double(hi)})"


def _quoted(name: str) -> str:
    return f'"{name}"'


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _top(per: str, limit: int) -> str:
    """Each project's `limit` groups with the most rows (ties: the smaller group name)."""
    return f'{per} QUALIFY row_number() OVER (PARTITION BY project ORDER BY "rows" DESC, "group") <= {limit}'


def contributions_sql(dim: Dimension, policy: Policy) -> str:
    """One row per (project, group): the project's own mean of each metric (a column named like the metric),
    clipped; only groups where the project has every metric; at most G groups per project.

    Groups that cannot be shared across projects are dropped: empty, `unknown`, or a per-project
    pseudonym (`<kind>_<16 hex>`).
    """
    group = f"CASE WHEN g IN {_in(dim.vocabulary)} THEN g ELSE 'other' END" if dim.vocabulary else "g"
    ms = list(enumerate(dim.metrics))
    values = ", ".join(f"CAST({m.value} AS DOUBLE) AS m{i}" for i, m in ms)
    finite = ", ".join(f"CASE WHEN isfinite(m{i}) THEN {_clip(f'm{i}', m.lo, m.hi)} END AS m{i}" for i, m in ms)
    means = ", ".join(f"fsum(m{i}) / count(m{i}) AS m{i}" for i, _ in ms)
    named = ", ".join(f"{_clip(f'm{i}', m.lo, m.hi)} AS {_quoted(m.name)}" for i, m in ms)
    every = " AND ".join(f"m{i} IS NOT NULL" for i, _ in ms)
    return f"""
        WITH source AS (
            SELECT CAST(project AS VARCHAR) AS project, CAST("{dim.group}" AS VARCHAR) AS g, {values}
            FROM "{dim.table}"),
        kept AS (
            SELECT project, {group} AS "group", {finite} FROM source
            WHERE g IS NOT NULL AND g NOT IN ('', 'unknown')
              AND NOT regexp_full_match(g, '[a-z]+_[0-9a-f]{{16}}\\n?')),
        per AS (
            SELECT project, "group", {means}, count(*) AS "rows" FROM kept GROUP BY project, "group")
        {_top(f'SELECT project, "group", {named}, "rows" FROM per WHERE {every}', dim.groups_per_project(policy))}"""


def reason_contributions_sql(policy: Policy) -> str:
    """One row per (project, reason): each project's R most frequent normalized failure reasons.

    A reason is normalized by collapsing whitespace, trimming spaces and then `.;:,` from both ends and
    lowercasing (DuckDB's Unicode lowercase: a final sigma stays σ); 1 to REASON_MAX_CHARS characters.
    """
    normalized = (f"lower(trim(trim(regexp_replace(reason, {literal(WHITESPACE)}, ' ', 'g'), ' '), "
                  f"{literal('.;:,')}))")
    return f"""
        WITH reasons AS (
            SELECT CAST(project AS VARCHAR) AS project, unnest(CAST(failure_reasons AS VARCHAR[])) AS reason
            FROM patterns),
        normalized AS (SELECT project, {normalized} AS "group" FROM reasons),
        per AS (
            SELECT project, "group", count(*) AS "rows" FROM normalized
            WHERE length("group") BETWEEN 1 AND {REASON_MAX_CHARS} GROUP BY project, "group")
        {_top('SELECT project, "group", "rows" FROM per', policy.max_failure_reasons)}"""


OUTCOME_SHARES_SQL = f"""
    WITH tasks AS (
        SELECT CAST(project AS VARCHAR) AS project,
               CASE WHEN outcome IN {_in(OUTCOME_VOCABULARY)} THEN outcome ELSE 'other' END AS outcome
        FROM task_memories),
    per AS (SELECT project, outcome, count(*) AS n FROM tasks GROUP BY project, outcome)
    SELECT project, outcome, n / sum(n) OVER (PARTITION BY project) AS share FROM per"""  # a project's sum to 1


def contributions(df: pd.DataFrame, dim: Dimension, policy: Policy) -> pd.DataFrame:
    """`contributions_sql` over one DataFrame of the dimension's table (with `project`)."""
    with connect({dim.table: df}, (dim.table,)) as con:
        return con.sql(contributions_sql(dim, policy) + ' ORDER BY "group", project').df()


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def exact_aggregates(pooled: Pooled, policy: Policy, engine: EngineSettings | None = None
                     ) -> dict[str, dict[str, dict[str, float]]]:
    """The true (pre-noise) value of every measurement: {slot: {"count"/"sum": {group: value}}}.

    A dimension's count is under its name, each metric's sum under `<dimension>.<metric>`; groups in name
    order; sums are fixed-point integers (UNITS per half-range, per share for outcomes).
    Not for publication: the release adds noise to exactly these
    vectors, so their change between neighbouring inputs is what the sensitivities must bound (tests
    check that).
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    with connect(pooled, RELEASE_TABLES, engine) as con:
        for dim in dimensions(policy):
            sums = ", ".join(f'sum({_fixed(f"{_quoted(m.name)} - {_double(m.center)}", m.half)})'
                             for m in dim.metrics)
            found = _rows(con, f"""
                SELECT "group", count(*), {sums} FROM ({contributions_sql(dim, policy)})
                GROUP BY "group" ORDER BY "group" """)
            out[dim.name] = {"count": {row[0]: float(row[1]) for row in found}}
            for i, m in enumerate(dim.metrics):
                out[dim.slot(m)] = {"sum": {row[0]: float(row[2 + i]) for row in found}}
        (tasked,), = _rows(con, "SELECT count(DISTINCT project) FROM task_memories")
        shares = dict(_rows(con, f"""
            SELECT outcome, sum({_fixed("share", 1.0)}) FROM ({OUTCOME_SHARES_SQL}) GROUP BY outcome"""))
        out[OUTCOME_DIMENSION] = {"count": {"*": float(tasked)}}
        out[OUTCOME_SLOT] = {"sum": {g: float(shares.get(g, 0)) for g in OUTCOME_VOCABULARY}}
        out[REASON_SLOT] = {"count": {g: float(n) for g, n in _rows(con, f"""
            SELECT "group", count(*) FROM ({reason_contributions_sql(policy)}) GROUP BY "group" ORDER BY "group"
            """)}}
    return out


def sensitivities(policy: Policy) -> dict[tuple[str, str], float]:
    """L1 sensitivity of every measurement under adding or removing one project."""
    out = {}
    for dim in dimensions(policy):
        g = dim.groups_per_project(policy)
        out[(dim.name, "count")] = float(g)
        for m in dim.metrics:
            out[(dim.slot(m), "sum")] = float(g * UNITS)
    out[(OUTCOME_DIMENSION, "count")] = 1.0   # a project counts once
    # its shares add up to UNITS, and rounding each adds at most half a unit
    out[(OUTCOME_SLOT, "sum")] = float(UNITS + math.ceil(len(OUTCOME_VOCABULARY) / 2))
    out[(REASON_SLOT, "count")] = float(policy.max_failure_reasons)
    return out


# --- the release ---------------------------------------------------------------------------------


@dataclass
class Release:
    document: dict
    rules: dict
    accountant: Accountant


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _mean_row(dimension, group, metric, unit, n_noisy, s_noisy, scale_n, scale_s, per_unit, lo, hi, center,
              confidence) -> dict:
    """A published mean from a noisy count and a noisy fixed-point centred sum: value, expected error, interval.

    The interval: each noise within its (1 + confidence) / 2 quantile, so both with at least `confidence`;
    the range of c + sum / count over that box, clipped to the bounds.
    """
    n, s = max(float(n_noisy), 1.0), float(s_noisy) * per_unit
    value = min(max(center + s / n, lo), hi)
    d = value - center
    noise_sd = math.sqrt(laplace_variance(scale_s) * per_unit ** 2 + d * d * laplace_variance(scale_n)) / n
    alpha = (1 - confidence) / 2
    t_n, t_s = laplace_quantile(scale_n, alpha), laplace_quantile(scale_s, alpha) * per_unit
    low_n = float(n_noisy) - t_n
    if low_n < 1:
        ci = (lo, hi)
    else:
        corners = [center + (s + a) / (float(n_noisy) + b) for a in (-t_s, t_s) for b in (-t_n, t_n)]
        ci = (max(lo, min(corners)), min(hi, max(corners)))
    return {"dimension": dimension, "group": group, "metric": metric, "unit": unit, "projects": int(n_noisy),
            "value": _r(value), "ci_low": _r(ci[0]), "ci_high": _r(ci[1]), "noise_sd": _r(noise_sd),
            "projects_noise_sd": _r(math.sqrt(laplace_variance(scale_n)), 2), "bounds": [lo, hi]}


def build_release(pooled: Pooled, policy: Policy, *, release_id: str, noise: Noise | None = None,
                  now: datetime | None = None, engine: EngineSettings | None = None) -> Release:
    """Compute the DP release from the pooled tables (a store's root, or DataFrames with `project`)."""
    return release_from(exact_aggregates(pooled, policy, engine), policy, release_id=release_id, noise=noise,
                        now=now)


def release_from(exact: dict, policy: Policy, *, release_id: str, noise: Noise | None = None,
                 now: datetime | None = None) -> Release:
    """The DP release of `exact_aggregates`: noise, selection, post-processing (no data access)."""
    acct = Accountant(policy.epsilon, WEIGHTS, noise or OpenDPLaplace(), policy.delta, planned_selections(policy))
    sens = sensitivities(policy)
    rows: list[dict] = []
    min_projects: dict[str, float] = {}

    def least(scale: float) -> float:
        return max(float(policy.k), policy.min_support_sds * math.sqrt(laplace_variance(scale)))

    for dim in dimensions(policy):
        counts = exact[dim.name]["count"]
        if dim.vocabulary:  # the full vector, in a fixed order
            groups = list(dim.vocabulary)
            noisy_n, scale_n = acct.measure(dim.name, "count", [int(counts.get(g, 0)) for g in groups],
                                            sens[(dim.name, "count")])
        else:
            chosen, scale_n = acct.select(dim.name, {g: int(n) for g, n in counts.items()},
                                          dim.groups_per_project(policy), policy.k)
            groups = sorted(chosen)
            noisy_n = [chosen[g] for g in groups]
        min_projects[dim.name] = least(scale_n)
        for m in dim.metrics:  # every metric's sum over the groups of the one count
            sums = exact[dim.slot(m)]["sum"]
            noisy_s, scale_s = acct.measure(dim.slot(m), "sum", [int(sums.get(g, 0)) for g in groups],
                                            sens[(dim.slot(m), "sum")])
            for g, nn, ns in zip(groups, noisy_n, noisy_s):
                if nn >= min_projects[dim.name]:
                    rows.append(_mean_row(dim.name, g, m.name, m.unit, nn, ns, scale_n, scale_s, m.half / UNITS,
                                          m.lo, m.hi, m.center, policy.confidence))

    (noisy_tasks,), scale_n = acct.measure(OUTCOME_DIMENSION, "count", [int(exact[OUTCOME_DIMENSION]["count"]["*"])],
                                           sens[(OUTCOME_DIMENSION, "count")])
    noisy_shares, scale_s = acct.measure(OUTCOME_SLOT, "sum",
                                         [int(exact[OUTCOME_SLOT]["sum"][g]) for g in OUTCOME_VOCABULARY],
                                         sens[(OUTCOME_SLOT, "sum")])
    min_projects[OUTCOME_DIMENSION] = least(scale_n)
    if noisy_tasks >= min_projects[OUTCOME_DIMENSION]:
        for g, ns in zip(OUTCOME_VOCABULARY, noisy_shares):
            rows.append(_mean_row(OUTCOME_DIMENSION, g, "share", "rate", noisy_tasks, ns, scale_n, scale_s,
                                  1.0 / UNITS, 0.0, 1.0, 0.0, policy.confidence))

    chosen, scale_r = acct.select(REASON_SLOT, {g: int(n) for g, n in exact[REASON_SLOT]["count"].items()},
                                  policy.max_failure_reasons, policy.k)
    sd_r = math.sqrt(laplace_variance(scale_r))
    t_r = laplace_quantile(scale_r, 1 - policy.confidence)
    min_projects[REASON_SLOT] = least(scale_r)
    for g, nn in sorted(chosen.items(), key=lambda t: (-t[1], t[0])):
        if nn >= min_projects[REASON_SLOT]:
            rows.append({"dimension": REASON_SLOT, "group": g, "metric": "projects", "unit": "projects",
                         "projects": int(nn), "value": None, "ci_low": float(max(0, nn - t_r)),
                         "ci_high": float(nn + t_r), "noise_sd": _r(sd_r), "projects_noise_sd": _r(sd_r, 2),
                         "bounds": None})

    created = (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat()
    privacy = {**acct.summary(), "k": policy.k, "confidence": policy.confidence,
               "group_rule": "closed vocabularies are measured as full vectors in a fixed order; groups from the "
                             "data are kept only if their noisy count reaches the selection's threshold (OpenDP "
                             "make_laplace_threshold, covered by delta); a group is published only if its noisy "
                             f"count is at least max(k = {policy.k}, {policy.min_support_sds:g} x the count's "
                             "noise s.d.): whether it appears depends on noisy values only",
               "min_projects": {name: _r(v, 2) for name, v in min_projects.items()},
               "contribution_bounds": {
                   **{d.name: {"groups_per_project": d.groups_per_project(policy),
                               "groups": "closed vocabulary" if d.vocabulary else "selected from the data",
                               "count": "projects with a value of every metric in the group, one count shared "
                                        "by the metrics",
                               "metrics": {m.name: {"value_bounds": [m.lo, m.hi], "centre": m.center,
                                                    "values_per_group": 1} for m in d.metrics}}
                      for d in dimensions(policy)},
                   OUTCOME_DIMENSION: {"share_vector_l1": 1},
                   REASON_SLOT: {"reasons_per_project": policy.max_failure_reasons,
                                 "max_chars": REASON_MAX_CHARS}}}
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, "release_id": release_id,
                "created_at": created, "privacy": privacy, "insights": rows}
    return Release(document=document, rules=best_practices(document, policy), accountant=acct)


# --- best-practice rules (post-processing of the release only) -------------------------------------

RULE_SLOTS = (
    ("pattern_type", "success_rate", "level", "pattern type"),
    ("capability_type", "success_rate", "level", "capability type"),
    ("agent", "success_rate", "level", "agent"),
    ("workflow", "success_rate", "level", "workflow"),
    ("step", "success_rate", "level", "step"),
    ("improvement_type", "success_gain", "gain", "refinement kind"),
    ("improvement_type", "quality_gain", "gain", "refinement kind"),
)


METRIC_LABELS = {"success_rate": "success rate", "quality_score": "quality score",
                 "success_gain": "success rate", "quality_gain": "quality score"}


def _rule_text(kind, label, group, metric, effect, row, baseline, lo, hi, conf, projects) -> str:
    ci = f"{round(conf * 100)}% family-wise CI {lo:+.2f}..{hi:+.2f}"
    name = METRIC_LABELS.get(metric, metric.replace("_", " "))
    if kind == "gain":
        verb = "Use" if effect > 0 else "Do not count on"
        return (f"{verb} the {label} '{group}': it changes the {name} by {effect:+.2f} on average "
                f"({ci}; {projects} projects)")
    verb = "Prefer" if effect > 0 else "Be careful with"
    return (f"{verb} the {label} '{group}': {name} {row['value']:.2f} vs {baseline:.2f} on average "
            f"({effect:+.2f}, {ci}; {projects} projects)")


def best_practices(document: dict, policy: Policy) -> dict:
    """A small ranked table of what goes with higher success, computed from the released numbers only.

    Every published group of a rule dimension is a test; a rule is `supported` only if its interval
    excludes no effect at the Bonferroni-corrected level (1 - confidence) / tests, so that all the
    supported rules together are wrong with probability at most 1 - confidence (normal approximation).
    """
    rows = document["insights"]
    tests = sum(1 for r in rows for d, m, _, _ in RULE_SLOTS if (r["dimension"], r["metric"]) == (d, m))
    z = NormalDist().inv_cdf(1 - (1 - policy.confidence) / (2 * max(tests, 1)))
    rules = []
    for dimension, metric, kind, label in RULE_SLOTS:
        published = [r for r in rows if r["dimension"] == dimension and r["metric"] == metric]
        if kind == "level":
            if len(published) < 2:
                continue
            weights = np.array([r["projects"] for r in published], dtype=float)
            values = np.array([r["value"] for r in published], dtype=float)
            ses = np.array([r["noise_sd"] for r in published], dtype=float)
            baseline = float((weights * values).sum() / weights.sum())
            var_base = float((weights ** 2 * ses ** 2).sum() / weights.sum() ** 2)
        for r in published:
            if kind == "level":
                effect, se = r["value"] - baseline, math.sqrt(r["noise_sd"] ** 2 + var_base)
            else:
                effect, se, baseline = r["value"], r["noise_sd"], 0.0
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
            "multiplicity": {"method": "Bonferroni", "tests": tests, "z": _r(z)},
            "privacy": {"epsilon": document["privacy"]["epsilon_budget"], "k": policy.k,
                        "note": "computed only from the differentially private release (post-processing)"},
            "rules": ranked}
