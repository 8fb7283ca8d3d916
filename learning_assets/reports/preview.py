"""What an export would hold, before it is made: each table's rows before and after anonymization.

`build` reads the source and anonymizes it exactly as the export does (same readers, same learned
names, same key, same rules), writes nothing, and keeps a few rows of every table side by side: each
value as it is in the source and as it would leave, with what its rule did to it (`Rule.change`, the
same mechanism for every table). It also counts the changes per rule and per column over all rows, and
lists the files, rows and bytes an export would hold.

Three renderings, as for the dashboard: rich tables for the terminal (`learning preview`), markdown for
the `export_preview` asset's metadata in the Dagster UI, and a self-contained HTML file (`--html FILE`,
written by the caller with mode 0600: it holds raw values).
"""

from __future__ import annotations

import html
import io
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from rich.markup import escape
from rich.table import Table

from learning_assets.exportfiles.parquet import frame_table
from learning_assets.exportfiles.report import build_report
from learning_assets.privacy.anonymize import Anonymizer
from learning_assets.privacy.learned import learn_source_vocabulary
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import Scrubber
from learning_assets.tables import SPECS, TABLE_NAMES, anonymize_table, build_sections, read_tables

MAX_CHARS = 2000  # a value longer than this is cut (the reviewer's queries hold whole source files)
TERMINAL_CHARS = 100
UNCHANGED = "as it is"
# The files an export holds besides one Parquet file per table (sizes known only once it is written).
OTHER_FILES = ("export_metadata.json", "anonymization_report.json", "manifest.json")
K = 5  # only recorded in the report's header; the rule totals do not depend on it


@dataclass
class Cell:
    column: str
    before: str  # the source value, shown
    after: str  # the value as it would leave
    changes: tuple[str, ...]  # what the column's rule did to it; empty: nothing


@dataclass
class TablePreview:
    name: str
    description: str
    source_files: list[str]
    skipped: int  # damaged source records, left out
    rows_read: int
    rows_exported: int
    columns: list[dict]  # name, rule, source (the raw column it is made from)
    samples: list[list[Cell]]  # a few rows, each a cell per column
    changes: dict[str, dict[str, int]]  # column -> change -> rows it happened in
    stats: dict[str, int]  # the anonymizer's counts per rule (as in anonymization_report.json)
    parquet_bytes: int
    found: int | None = None  # with `find`: source rows holding the text
    found_after: int | None = None  # with `find`: exported values still holding it (over every row)


@dataclass
class Preview:
    source: str
    export_dir: str | None
    tables: list[TablePreview]
    files: list[dict]  # path, rows, bytes (None: known once written)
    rules: dict  # totals per rule, as the anonymization report states them
    learned: dict[str, int]  # names learned from the source, per kind
    find: str | None = None  # the text the shown rows hold
    seconds: float = 0.0
    created_at: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(timespec="seconds"))

    def changes(self) -> Counter:
        """Rows changed per kind of change, over every table."""
        total: Counter = Counter()
        for table in self.tables:
            for counts in table.changes.values():
                total.update(counts)
        return total


# --- computing -----------------------------------------------------------------------------

