"""The project owner's learning metrics, computed from a published export's Parquet tables.

One computation (`build`) and three renderings of it: rich tables for the terminal (`learning
dashboard`), markdown for the `learning_dashboard` asset's metadata in the Dagster UI, and a
self-contained HTML report with inline SVG charts (`learning dashboard --html FILE`; no scripts, no
network). The numbers come from the export; with `names` (`reports.names`, built on the owner's machine
from the source and the key) capabilities, agents, workflows and steps are shown by their own names, not
their pseudonyms. The dashboard is for the owner only: it is never written into an export or a
submission package, and its HTML says so.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.markup import escape
from rich.table import Table

from learning_assets.errors import UserError, os_words
from learning_assets.reports.names import Names

SPARKS = "▁▂▃▄▅▆▇█"
BAR = "█"
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"]


class NoExport(UserError, FileNotFoundError):
    """There is no published export (or it has no Parquet tables) to show."""


class DamagedExport(UserError):
    """A file of the export cannot be read; names it."""


@dataclass
class Dashboard:
    export_id: str
    created_at: str | None
    schema_version: str | None
    table_rows: dict[str, int]
    capabilities: pd.DataFrame  # capability_id, agent_id, success_rate, quality, usage, refinements, trend, delta
    capability_days: pd.DataFrame  # day, success_rate (mean after refinement), refinements
    patterns: pd.DataFrame  # pattern_id, pattern_type, usage_count, success_rate, quality_score, anti
    agent_days: pd.DataFrame  # day, executions, success_rate, average_duration
    agents: pd.DataFrame  # agent_id, executions, success_rate, average_duration, trend
    agent_series: dict[str, list[float | None]] = field(default_factory=dict)  # per agent, per day
    task_outcomes: dict[str, int] = field(default_factory=dict)
    days: list[str] = field(default_factory=list)
    agent_durations: dict[str, list[float | None]] = field(default_factory=dict)  # per agent, per day (s)
    refinement_days: list[str] = field(default_factory=list)
    capability_series: dict[str, list[float | None]] = field(default_factory=dict)  # success after refinement
    capability_durations: dict[str, list[float | None]] = field(default_factory=dict)  # duration after refinement
    workflows: pd.DataFrame = field(default_factory=pd.DataFrame)  # workflow, runs, success_rate, average_duration
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)  # step, runs, success_rate, average_seconds, failed
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)  # where, reason, count
    named: int = 0  # pseudonyms mapped back to the owner's names (0: shown as exported)

    @property
    def empty(self) -> bool:
        return not any(self.table_rows.values())


# --- reading and computing -----------------------------------------------------------------

# The columns each shown table needs: only these are read, so the dashboard's cost does not grow
# with the width of the export's free-text columns.
COLUMNS = {
    "capabilities": ["capability_id", "agent_id", "success_rate", "quality_score", "usage_count", "refinement_count"],
    "capability_refinements": ["capability_id", "position", "timestamp", "before_success_rate",
                               "after_success_rate", "after_average_duration"],
    "patterns": ["pattern_id", "pattern_type", "usage_count", "success_rate", "quality_score", "is_anti_pattern",
                 "failure_reasons"],
    "agent_executions": ["agent_id", "duration", "success", "timestamp"],
    "task_memories": ["outcome"],
    "workflow_executions": ["workflow_name", "duration", "success", "timestamp"],
    "step_executions": ["step_id", "status", "duration_ms", "error_message"],
}
FAILED_STATUSES = ("failed", "failure", "error", "timeout", "cancelled")


def load_tables(export_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """The shown tables (their needed columns only) and the row count of every table."""
    tables_dir = Path(export_dir) / "tables"
    if not tables_dir.is_dir():
        raise NoExport(f"{export_dir}: the export has no Parquet tables (it was written with --format json)")
    tables, rows = {}, {}
    for path in sorted(tables_dir.glob("*.parquet")):
        try:
            parquet = pq.ParquetFile(path)
            rows[path.stem] = parquet.metadata.num_rows
            if path.stem in COLUMNS:
                present = set(parquet.schema_arrow.names)
                tables[path.stem] = parquet.read(columns=[c for c in COLUMNS[path.stem] if c in present]).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            reason = os_words(exc) if isinstance(exc, OSError) and exc.errno else str(exc).split(". ")[0]
            raise DamagedExport(f"{path}: cannot read this table ({reason}); the export is damaged: "
                                f"`learning validate {export_dir}` lists what else is wrong; export again") from None
    return tables, rows


def _frame(tables: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    df = tables.get(name)
    return pd.DataFrame(columns=COLUMNS[name]) if df is None else df


def _day(series: pd.Series) -> pd.Series:
    """YYYY-MM-DD labels; formatted once per distinct day (strftime per row is slow at a million rows)."""
    days = pd.to_datetime(series, utc=True)
    return days.map({d: d.strftime("%Y-%m-%d") for d in days.dropna().unique()})


def _mean(series: pd.Series) -> float | None:
    s = pd.to_numeric(series, errors="coerce").dropna()
    return None if s.empty else float(s.mean())


def sparkline(values: list[float | None], lo: float | None = None, hi: float | None = None) -> str:
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return ""
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = (hi - lo) or 1.0
    out = []
    for v in values:
        if v is None or math.isnan(v):
            out.append(" ")
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, max(0, int((v - lo) / span * (len(SPARKS) - 1) + 0.5)))])
    return "".join(out)


def bar(value: float | None, width: int = 20, hi: float = 1.0) -> str:
    if value is None or math.isnan(value) or hi <= 0:
        return ""
    eighths = int(round(max(0.0, min(value / hi, 1.0)) * width * 8))
    full, part = divmod(eighths, 8)
    return BAR * full + ("" if part == 0 else "▏▎▍▌▋▊▉"[part - 1])


def _per_day(df: pd.DataFrame, key: str, value: str, days: list[str]) -> dict[str, list[float | None]]:
    """Mean of `value` per `key` and day (`day` column), one list per key over `days`."""
    if not len(df):
        return {}
    per = df.groupby([key, "day"])[value].mean().unstack("day").reindex(columns=days)
    return {str(k): [None if pd.isna(v) else float(v) for v in row] for k, row in per.iterrows()}


def _workflows(df: pd.DataFrame) -> pd.DataFrame:
    columns = ["workflow", "runs", "success_rate", "average_duration"]
    if not len(df):
        return pd.DataFrame(columns=columns)
    g = df.assign(ok=df["success"].astype("float")).groupby("workflow_name")
    out = pd.DataFrame({"runs": g.size(), "success_rate": g["ok"].mean(), "average_duration": g["duration"].mean()})
    out = out.reset_index().rename(columns={"workflow_name": "workflow"})
    return out.sort_values(["runs", "workflow"], ascending=[False, True]).reset_index(drop=True)[columns]


def _steps(df: pd.DataFrame) -> pd.DataFrame:
    columns = ["step", "runs", "success_rate", "average_seconds", "failed"]
    if not len(df):
        return pd.DataFrame(columns=columns)
    status = df["status"].astype("string").str.lower()
    a = df.assign(ok=(status == "success").astype("float"), bad=status.isin(FAILED_STATUSES).astype("int"),
                  seconds=pd.to_numeric(df["duration_ms"], errors="coerce") / 1000)
    g = a.groupby("step_id")
    out = pd.DataFrame({"runs": g.size(), "success_rate": g["ok"].mean(), "average_seconds": g["seconds"].mean(),
                        "failed": g["bad"].sum()}).reset_index().rename(columns={"step_id": "step"})
    return out.sort_values(["runs", "step"], ascending=[False, True]).reset_index(drop=True)[columns]


def _failures(steps: pd.DataFrame, workflows: pd.DataFrame, patterns: pd.DataFrame, top: int) -> pd.DataFrame:
    """Why things failed, most frequent first: step errors, failed workflows, patterns' failure reasons."""
    rows: list[dict] = []
    if len(steps):
        status = steps["status"].astype("string").str.lower()
        bad = steps[status.isin(FAILED_STATUSES).fillna(False)]
        for (step, reason), n in bad.groupby(["step_id", bad["error_message"].fillna("(no message)")]).size().items():
            rows.append({"where": f"step {step}", "reason": str(reason), "count": int(n)})
    if len(workflows):
        failed = workflows[workflows["success"].eq(False).fillna(False)]
        for name, n in failed.groupby("workflow_name").size().items():
            rows.append({"where": f"workflow {name}", "reason": "workflow did not succeed", "count": int(n)})
    if len(patterns) and "failure_reasons" in patterns:
        for pid, reasons in zip(patterns["pattern_id"], patterns["failure_reasons"]):
            for reason in (list(reasons) if reasons is not None and not isinstance(reasons, str) else []):
                rows.append({"where": f"pattern {pid}", "reason": str(reason), "count": 1})
    out = pd.DataFrame(rows, columns=["where", "reason", "count"])
    if len(out):
        out = out.groupby(["where", "reason"], as_index=False)["count"].sum()
        out = out.sort_values(["count", "where"], ascending=[False, True]).head(top)
    return out.reset_index(drop=True)


