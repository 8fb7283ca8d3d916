"""The project beside the pool (`insights.compare.Comparison`), rendered three ways: rich tables for the
terminal (`learning insights compare`), markdown for the `insights_comparison` asset's metadata, and a
self-contained HTML report (`--html FILE`; inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

import html

from rich.table import Table

from learning_assets.insights.compare import ABOVE, BELOW, WITHIN, Comparison, Row
from learning_assets.reports.dashboard import CSS

DIMENSIONS = {"capability_type": "Capability types", "pattern_type": "Pattern types", "agent": "Agents",
              "step": "Steps", "workflow": "Workflows", "improvement_type": "Refinement kinds",
              "task_outcome": "Task outcome shares"}
METRICS = {"success_rate": "success rate", "quality_score": "quality score", "duration_seconds": "duration",
           "success_gain": "success gain", "quality_gain": "quality gain", "share": "share"}
COLUMNS = ["group", "metric", "this project", "pool", "interval", "noise sd", "projects", "vs pool"]


def dimension_title(dimension: str) -> str:
    return DIMENSIONS.get(dimension, dimension.replace("_", " ").capitalize())


def value(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "seconds":
        return f"{x:,.1f} s"
    if unit == "difference":
        return f"{100 * x:+.1f} pts"
    if unit == "rate":
        return f"{100 * x:.1f}%"
    return f"{x:.3g}"


def spread(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "seconds":
        return f"{x:,.1f} s"
    return f"{100 * x:.1f} pts" if unit in ("rate", "difference") else f"{x:.3g}"


def interval(r: Row) -> str:
    if r.ci_low is None or r.ci_high is None:
        return "—"
    return f"{value(r.ci_low, r.unit)} … {value(r.ci_high, r.unit)}"


def verdict(r: Row) -> str:
    """Where the project stands, in words: below/within/above the interval, and whether that is worse."""
    if r.position not in (BELOW, WITHIN, ABOVE):
        return r.position
    if r.position == WITHIN:
        return "within"
    if r.higher_is_better is None:
        return r.position
    return f"{r.position} (behind)" if r.behind else f"{r.position} (ahead)"


def cells(r: Row) -> list[str]:
    return [r.group, METRICS.get(r.metric, r.metric), value(r.project, r.unit), value(r.pool, r.unit), interval(r),
            spread(r.noise_sd, r.unit), "—" if r.projects is None else str(r.projects), verdict(r)]


def _by_dimension(c: Comparison) -> list[tuple[str, list[Row]]]:
    return [(d, [r for r in c.rows if r.dimension == d]) for d in c.dimensions if any(r.dimension == d for r in c.rows)]


def headline(c: Comparison) -> str:
    conf = f"{round(c.confidence * 100)}% " if c.confidence else ""
    return (f"Export {c.export_id} beside release {c.release_id}"
            f"{' of ' + c.release_created_at if c.release_created_at else ''}: the project's own value of each "
            f"metric (the release's definition) next to the pool's, with the {conf}interval and the standard "
            f"deviation of the differential-privacy noise"
            f"{f' (epsilon {c.epsilon:g}, groups of at least {c.k} projects)' if c.epsilon and c.k else ''}.")


# --- terminal ----------------------------------------------------------------------------------

def render_terminal(c: Comparison, console) -> None:
    console.print(f"[bold]This project beside the pool[/bold] — {headline(c)}", highlight=False)
    for dimension, rows in _by_dimension(c):
        t = Table(title=dimension_title(dimension), title_justify="left")
        for col in COLUMNS:
            t.add_column(col, justify="right" if col in ("this project", "pool", "noise sd", "projects") else "left")
        for r in rows:
            row = cells(r)
            style = ("red" if r.behind else "green" if r.position in (BELOW, ABOVE)
                     else "" if r.position == WITHIN else "dim")
            row[-1] = f"[{style}]{row[-1]}[/{style}]" if style else row[-1]
            t.add_row(*row)
        console.print(t)
    behind = c.behind
    console.print("[bold]Behind the pool[/bold] (outside the pool's interval, on the worse side):", highlight=False)
    for r in behind:
        console.print(f"  [red]•[/red] {dimension_title(r.dimension)} '{r.group}', "
                      f"{METRICS.get(r.metric, r.metric)}: "
                      f"{value(r.project, r.unit)} here, pool {value(r.pool, r.unit)} ({interval(r)})", highlight=False)
    if not behind:
        console.print("  none", highlight=False)
    console.print("[bold]Best practices that apply[/bold] (rules of the release for groups this project has):",
                  highlight=False)
    for p in c.practices:
        mark = "" if p.supported else " [dim](not supported at this confidence)[/dim]"
        console.print(f"  {p.rank}. {p.rule}{mark}", highlight=False)
    if not c.practices:
        console.print(f"  none{' — ' + c.rules_note if c.rules_note else ''}", highlight=False)
    elif c.rules_note:
        console.print(f"  [dim]{c.rules_note}[/dim]", highlight=False)
    if c.reasons:
        console.print("[bold]Failure reasons this project shares with the pool:[/bold] " + "; ".join(
            f"'{x['reason']}' ({x['projects']} projects)" for x in c.reasons), highlight=False)


# --- markdown (Dagster UI) ---------------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def render_markdown(c: Comparison) -> dict[str, str]:
    out = {"comparison": _md_table(["dimension", *COLUMNS], [[r.dimension, *cells(r)] for r in c.rows])
           if c.rows else "_nothing to compare_"}
    out["behind_the_pool"] = _md_table(["dimension", *COLUMNS], [[r.dimension, *cells(r)] for r in c.behind]) \
        if c.behind else "_none_"
    out["best_practices"] = _md_table(["rank", "dimension", "group", "supported", "rule"],
                                      [[p.rank, p.dimension, p.group, "yes" if p.supported else "no", p.rule]
                                       for p in c.practices]) if c.practices else f"_none_ {c.rules_note}".strip()
    return out


# --- HTML --------------------------------------------------------------------------------------

def _esc(v) -> str:
    return html.escape(str(v), quote=True)


def svg_interval(r: Row, width: int = 180, height: int = 18) -> str:
    """The pool's interval as a band, its value as a tick, the project's value as a dot."""
    if r.unit == "seconds":
        present = [x for x in (r.ci_high, r.pool, r.project) if x is not None]
        lo, hi = 0.0, (max(present) * 1.1 if present and max(present) > 0 else 1.0)
    elif r.unit == "difference":
        lo, hi = -1.0, 1.0
    else:
        lo, hi = 0.0, 1.0

    def x(v: float) -> float:
        return 4 + (width - 8) * (min(max(v, lo), hi) - lo) / ((hi - lo) or 1.0)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{_esc(r.group)}: {_esc(verdict(r))}</title>',
             f'<line x1="4" x2="{width - 4}" y1="{height / 2}" y2="{height / 2}" class="grid"/>']
    if r.ci_low is not None and r.ci_high is not None:
        parts.append(f'<rect x="{x(r.ci_low):.1f}" y="4" width="{max(1.0, x(r.ci_high) - x(r.ci_low)):.1f}" '
                     f'height="{height - 8}" fill="#cfd8e3"/>')
    if r.pool is not None:
        parts.append(f'<rect x="{x(r.pool) - 1:.1f}" y="2" width="2" height="{height - 4}" fill="#4e79a7"/>')
    if r.project is not None:
        color = "#e15759" if r.behind else "#59a14f" if r.position in (BELOW, ABOVE) else "#222"
        parts.append(f'<circle cx="{x(r.project):.1f}" cy="{height / 2}" r="4" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[Row]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in [*COLUMNS, "chart"])
    body = []
    for r in rows:
        cls = ' class="behind"' if r.behind else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_esc(v)}</td>" for v in cells(r))
                    + f"<td>{svg_interval(r)}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


EXTRA_CSS = "tr.behind td{background:#fdecea}.legend{font-size:.85rem;color:#444}li{margin:.2rem 0}"


def render_html(c: Comparison) -> str:
    """A self-contained HTML report: inline CSS and SVG only, no scripts and no external resources."""
    sections = [
        "<h1>This project beside the pool</h1>",
        f"<p class=meta>{_esc(headline(c))}</p>",
        "<p class=legend>Chart: the pool's interval (band), its value (blue tick) and this project's value "
        "(dot: red when behind the pool, green when ahead). The pool includes this project if it submitted. "
        f"The release publishes: {_esc(', '.join(dimension_title(d) for d in c.dimensions) or 'nothing')}.</p>",
        "<h2>Behind the pool</h2>",
    ]
    if c.behind:
        sections.append("<ul>" + "".join(
            f"<li>{_esc(dimension_title(r.dimension))} <b>{_esc(r.group)}</b>, {_esc(METRICS.get(r.metric, r.metric))}"
            f": {_esc(value(r.project, r.unit))} here, pool {_esc(value(r.pool, r.unit))} ({_esc(interval(r))})</li>"
            for r in c.behind) + "</ul>")
    else:
        sections.append("<p>Nowhere outside the pool's interval on the worse side.</p>")
    sections.append("<h2>Best practices that apply</h2>")
    if c.practices:
        sections.append("<ol>" + "".join(
            f"<li value={p.rank}>{_esc(p.rule)}{'' if p.supported else ' <i>(not supported at this confidence)</i>'}"
            f"</li>" for p in c.practices) + "</ol>")
    if not c.practices or c.rules_note:
        note = c.rules_note or "No rule of the release is about a group this project has."
        sections.append(f"<p class=meta>{_esc(note)}</p>")
    for dimension, rows in _by_dimension(c):
        sections += [f"<h2>{_esc(dimension_title(dimension))}</h2>", _table(rows)]
    if c.reasons:
        sections += ["<h2>Failure reasons shared with the pool</h2>",
                     "<ul>" + "".join(f"<li>{_esc(x['reason'])} ({_esc(x['projects'])} projects)</li>"
                                      for x in c.reasons) + "</ul>"]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<title>Beside the pool: {_esc(c.export_id)} / {_esc(c.release_id)}</title>"
            f"<style>{CSS}{EXTRA_CSS}</style></head><body>" + "\n".join(sections) + "</body></html>\n")