def _plain(value):
    """A cell as a plain Python value: lists for arrays, None for every kind of missing."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, dict, bool)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.generic):
        return value.item()
    return value


def show(value) -> str:
    """A value as the preview shows it (cut at MAX_CHARS)."""
    value = _plain(value)
    if value is None:
        text = ""
    elif isinstance(value, pd.Timestamp):
        text = value.isoformat()
    elif isinstance(value, float):
        text = "" if math.isnan(value) else repr(value)
    elif isinstance(value, list):
        text = json.dumps([show(v) for v in value], ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"


def _changes_per_row(rule, before: pd.Series, after: pd.Series) -> list[tuple[str, ...]]:
    """`rule.change` for every row, asked once per distinct (before, after) pair."""
    cache: dict[tuple[str, str], tuple[str, ...]] = {}
    out = []
    for b, a in zip(before.tolist(), after.tolist()):
        b, a = _plain(b), _plain(a)
        key = (repr(b), repr(a))
        found = cache.get(key)
        if found is None:
            found = cache[key] = tuple(rule.change(b, a))
        out.append(found)
    return out


def _sample(per_column: dict[str, list[tuple[str, ...]]], n_rows: int, rows: int) -> list[int]:
    """Up to `rows` row positions that together show as many kinds of change, in as many columns, as
    possible (the first rows fill what is left). Rows are grouped by the changes they show first, so the
    cost grows with the kinds of rows, not their number."""
    first: dict[frozenset, int] = {}
    for i in range(n_rows):
        first.setdefault(frozenset((c, k) for c, changes in per_column.items() for k in changes[i]), i)
    chosen: list[int] = []
    shown: set[tuple[str, str]] = set()
    while len(chosen) < min(rows, n_rows):
        best = max(first.items(), key=lambda item: (len(item[0] - shown), -item[1]), default=None)
        if best is None or not best[0] - shown:
            break
        chosen.append(best[1])
        shown |= best[0]
        del first[best[0]]
    rest = (i for i in range(n_rows) if i not in chosen)
    while len(chosen) < min(rows, n_rows):
        chosen.append(next(rest))
    return sorted(chosen)


def _label(column: str, rule) -> str:
    """The column's name; a column made from another raw column says which."""
    return column if (rule.source or column) == column else f"{column} (from {rule.source})"


def _parquet_bytes(df: pd.DataFrame) -> int:
    buf = io.BytesIO()
    pq.write_table(frame_table(df), buf, compression="zstd")
    return buf.tell()


def _holding(frame: pd.DataFrame, columns: list[str], text: str) -> np.ndarray:
    """Rows of `frame` where any of `columns`, as shown, holds `text` (ignoring case)."""
    text = text.casefold()
    mask = np.zeros(len(frame), dtype=bool)
    for column in dict.fromkeys(columns):
        shown = {}
        for i, value in enumerate(frame[column].tolist()):
            key = repr(_plain(value))
            if key not in shown:
                shown[key] = text in show(value).casefold()
            mask[i] |= shown[key]
    return mask


def preview_table(name: str, raw: pd.DataFrame, anonymizer: Anonymizer, rows: int,
                  find: str | None = None) -> tuple[TablePreview, pd.DataFrame]:
    """One table's preview, and its anonymized frame. With `find`, the rows shown are those whose source
    values hold that text, and the counts say how many exported values still hold it."""
    spec = SPECS[name]
    anonymized = anonymize_table(name, raw, anonymizer)
    kept = raw
    if spec.dated and spec.event_time is not None:  # the rows the anonymizer keeps, in its order
        kept = raw[raw[spec.event_time].notna()]
    kept = kept.reset_index(drop=True)
    per_column = {column: _changes_per_row(rule, rule.column(column, kept), anonymized[column])
                  for column, rule in spec.rules.items()}
    counts = {column: dict(Counter(k for changes in found for k in changes).most_common())
              for column, found in per_column.items()}
    found = found_after = None
    if find:
        holding = _holding(kept, [rule.source or column for column, rule in spec.rules.items()], find)
        found, found_after = int(holding.sum()), int(_holding(anonymized, list(spec.rules), find).sum())
        positions = [int(i) for i in np.flatnonzero(holding)[:rows]]
    else:
        positions = _sample(per_column, len(kept), rows)
    samples = [[Cell(_label(column, rule), show(kept.at[i, rule.source or column]), show(anonymized.at[i, column]),
                     per_column[column][i]) for column, rule in spec.rules.items()] for i in positions]
    columns = [{"name": column, "rule": type(rule).__name__, "source": rule.source or column}
               for column, rule in spec.rules.items()]
    return TablePreview(
        name=name, description=spec.description, source_files=[], skipped=0, rows_read=len(raw),
        rows_exported=len(anonymized), columns=columns, samples=samples, changes=counts,
        stats=dict(sorted(anonymizer.stats.items())), parquet_bytes=_parquet_bytes(anonymized),
        found=found, found_after=found_after,
    ), anonymized


