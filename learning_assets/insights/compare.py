"""A project's own metrics beside a shared-insights release: where it stands, and which practices apply.

The project side of cross-project learning. The release (`release.build_release`, written by the
`shared_insights` asset as `releases/<id>/insights.json` beside its `best_practices.json`) publishes,
per dimension and group, the mean over projects of each project's own bounded mean. A project's own
number is exactly that per-project contribution, so it is computed by the release's own SQL
(`contributions_sql`, `OUTCOME_SHARES_SQL`, `reason_contributions_sql`) run by the same engine over
the project's latest export tables: one definition of every metric, on both sides.

Two differences from the release, both about which groups are shown, never about a value: the project
sees all its groups (the release keeps at most G per project), and all its failure reasons. The value
bounds (the duration caps) are the release's own, read from its privacy section. Like the release, a
group counts only where the project has every metric of the dimension.

Nothing here is published: the comparison holds the project's anonymized numbers and the public
release, and is written only where its caller says (a terminal, an HTML file beside the exports).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from learning_assets.errors import UserError, os_words
from learning_assets.exportfiles.parquet import plain, read_arrow_frame
from learning_assets.insights.engine import connect
from learning_assets.insights.release import (
    FORMAT,
    FORMAT_VERSION,
    OUTCOME_DIMENSION,
    OUTCOME_SHARES_SQL,
    OUTCOME_VOCABULARY,
    REASON_SLOT,
    RELEASE_TABLES,
    RULES_FORMAT,
    Policy,
    contributions_sql,
    dimensions,
    reason_contributions_sql,
)
from learning_assets.sources.frames import empty_frame
from learning_assets.tables import ANONYMIZED

INSIGHTS_FILE = "insights.json"
RULES_FILE = "best_practices.json"
RELEASES = "releases"
SELF = "self"  # the `project` value of the project's own rows: the SQL groups by project
ALL = 1_000_000  # groups and reasons per project: show every one the project has

# Which way is better, per (dimension, metric), and per outcome for task outcome shares; absent: no direction.
HIGHER_IS_BETTER = {"success_rate": True, "quality_score": True, "success_gain": True, "quality_gain": True,
                    "duration_seconds": False}
OUTCOME_BETTER = {"success": True, "failure": False, "timeout": False, "error": False}

# Positions of the project's value against the pool's interval.
BELOW, WITHIN, ABOVE = "below", "within", "above"
NOT_PUBLISHED = "not in the release"   # the project has the group; fewer than k projects did
NO_DATA = "no data here"               # the release has the group; the project does not


class ReleaseError(UserError):
    """The release path is missing, unreadable or not a shared-insights release."""


class ExportUnusable(UserError):
    """The project's export cannot be compared (no Parquet tables, a damaged table)."""


# --- reading the release ------------------------------------------------------------------------


@dataclass
class LoadedRelease:
    path: Path           # the insights.json read
    document: dict
    rules: dict | None   # best_practices.json of the same release, when it is there
    rules_note: str = ""


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ReleaseError(f"{path}: cannot read the {what} ({os_words(exc)})") from None
    except (ValueError, RecursionError):
        raise ReleaseError(f"{path}: the {what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: the {what} is not a JSON object")
    return data