def build(export_dir: Path, top: int = 10, names: Names | None = None) -> Dashboard:
    """Everything the dashboard shows, from the export in `export_dir`; with `names`, by the owner's names."""
    export_dir = Path(export_dir)
    tables, table_rows = load_tables(export_dir)
    if names:
        tables = {name: names.frame(df) for name, df in tables.items()}
    try:
        manifest = json.loads((export_dir / "manifest.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        manifest = {}
    manifest = manifest if isinstance(manifest, dict) else {}

    caps = _frame(tables, "capabilities")
    refs = _frame(tables, "capability_refinements")
    pats = _frame(tables, "patterns")
    agents = _frame(tables, "agent_executions")
    tasks = _frame(tables, "task_memories")

    # capabilities: the most used, with the course of their success rate over the refinement history
    top_caps = caps.sort_values(["usage_count", "capability_id"], ascending=[False, True],
                                na_position="last").head(top)
    trends: dict[str, list[float | None]] = {}
    shown = refs[refs["capability_id"].isin(top_caps["capability_id"])]
    if len(shown):
        ordered = shown.sort_values(["capability_id", "timestamp", "position"], na_position="first")
        for cap, g in ordered.groupby("capability_id"):
            series = [g["before_success_rate"].iloc[0], *g["after_success_rate"]]
            trends[cap] = [None if pd.isna(v) else float(v) for v in series]
    cap_rows = []
    for r in top_caps.to_dict("records"):
        trend = trends.get(r["capability_id"], [])
        present = [v for v in trend if v is not None]
        cap_rows.append({
            "capability_id": r["capability_id"], "agent_id": r.get("agent_id"),
            "success_rate": None if pd.isna(r["success_rate"]) else float(r["success_rate"]),
            "quality_score": None if pd.isna(r["quality_score"]) else float(r["quality_score"]),
            "usage_count": 0 if pd.isna(r["usage_count"]) else int(r["usage_count"]),
            "refinements": 0 if pd.isna(r.get("refinement_count")) else int(r.get("refinement_count")),
            "trend": sparkline(trend, 0.0, 1.0),
            "delta": (present[-1] - present[0]) if len(present) >= 2 else None,
        })
    cap_df = pd.DataFrame(cap_rows, columns=["capability_id", "agent_id", "success_rate", "quality_score",
                                             "usage_count", "refinements", "trend", "delta"])
    refinement_days: list[str] = []
    cap_series, cap_durations = {}, {}
    if len(refs):
        dated = refs.assign(day=_day(refs["timestamp"])).dropna(subset=["day"])
        by_day = dated.groupby("day")
        cap_days = pd.DataFrame({"success_rate": by_day["after_success_rate"].mean(),
                                 "refinements": by_day.size()}).reset_index()
        refinement_days = sorted(dated["day"].unique())
        shown_caps = dated[dated["capability_id"].isin(top_caps["capability_id"])]
        cap_series = _per_day(shown_caps, "capability_id", "after_success_rate", refinement_days)
        if "after_average_duration" in dated:
            cap_durations = _per_day(shown_caps, "capability_id", "after_average_duration", refinement_days)
    else:
        cap_days = pd.DataFrame(columns=["day", "success_rate", "refinements"])

    # top patterns by use
    pat_df = pats[[c for c in ["pattern_id", "pattern_type", "usage_count", "success_rate", "quality_score",
                               "is_anti_pattern"] if c in pats.columns]].copy()
    if len(pat_df):
        pat_df = pat_df.sort_values(["usage_count", "pattern_id"], ascending=[False, True],
                                    na_position="last").head(top)

    # agents: per day, and per agent with a daily success-rate trend
    days: list[str] = []
    agent_series: dict[str, list[float | None]] = {}
    agent_durations: dict[str, list[float | None]] = {}
    if len(agents):
        a = agents.assign(day=_day(agents["timestamp"]), ok=agents["success"].astype("float"))
        a = a.dropna(subset=["day"])
        days = sorted(a["day"].unique())
        g = a.groupby("day")
        agent_days = pd.DataFrame({"executions": g.size(), "success_rate": g["ok"].mean(),
                                   "average_duration": g["duration"].mean()}).reindex(days).reset_index()
        agent_days = agent_days.rename(columns={"index": "day"})
        per = a.groupby(["agent_id", "day"])["ok"].mean().unstack("day").reindex(columns=days)
        agent_series = {str(k): [None if pd.isna(v) else float(v) for v in row] for k, row in per.iterrows()}
        agent_durations = _per_day(a, "agent_id", "duration", days)
        ga = a.groupby("agent_id")
        agent_df = pd.DataFrame({"executions": ga.size(), "success_rate": ga["ok"].mean(),
                                 "average_duration": ga["duration"].mean()}).reset_index()
        agent_df["trend"] = agent_df["agent_id"].map(lambda x: sparkline(agent_series.get(str(x), []), 0.0, 1.0))
        agent_df = agent_df.sort_values(["executions", "agent_id"], ascending=[False, True])
    else:
        agent_days = pd.DataFrame(columns=["day", "executions", "success_rate", "average_duration"])
        agent_df = pd.DataFrame(columns=["agent_id", "executions", "success_rate", "average_duration", "trend"])

    outcomes = {str(k): int(v) for k, v in tasks["outcome"].value_counts().sort_index().items()} \
        if "outcome" in tasks.columns and len(tasks) else {}
    return Dashboard(
        export_id=manifest.get("export_id") or export_dir.name, created_at=manifest.get("created_at"),
        schema_version=manifest.get("schema_version"),
        table_rows=table_rows,
        capabilities=cap_df.reset_index(drop=True), capability_days=cap_days, patterns=pat_df.reset_index(drop=True),
        agent_days=agent_days, agents=agent_df.reset_index(drop=True), agent_series=agent_series,
        task_outcomes=outcomes, days=days, agent_durations=agent_durations, refinement_days=refinement_days,
        capability_series=cap_series, capability_durations=cap_durations,
        workflows=_workflows(_frame(tables, "workflow_executions")).head(top),
        steps=_steps(_frame(tables, "step_executions")).head(top),
        failures=_failures(_frame(tables, "step_executions"), _frame(tables, "workflow_executions"), pats, top),
        named=len(names) if names else 0)


# --- formatting helpers --------------------------------------------------------------------

LOCAL_NOTE = ("For this project's owner only: it stays on this machine and is never part of an export or a "
              "submission package.")


def names_note(dash: Dashboard) -> str:
    if dash.named:
        return ("Capabilities, agents, workflows and steps are shown by their names in the source (mapped back "
                "from the export's pseudonyms on this machine). " + LOCAL_NOTE)
    return ("Names are shown as exported (pseudonyms): the source or the anonymization key was not available "
            "to map them back. " + LOCAL_NOTE)


def _workflow_rows(dash: Dashboard) -> list[list[str]]:
    return [[str(r["workflow"]), f"{int(r['runs']):,}", pct(r["success_rate"]), num(r["average_duration"], 1)]
            for _, r in dash.workflows.iterrows()]


def _step_rows(dash: Dashboard) -> list[list[str]]:
    return [[str(r["step"]), f"{int(r['runs']):,}", pct(r["success_rate"]), num(r["average_seconds"], 1),
             f"{int(r['failed']):,}"] for _, r in dash.steps.iterrows()]


def _failure_rows(dash: Dashboard) -> list[list[str]]:
    return [[str(r["where"]), str(r["reason"]), f"{int(r['count']):,}"] for _, r in dash.failures.iterrows()]


def pct(v) -> str:
    return "" if v is None or pd.isna(v) else f"{100 * float(v):.0f}%"


def num(v, digits: int = 2) -> str:
    if v is None or pd.isna(v):
        return ""
    return f"{float(v):,.{digits}f}"


def signed_pct(v) -> str:
    return "" if v is None or pd.isna(v) else f"{100 * float(v):+.0f} pts"


# --- terminal ------------------------------------------------------------------------------

def render_terminal(dash: Dashboard, console) -> None:

    console.print(f"[bold]Learning dashboard[/bold] — export {dash.export_id}"
                  f"{' of ' + dash.created_at if dash.created_at else ''}"
                  f" (schema {dash.schema_version or '?'})", highlight=False)
    rows = ", ".join(f"{n} {r:,}" for n, r in dash.table_rows.items() if r)
    console.print(f"rows: {rows or 'none'}", highlight=False)
    console.print(f"[dim]{names_note(dash)}[/dim]", highlight=False)

    t = Table(title="Capabilities (top by usage)", title_justify="left")
    for col, kw in [("capability", {}), ("agent", {}), ("success", {"justify": "right"}), ("", {}),
                    ("quality", {"justify": "right"}), ("uses", {"justify": "right"}),
                    ("trend", {}), ("change", {"justify": "right"})]:
        t.add_column(col, **kw)
    for _, r in dash.capabilities.iterrows():
        t.add_row(str(r["capability_id"]), str(r["agent_id"] or ""), pct(r["success_rate"]),
                  f"[green]{bar(r['success_rate'], 12)}[/green]", num(r["quality_score"]),
                  f"{r['usage_count']:,}", r["trend"], signed_pct(r["delta"]))
    console.print(t if len(dash.capabilities) else "[dim]no capabilities in this export[/dim]")

    if len(dash.capability_days):
        series = [None if pd.isna(v) else float(v) for v in dash.capability_days["success_rate"]]
        console.print(f"capability success rate after refinements, per day "
                      f"({dash.capability_days['day'].iloc[0]} … {dash.capability_days['day'].iloc[-1]}): "
                      f"{sparkline(series, 0.0, 1.0)} latest {pct(series[-1])}", highlight=False)

    t = Table(title="Top patterns", title_justify="left")
    for col, kw in [("pattern", {}), ("type", {}), ("uses", {"justify": "right"}),
                    ("success", {"justify": "right"}), ("quality", {"justify": "right"}), ("anti", {})]:
        t.add_column(col, **kw)
    for _, r in dash.patterns.iterrows():
        t.add_row(str(r["pattern_id"]), str(r.get("pattern_type") or ""),
                  "" if pd.isna(r["usage_count"]) else f"{int(r['usage_count']):,}",
                  pct(r.get("success_rate")), num(r.get("quality_score")),
                  "yes" if r.get("is_anti_pattern") is True else "")
    console.print(t if len(dash.patterns) else "[dim]no patterns in this export[/dim]")

    t = Table(title="Agents", title_justify="left")
    for col, kw in [("agent", {}), ("runs", {"justify": "right"}), ("success", {"justify": "right"}),
                    ("avg s", {"justify": "right"}), ("success per day", {})]:
        t.add_column(col, **kw)
    for _, r in dash.agents.iterrows():
        t.add_row(str(r["agent_id"]), f"{int(r['executions']):,}", pct(r["success_rate"]),
                  num(r["average_duration"], 1), r["trend"])
    console.print(t if len(dash.agents) else "[dim]no agent executions in this export[/dim]")

    if len(dash.agent_days):
        t = Table(title="Agent executions per day", title_justify="left")
        for col, kw in [("day", {}), ("runs", {"justify": "right"}), ("success", {"justify": "right"}),
                        ("", {}), ("avg s", {"justify": "right"})]:
            t.add_column(col, **kw)
        shown = dash.agent_days.tail(14)
        for _, r in shown.iterrows():
            t.add_row(r["day"], f"{int(r['executions']):,}", pct(r["success_rate"]),
                      f"[green]{bar(r['success_rate'], 12)}[/green]", num(r["average_duration"], 1))
        if len(dash.agent_days) > len(shown):
            t.caption = f"last {len(shown)} of {len(dash.agent_days)} days"
        console.print(t)
    for title, headers, rows in [
            ("Workflows", ["workflow", "runs", "success", "avg s"], _workflow_rows(dash)),
            ("Steps", ["step", "runs", "success", "avg s", "failed"], _step_rows(dash)),
            ("Failure reasons (as exported: scrubbed text)", ["where", "reason", "count"], _failure_rows(dash))]:
        if rows:
            t = Table(title=title, title_justify="left")
            for h in headers:
                t.add_column(h, justify="right" if h in ("runs", "success", "avg s", "failed", "count") else "left")
            for row in rows:
                t.add_row(*(escape(c) for c in row))
            console.print(t)
    if dash.task_outcomes:
        total = sum(dash.task_outcomes.values())
        console.print("task outcomes: " + ", ".join(f"{k} {v:,} ({100 * v / total:.0f}%)"
                                                    for k, v in dash.task_outcomes.items()), highlight=False)


# --- markdown (Dagster UI) -----------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(dash: Dashboard) -> dict[str, str]:
    """Markdown sections (tables with unicode bar and sparkline charts) for asset metadata."""
    out = {}
    out["capabilities"] = _md_table(
        ["capability", "agent", "success", "chart", "quality", "uses", "trend", "change"],
        [[r["capability_id"], r["agent_id"] or "", pct(r["success_rate"]), f"`{bar(r['success_rate'], 12)}`",
          num(r["quality_score"]), f"{r['usage_count']:,}", f"`{r['trend']}`" if r["trend"] else "",
          signed_pct(r["delta"])] for _, r in dash.capabilities.iterrows()]) \
        if len(dash.capabilities) else "_no capabilities_"
    out["top_patterns"] = _md_table(
        ["pattern", "type", "uses", "success", "quality"],
        [[r["pattern_id"], r.get("pattern_type") or "",
          "" if pd.isna(r["usage_count"]) else f"{int(r['usage_count']):,}", pct(r.get("success_rate")),
          num(r.get("quality_score"))] for _, r in dash.patterns.iterrows()]) \
        if len(dash.patterns) else "_no patterns_"
    out["agents"] = _md_table(
        ["agent", "runs", "success", "avg s", "success per day"],
        [[r["agent_id"], f"{int(r['executions']):,}", pct(r["success_rate"]), num(r["average_duration"], 1),
          f"`{r['trend']}`"] for _, r in dash.agents.iterrows()]) if len(dash.agents) else "_no agent executions_"
    out["agents_per_day"] = _md_table(
        ["day", "runs", "success", "chart", "avg s"],
        [[r["day"], f"{int(r['executions']):,}", pct(r["success_rate"]), f"`{bar(r['success_rate'], 12)}`",
          num(r["average_duration"], 1)] for _, r in dash.agent_days.iterrows()]) \
        if len(dash.agent_days) else "_no agent executions_"
    out["workflows"] = _md_table(["workflow", "runs", "success", "avg s"], _workflow_rows(dash)) \
        if len(dash.workflows) else "_no workflow executions_"
    out["steps"] = _md_table(["step", "runs", "success", "avg s", "failed"], _step_rows(dash)) \
        if len(dash.steps) else "_no step executions_"
    out["failure_reasons"] = _md_table(["where", "reason", "count"], _failure_rows(dash)) \
        if len(dash.failures) else "_no failures_"
    out["names"] = names_note(dash)
    return out


# --- HTML with inline SVG ------------------------------------------------------------------

def _esc(v) -> str:
    return html.escape(str(v), quote=True)


def svg_bars(labels: list[str], values: list[float | None], *, hi: float | None = None, fmt=pct,
             width: int = 720, title: str = "") -> str:
    """Horizontal bar chart."""
    row, label_w, pad = 22, 220, 8
    present = [v for v in values if v is not None and not pd.isna(v)]
    hi = hi if hi is not None else (max(present) if present else 1.0) or 1.0
    height = pad * 2 + row * max(1, len(labels))
    plot_w = width - label_w - 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{_esc(title)}</title>']
    for i, (label, v) in enumerate(zip(labels, values)):
        y = pad + i * row
        text = label if len(label) <= 30 else label[:29] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="lbl">{_esc(text)}</text>')
        if v is not None and not pd.isna(v):
            w = max(1.0, plot_w * max(0.0, float(v)) / hi)
            parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                         f'fill="{PALETTE[0]}"><title>{_esc(label)}: {_esc(fmt(v))}</title></rect>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" class="val">{_esc(fmt(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_lines(x_labels: list[str], series: dict[str, list[float | None]], *, lo: float = 0.0,
              hi: float | None = None, fmt=pct, width: int = 720, height: int = 260, title: str = "") -> str:
    """Line chart over days, one line per series, with axes and a legend."""
    left, right, top, bottom = 56, 40, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    allv = [v for s in series.values() for v in s if v is not None and not pd.isna(v)]
    if hi is None:
        hi = max(allv) if allv else 1.0
        hi = hi * 1.1 if hi > 0 else 1.0
    n = max(1, len(x_labels) - 1)

    def x(i):
        return left + plot_w * (i / n if len(x_labels) > 1 else 0.5)

    def y(v):
        return top + plot_h * (1 - (float(v) - lo) / ((hi - lo) or 1.0))

    legend_h = 18 * ((len(series) + 3) // 4)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height + legend_h}" '
             f'viewBox="0 0 {width} {height + legend_h}"><title>{_esc(title)}</title>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="val">{_esc(fmt(v))}</text>')
    step = max(1, math.ceil(len(x_labels) / 8))
    for i, lab in enumerate(x_labels):
        if i % step == 0 or i == len(x_labels) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'class="val">{_esc(lab)}</text>')
    for j, (name, values) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        segment: list[str] = []
        segments = []
        for i, v in enumerate(values):
            if v is None or pd.isna(v):
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                         f'<title>{_esc(name)} {_esc(x_labels[i])}: {_esc(fmt(v))}</title></circle>')
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
        lx, ly = left + (j % 4) * (plot_w / 4), height + 14 * 0 + 18 * (j // 4)
        label = name if len(name) <= 24 else name[:23] + "…"
        parts.append(f'<rect x="{lx:.1f}" y="{ly:.1f}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{lx + 14:.1f}" y="{ly + 9:.1f}" class="val">{_esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:60rem;color:#222;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}.meta{color:#666;font-size:.9rem}svg{max-width:100%;height:auto}
svg .lbl,svg .val{font-size:11px;fill:#333;font-family:inherit}svg .grid{stroke:#e5e5e5;stroke-width:1}
.local{background:#fff4e5;border:1px solid #f0c36d;padding:.5rem 1rem}
"""


def render_html(dash: Dashboard) -> str:
    """A self-contained HTML report: inline CSS and SVG only, no scripts and no external resources."""
    caps = dash.capabilities
    sections = [
        f"<h1>Learning dashboard</h1><p class=meta>Export {_esc(dash.export_id)}"
        f"{' created ' + _esc(dash.created_at) if dash.created_at else ''}, schema {_esc(dash.schema_version)}."
        f" Days are UTC.</p><p class=local id=local-only>{_esc(names_note(dash))} Do not share this file.</p>",
        _html_table(["table", "rows"], [[n, f"{r:,}"] for n, r in dash.table_rows.items()]),
        "<h2>Capability success rates</h2>",
        svg_bars(list(caps["capability_id"].astype(str)), list(caps["success_rate"]), hi=1.0,
                 title="Capability success rates") if len(caps) else "<p>No capabilities.</p>",
    ]
    if len(caps):
        sections.append(_html_table(
            ["capability", "agent", "success", "quality", "uses", "refinements", "trend", "change"],
            [[r["capability_id"], r["agent_id"] or "", pct(r["success_rate"]), num(r["quality_score"]),
              f"{r['usage_count']:,}", str(r["refinements"]), r["trend"], signed_pct(r["delta"])]
             for _, r in caps.iterrows()]))
    if dash.capability_series:
        sections += ["<h2>Capabilities per day</h2>",
                     "<p class=meta>Success rate after each day's refinements, per capability</p>",
                     svg_lines(dash.refinement_days, dash.capability_series, hi=1.0,
                               title="Capability success rate per day"),
                     "<p class=meta>Average duration after each day's refinements, per capability (seconds)</p>",
                     svg_lines(dash.refinement_days, dash.capability_durations, fmt=lambda v: f"{v:,.1f}s",
                               title="Capability duration per day")]
    if len(dash.capability_days):
        sections += ["<h2>Capability success rate after refinements, per day</h2>",
                     svg_lines(list(dash.capability_days["day"]),
                               {"mean success rate": list(dash.capability_days["success_rate"])}, hi=1.0,
                               title="Capability success rate per day")]
    sections.append("<h2>Top patterns</h2>")
    if len(dash.patterns):
        sections += [svg_bars(list(dash.patterns["pattern_id"].astype(str)),
                              [None if pd.isna(v) else float(v) for v in dash.patterns["usage_count"]],
                              fmt=lambda v: f"{int(v):,} uses", title="Top patterns by use"),
                     _html_table(["pattern", "type", "uses", "success", "quality"],
                                 [[r["pattern_id"], r.get("pattern_type") or "",
                                   "" if pd.isna(r["usage_count"]) else f"{int(r['usage_count']):,}",
                                   pct(r.get("success_rate")), num(r.get("quality_score"))]
                                  for _, r in dash.patterns.iterrows()])]
    else:
        sections.append("<p>No patterns.</p>")
    sections.append("<h2>Agents per day</h2>")
    if len(dash.agent_days):
        top_agents = list(dash.agents["agent_id"].astype(str))[:8]
        sections += [
            "<p class=meta>Success rate per day, per agent (top 8 by executions)</p>",
            svg_lines(dash.days, {a: dash.agent_series.get(a, []) for a in top_agents}, hi=1.0,
                      title="Agent success rate per day"),
            "<p class=meta>Average duration per day, per agent (top 8 by executions, seconds)</p>",
            svg_lines(dash.days, {a: dash.agent_durations.get(a, []) for a in top_agents},
                      fmt=lambda v: f"{v:,.1f}s", title="Agent duration per day"),
            _html_table(["agent", "runs", "success", "avg s"],
                        [[r["agent_id"], f"{int(r['executions']):,}", pct(r["success_rate"]),
                          num(r["average_duration"], 1)] for _, r in dash.agents.iterrows()]),
        ]
    else:
        sections.append("<p>No agent executions.</p>")
    if len(dash.workflows):
        sections += ["<h2>Workflows</h2>",
                     svg_bars(list(dash.workflows["workflow"].astype(str)), list(dash.workflows["success_rate"]),
                              hi=1.0, title="Workflow success rates"),
                     _html_table(["workflow", "runs", "success", "avg s"], _workflow_rows(dash))]
    if len(dash.steps):
        sections += ["<h2>Steps</h2>",
                     svg_bars(list(dash.steps["step"].astype(str)), list(dash.steps["success_rate"]), hi=1.0,
                              title="Step success rates"),
                     _html_table(["step", "runs", "success", "avg s", "failed"], _step_rows(dash))]
    sections.append("<h2>Failure reasons</h2>")
    sections.append("<p class=meta>As exported: error text is scrubbed; names are the owner's.</p>"
                    + _html_table(["where", "reason", "count"], _failure_rows(dash))
                    if len(dash.failures) else "<p>No failures.</p>")
    if dash.task_outcomes:
        sections += ["<h2>Task outcomes</h2>",
                     svg_bars(list(dash.task_outcomes), list(dash.task_outcomes.values()),
                              fmt=lambda v: f"{int(v):,}", title="Task outcomes")]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<title>Learning dashboard {_esc(dash.export_id)}</title><style>{CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")