def build(root: Path, tz: tzinfo, key: bytes, *, rows: int = 5, tables: list[str] | None = None,
          find: str | None = None, export_dir: Path | None = None) -> Preview:
    """The preview of an export of the source in `root` (a `.tapps-agents/` directory) under `key`.

    Every table is read (names are learned from all of them, as the export does); `tables` limits the
    ones shown; `find` shows rows whose source values hold that text instead of a sample that shows every
    kind of change. Nothing is written anywhere."""
    started = time.perf_counter()
    reads = read_tables(root, tz)
    raw = {name: read.frame() for name, read in reads.items()}
    vocabulary = learn_source_vocabulary(root, raw.values())
    pseudonymize = Pseudonymizer(key)
    scrubber = Scrubber(pseudonymize, vocabulary)
    shown = [name for name in TABLE_NAMES if tables is None or name in tables]
    every, anonymized = [], {}
    for name in TABLE_NAMES:
        table, anonymized[name] = preview_table(name, raw[name], Anonymizer(pseudonymize, scrubber), rows,
                                                  find if name in shown else None)
        table.source_files = [str(f) for f in reads[name].files]
        table.skipped = len(reads[name].skipped)
        every.append(table)
    previews = [t for t in every if t.name in shown]
    stats = {t.name: {"stats": t.stats, "rows_in": t.rows_read, "rows_out": t.rows_exported, "skipped": t.skipped}
             for t in every}
    document = json.dumps(build_sections(anonymized), separators=(",", ":")).encode()
    files = [{"path": f"tables/{t.name}.parquet", "rows": t.rows_exported, "bytes": t.parquet_bytes} for t in every]
    files.append({"path": "learning_export.json", "rows": None, "bytes": len(document)})
    files += [{"path": path, "rows": None, "bytes": None} for path in OTHER_FILES]
    return Preview(
        source=str(root), export_dir=str(export_dir) if export_dir is not None else None, tables=previews,
        files=files, rules=build_report(stats, k=K)["rules"],
        learned={"users": len(vocabulary.users), "hosts": len(vocabulary.hosts), "projects": len(vocabulary.projects)},
        find=find,
        seconds=time.perf_counter() - started,
    )


# --- formatting helpers --------------------------------------------------------------------

def _cut(text: str, width: int) -> str:
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= width else text[:width - 1] + "…"