def release_file(path: Path) -> Path:
    """The insights.json a --release PATH means: the file, a release directory, or a store (its LATEST)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ReleaseError(f"{path}: no such release file or directory")
    if path.is_file():
        if path.name == RULES_FILE and (path.parent / INSIGHTS_FILE).is_file():
            return path.parent / INSIGHTS_FILE
        return path
    if (path / INSIGHTS_FILE).is_file():
        return path / INSIGHTS_FILE
    pointer = path / RELEASES / "LATEST"
    if pointer.is_file():
        try:
            name = pointer.read_text(errors="replace").strip()
        except OSError as exc:
            raise ReleaseError(f"{pointer}: cannot read it ({os_words(exc)})") from None
        found = path / RELEASES / name / INSIGHTS_FILE
        if name and name == Path(name).name and found.is_file():
            return found
        raise ReleaseError(f"{pointer} names no release with an {INSIGHTS_FILE}")
    raise ReleaseError(f"{path}: holds no release (neither {INSIGHTS_FILE} nor {RELEASES}/LATEST)")


def load_release(path: Path) -> LoadedRelease:
    """Read and check a release; its best-practice rules come from the same directory, same release id."""
    file = release_file(path)
    doc = _read_json(file, "release")
    if doc.get("format") == RULES_FORMAT:
        raise ReleaseError(f"{file}: holds best-practice rules, not the release; pass the release's "
                           f"{INSIGHTS_FILE} or its directory")
    if doc.get("format") != FORMAT:
        raise ReleaseError(f"{file}: not a shared-insights release (format {doc.get('format')!r}, "
                           f"expected {FORMAT!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ReleaseError(f"{file}: release format version {version!r} is not one this version reads "
                           f"(up to {FORMAT_VERSION})")
    rows = doc.get("insights")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("dimension"), str)
                                             and isinstance(r.get("group"), str) for r in rows):
        raise ReleaseError(f"{file}: the release's `insights` is not a list of rows with a dimension and group")
    rules, note = None, ""
    rules_path = file.parent / RULES_FILE
    if rules_path.is_file():
        found = _read_json(rules_path, "best-practice rules")
        if found.get("format") != RULES_FORMAT or not isinstance(found.get("rules"), list):
            note = f"{rules_path} is not a best-practice rules file; no practices shown"
        elif found.get("release_id") != doc.get("release_id"):
            note = (f"{rules_path} belongs to release {found.get('release_id')}, not {doc.get('release_id')}; "
                    "no practices shown")
        else:
            rules = found
    else:
        note = f"no {RULES_FILE} beside {file}; no practices shown"
    return LoadedRelease(path=file, document=doc, rules=rules, rules_note=note)


# The Policy's duration caps, by the (dimension, metric) whose upper value bound they are.
CAPS = {"duration_cap_seconds": ("agent", "duration_seconds"),
        "workflow_duration_cap_seconds": ("workflow", "duration_seconds")}


def release_policy(document: dict) -> Policy:
    """The value bounds the release used (its duration caps), and every group and reason a project has."""
    bounds = (document.get("privacy") or {}).get("contribution_bounds") or {}
    caps = {}
    for field_name, (dimension, metric) in CAPS.items():
        try:
            cap = float(bounds[dimension]["metrics"][metric]["value_bounds"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if math.isfinite(cap) and cap > 0:
            caps[field_name] = cap
    return Policy(max_groups=ALL, max_failure_reasons=ALL, **caps)


# --- the project's own values -------------------------------------------------------------------


def export_tables(export_dir: Path) -> dict[str, pd.DataFrame]:
    """The release's tables from a published export's Parquet files (a missing one is empty)."""
    tables_dir = Path(export_dir) / "tables"
    if not tables_dir.is_dir():
        raise ExportUnusable(f"{export_dir}: the export has no Parquet tables (it was written with --format "
                             "json); export again with --format parquet or both")
    out = {}
    for table in RELEASE_TABLES:
        path = tables_dir / f"{table}.parquet"
        if not path.is_file():
            out[table] = plain(empty_frame(ANONYMIZED[table]))
            continue
        try:
            out[table] = read_arrow_frame(path)
        except (OSError, pa.ArrowException) as exc:
            reason = os_words(exc) if isinstance(exc, OSError) and exc.errno else str(exc).split(". ")[0]
            raise ExportUnusable(f"{path}: cannot read this table ({reason}); the export is damaged: "
                                 f"`learning validate {export_dir}` lists what else is wrong; export again") from None
    return out


@dataclass(frozen=True)
class Own:
    value: float
    rows: int  # the project's rows behind the value


def project_values(tables: Mapping[str, pd.DataFrame], policy: Policy
                   ) -> tuple[dict[tuple[str, str], dict[str, Own]], dict[str, int]]:
    """The project's own contribution to every mean the release publishes, and its failure reasons.

    Returns ({(dimension, metric): {group: Own}}, {reason: rows}); computed by the release's SQL.
    """
    frames = {t: tables[t].assign(project=SELF) for t in RELEASE_TABLES}
    values: dict[tuple[str, str], dict[str, Own]] = {}
    with connect(frames, RELEASE_TABLES) as con:
        for dim in dimensions(policy):
            found = con.execute(f'SELECT * FROM ({contributions_sql(dim, policy)})').df()
            for m in dim.metrics:
                values[(dim.name, m.name)] = {g: Own(float(v), int(n))
                                              for g, v, n in zip(found["group"], found[m.name], found["rows"])}
        shares = dict(con.execute(f"SELECT outcome, share FROM ({OUTCOME_SHARES_SQL})").fetchall())
        tasks = len(frames["task_memories"])
        # a project with tasks contributes its whole share vector: an outcome it never had counts as 0
        values[(OUTCOME_DIMENSION, "share")] = ({g: Own(float(shares.get(g, 0.0)), tasks) for g in OUTCOME_VOCABULARY}
                                             if tasks else {})
        reasons = {g: int(n) for g, n in con.execute(
            f'SELECT "group", "rows" FROM ({reason_contributions_sql(policy)})').fetchall()}
    return values, reasons


# --- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One group of one metric: the project's own value beside the pool's, with the release's uncertainty."""

    dimension: str
    metric: str
    group: str
    unit: str
    project: float | None      # the project's own value (the release's definition); None: no data here
    project_rows: int | None
    pool: float | None         # the release's value; None: the group is not in the release
    ci_low: float | None
    ci_high: float | None
    noise_sd: float | None     # the standard deviation of the release's DP noise on `pool`
    projects: int | None       # the release's (noisy) number of projects behind `pool`
    position: str              # below / within / above the pool's interval, or why there is no comparison
    higher_is_better: bool | None

    @property
    def behind(self) -> bool:
        """On the worse side of the pool's interval (below it where higher is better, above where lower is)."""
        if self.higher_is_better is None:
            return False
        return self.position == (BELOW if self.higher_is_better else ABOVE)

    @property
    def difference(self) -> float | None:
        return None if self.project is None or self.pool is None else self.project - self.pool


@dataclass
class Practice:
    """A best-practice rule of the release for a group the project has, with the project's own value."""

    rank: int
    dimension: str
    group: str
    metric: str
    direction: str           # prefer / avoid
    supported: bool          # its interval excludes no effect
    rule: str
    project: float | None    # the project's value of the rule's metric for that group


@dataclass
class Comparison:
    export_id: str
    export_dir: str
    release_id: str
    release_path: str
    release_created_at: str | None
    confidence: float | None
    epsilon: float | None
    k: int | None
    rows: list[Row]
    reasons: list[dict]      # failure reasons the release publishes that the project has too
    practices: list[Practice]
    rules_note: str = ""
    dimensions: list[str] = field(default_factory=list)  # what the release publishes, in its order

    @property
    def behind(self) -> list[Row]:
        return [r for r in self.rows if r.behind]

    @property
    def compared(self) -> list[Row]:
        return [r for r in self.rows if r.position in (BELOW, WITHIN, ABOVE)]

    def summary(self) -> dict:
        return {"export_id": self.export_id, "release_id": self.release_id, "compared": len(self.compared),
                "below": sum(r.position == BELOW for r in self.rows),
                "above": sum(r.position == ABOVE for r in self.rows), "behind": len(self.behind),
                "practices": len(self.practices), "shared_failure_reasons": len(self.reasons)}


def _num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _better(dimension: str, metric: str, group: str) -> bool | None:
    if dimension == OUTCOME_DIMENSION:
        return OUTCOME_BETTER.get(group)
    return HIGHER_IS_BETTER.get(metric)


def _position(own: float, lo: float | None, hi: float | None, value: float) -> str:
    lo = value if lo is None else lo
    hi = value if hi is None else hi
    return BELOW if own < lo else ABOVE if own > hi else WITHIN