def _size(n: int | None) -> str:
    if n is None:
        return "small (written with the export)"
    for unit in ("B", "kB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} MB"


def _changes_text(changes: dict[str, int]) -> str:
    return "; ".join(f"{k} {v:,}" for k, v in changes.items())


def _rule_lines(rules: dict) -> list[tuple[str, str]]:
    """The report's totals per rule as (rule, count) lines, nested dictionaries flattened."""
    out = []
    for name, value in rules.items():
        if isinstance(value, dict):
            out += [(f"{name}: {k}", f"{v:,}") for k, v in value.items()]
        else:
            out.append((name, f"{value:,}"))
    return out


def summary_lines(preview: Preview) -> list[str]:
    exported = sum(f["rows"] or 0 for f in preview.files)
    known = sum(f["bytes"] or 0 for f in preview.files)
    where = f"{preview.export_dir}/exports/<new id>/" if preview.export_dir else "the export directory"
    found = []
    if preview.find is not None:
        holding = sum(t.found or 0 for t in preview.tables)
        left = sum(t.found_after or 0 for t in preview.tables)
        found = [f"{preview.find!r} is in {holding:,} source rows; "
                 + (f"{left:,} exported values would still hold it" if left else "no exported value would hold it")]
    return [
        f"Preview of an export of {preview.source} (nothing was written; took {preview.seconds:.1f} s)",
        *found,
        f"would write {len(preview.files)} files to {where}: {exported:,} rows, about {_size(known)} "
        f"(tables and document)",
        "names learned from the source and replaced wherever they appear: "
        + ", ".join(f"{v} {k}" for k, v in preview.learned.items()),
    ]


# --- terminal ------------------------------------------------------------------------------

def render_terminal(preview: Preview, console) -> None:
    for line in summary_lines(preview):
        console.print(escape(line), highlight=False)
    t = Table(title="Files the export would hold", title_justify="left")
    for col, kw in [("file", {}), ("rows", {"justify": "right"}), ("bytes", {"justify": "right"})]:
        t.add_column(col, **kw)
    for f in preview.files:
        t.add_row(f["path"], "" if f["rows"] is None else f"{f['rows']:,}", _size(f["bytes"]))
    console.print(t)
    t = Table(title="Changes per rule (all rows)", title_justify="left")
    t.add_column("rule")
    t.add_column("count", justify="right")
    for name, count in _rule_lines(preview.rules):
        t.add_row(name, count)
    for name, count in preview.changes().most_common():
        t.add_row(f"values: {name}", f"{count:,}")
    console.print(t)
    for table in preview.tables:
        title = (f"{table.name}: {table.rows_read:,} rows read, {table.rows_exported:,} would be exported"
                 f"{f', {table.skipped:,} damaged records left out' if table.skipped else ''}")
        if not table.samples:
            console.print(f"[bold]{escape(title)}[/bold] (no rows)", highlight=False)
            continue
        t = Table(title=title, title_justify="left", show_lines=False)
        for col, kw in [("row", {"justify": "right"}), ("column", {}), ("before (source)", {"style": "red"}),
                        ("after (exported)", {"style": "green"}), ("what changed", {})]:
            t.add_column(col, **kw)
        for n, row in enumerate(table.samples, 1):
            for j, cell in enumerate(row):
                t.add_row(str(n) if j == 0 else "", cell.column, escape(_cut(cell.before, TERMINAL_CHARS)),
                          escape(_cut(cell.after, TERMINAL_CHARS)), ", ".join(cell.changes) or UNCHANGED,
                          end_section=j == len(row) - 1)
        t.caption = "changes over all rows: " + (" | ".join(
            f"{c}: {_changes_text(k)}" for c, k in table.changes.items() if k) or "none")
        t.caption_justify = "left"
        console.print(t)


# --- markdown (Dagster UI) -----------------------------------------------------------------

def _md(v: str, width: int = 160) -> str:
    return _cut(v, width).replace("|", "\\|").replace("`", "'")


def render_markdown(preview: Preview) -> dict[str, str]:
    """Markdown sections for the preview asset's metadata: a summary, then one section per table."""
    files = ["| file | rows | bytes |", "|---|---|---|"] + [
        f"| {f['path']} | {'' if f['rows'] is None else format(f['rows'], ',')} | {_size(f['bytes'])} |"
        for f in preview.files]
    rules = ["| rule | count |", "|---|---|"] + [f"| {_md(n)} | {c} |" for n, c in _rule_lines(preview.rules)] + [
        f"| values: {_md(n)} | {c:,} |" for n, c in preview.changes().most_common()]
    out = {"summary": "\n\n".join([*summary_lines(preview), "\n".join(files), "\n".join(rules)])}
    for table in preview.tables:
        lines = [f"{table.rows_read:,} rows read, {table.rows_exported:,} would be exported.", "",
                 "| row | column | before (source) | after (exported) | what changed |", "|---|---|---|---|---|"]
        for n, row in enumerate(table.samples, 1):
            lines += [f"| {n if j == 0 else ''} | {cell.column} | {_md(cell.before)} | {_md(cell.after)} | "
                      f"{', '.join(cell.changes) or UNCHANGED} |" for j, cell in enumerate(row)]
        lines += ["", "Changes over all rows: " + (
            "; ".join(f"`{c}`: {_changes_text(k)}" for c, k in table.changes.items() if k) or "none")]
        out[table.name] = "\n".join(lines)
    return out


# --- HTML ----------------------------------------------------------------------------------

def _esc(v) -> str:
    return html.escape(str(v), quote=True)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:80rem;color:#222;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0;width:100%}
td,th{padding:.2rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f6f6f6}.meta{color:#555;font-size:.9rem}.warn{background:#fff4e5;border:1px solid #f0c36d;
padding:.5rem 1rem}td.before{background:#fdecec;white-space:pre-wrap;word-break:break-all;max-width:30rem}
td.after{background:#eaf6ea;white-space:pre-wrap;word-break:break-all;max-width:30rem}tr.first td{border-top:2px solid #999}
td.change{color:#444}.num{text-align:right}
"""


def render_html(preview: Preview) -> str:
    """A self-contained HTML page (inline CSS; no scripts, no external resources). It holds raw values."""
    parts = [
        "<h1>Export preview</h1>",
        "<p class=warn>This page holds values <b>as they are in your source</b> (the “before” column). It is "
        "not part of any export or submission package; keep it private (it was written readable by you only).</p>",
        *[f"<p class=meta>{_esc(line)}</p>" for line in summary_lines(preview)],
        f"<p class=meta>Made {_esc(preview.created_at)}.</p>",
        "<h2>Files the export would hold</h2><table><thead><tr><th>file</th><th>rows</th><th>bytes</th></tr></thead>"
        "<tbody>" + "".join(f"<tr><td>{_esc(f['path'])}</td><td class=num>"
                            f"{'' if f['rows'] is None else format(f['rows'], ',')}</td>"
                            f"<td class=num>{_esc(_size(f['bytes']))}</td></tr>" for f in preview.files)
        + "</tbody></table>",
        "<h2>Changes per rule (all rows)</h2><table><thead><tr><th>rule</th><th>count</th></tr></thead><tbody>"
        + "".join(f"<tr><td>{_esc(n)}</td><td class=num>{_esc(c)}</td></tr>" for n, c in _rule_lines(preview.rules))
        + "".join(f"<tr><td>values: {_esc(n)}</td><td class=num>{c:,}</td></tr>"
                  for n, c in preview.changes().most_common()) + "</tbody></table>",
    ]
    for table in preview.tables:
        parts.append(f"<h2 id={_esc(table.name)}>{_esc(table.name)}</h2><p class=meta>{_esc(table.description)} "
                     f"{table.rows_read:,} rows read, {table.rows_exported:,} would be exported"
                     f"{f', {table.skipped:,} damaged records left out' if table.skipped else ''}.</p>")
        if table.samples:
            body = []
            for n, row in enumerate(table.samples, 1):
                for j, cell in enumerate(row):
                    body.append(f"<tr{' class=first' if j == 0 else ''}><td>{n if j == 0 else ''}</td>"
                                f"<td>{_esc(cell.column)}</td><td class=before>{_esc(cell.before)}</td>"
                                f"<td class=after>{_esc(cell.after)}</td>"
                                f"<td class=change>{_esc(', '.join(cell.changes) or UNCHANGED)}</td></tr>")
            parts.append("<table><thead><tr><th>row</th><th>column</th><th>before (source)</th>"
                         "<th>after (exported)</th><th>what changed</th></tr></thead><tbody>"
                         + "".join(body) + "</tbody></table>")
        counted = [(c, k) for c, k in table.changes.items() if k]
        if counted:
            parts.append("<table><thead><tr><th>column</th><th>rule</th><th>changes over all rows</th></tr></thead>"
                         "<tbody>" + "".join(
                             f"<tr><td>{_esc(c)}</td><td>{_esc(next(x['rule'] for x in table.columns if x['name'] == c))}"
                             f"</td><td>{_esc(_changes_text(k))}</td></tr>" for c, k in counted) + "</tbody></table>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>Export preview</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