def _read_id(export_dir: Path) -> str:
    try:
        manifest = json.loads((export_dir / "manifest.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        manifest = {}
    return str(manifest.get("export_id") or export_dir.name) if isinstance(manifest, dict) else export_dir.name


def compare(export_dir: Path, release: LoadedRelease) -> Comparison:
    """The project's export beside the release: every published mean, the project's extra groups, practices."""
    export_dir = Path(export_dir)
    doc = release.document
    own, reasons = project_values(export_tables(export_dir), release_policy(doc))
    units = {(d.name, m.name): m.unit for d in dimensions(Policy()) for m in d.metrics}
    units[(OUTCOME_DIMENSION, "share")] = "rate"

    rows: list[Row] = []
    published: set[tuple[str, str, str]] = set()
    shown: list[str] = []
    shared_reasons = []
    for r in doc["insights"]:
        dimension, group, metric = r["dimension"], r["group"], str(r.get("metric", ""))
        if dimension not in shown:
            shown.append(dimension)
        if dimension == REASON_SLOT:
            if group in reasons:
                shared_reasons.append({"reason": group, "projects": r.get("projects"), "ci_low": _num(r.get("ci_low")),
                                       "ci_high": _num(r.get("ci_high")), "rows": reasons[group]})
            continue
        value = _num(r.get("value"))
        if value is None:
            continue  # a count, not a mean: nothing of the project's to set beside it
        published.add((dimension, metric, group))
        mine = own.get((dimension, metric), {}).get(group)
        lo, hi = _num(r.get("ci_low")), _num(r.get("ci_high"))
        rows.append(Row(dimension, metric, group, str(r.get("unit") or units.get((dimension, metric), "")),
                        None if mine is None else mine.value, None if mine is None else mine.rows, value, lo, hi,
                        _num(r.get("noise_sd")), r.get("projects") if isinstance(r.get("projects"), int) else None,
                        NO_DATA if mine is None else _position(mine.value, lo, hi, value),
                        _better(dimension, metric, group)))
    # the project's groups the release does not publish (fewer than k projects), for the dimensions it has
    for (dimension, metric), groups in own.items():
        if dimension not in shown:
            continue
        for group, mine in sorted(groups.items()):
            if (dimension, metric, group) not in published and not (dimension == OUTCOME_DIMENSION and mine.value == 0):
                rows.append(Row(dimension, metric, group, units.get((dimension, metric), ""), mine.value, mine.rows,
                                None, None, None, None, None, NOT_PUBLISHED, _better(dimension, metric, group)))
    order = {d: i for i, d in enumerate(shown)}
    metrics = {key: i for i, key in enumerate(own)}
    rows.sort(key=lambda x: (order[x.dimension], metrics.get((x.dimension, x.metric), len(metrics)), x.metric,
                             x.pool is None, x.group))

    practices = []
    for rule in (release.rules or {}).get("rules", []):
        if not isinstance(rule, dict):
            continue
        dimension, group, metric = rule.get("dimension"), rule.get("group"), rule.get("metric")
        has = any(group in groups for (d, _), groups in own.items() if d == dimension)
        if not has:
            continue
        mine = own.get((dimension, metric), {}).get(group)
        practices.append(Practice(int(rule.get("rank", len(practices) + 1)), str(dimension), str(group),
                                  str(metric), str(rule.get("direction", "")), bool(rule.get("supported")),
                                  str(rule.get("rule", "")), None if mine is None else mine.value))
    privacy = doc.get("privacy") or {}
    return Comparison(
        export_id=_read_id(export_dir), export_dir=str(export_dir), release_id=str(doc.get("release_id", "")),
        release_path=str(release.path), release_created_at=doc.get("created_at"),
        confidence=_num(privacy.get("confidence")), epsilon=_num(privacy.get("epsilon_budget")),
        k=privacy.get("k") if isinstance(privacy.get("k"), int) else None, rows=rows, reasons=shared_reasons,
        practices=practices, rules_note=release.rules_note, dimensions=shown)
