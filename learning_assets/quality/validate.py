"""Data quality: Pandera failure reports, Great Expectations suites over an export, GX Data Docs.

The Pandera schemas of the table specs (`learning_assets.tables`) are the single source of truth. Here they become
- Dagster types that enforce a table's *shape* (columns, order, dtypes), so that a wrong value never
  fails a step with a stack trace but shows up in an asset check with the rows and columns at fault;
- failure reports for those asset checks (Pandera's lazy validation `failure_cases`: counts and a
  masked sample);
- Great Expectations 1.x suites (derived from the same schemas, plus privacy regexes and row counts
  across tables, manifest, document and report) that run over a staged export in an ephemeral context.

Both are evaluated in full on every table; GX suites run BOOLEAN_ONLY first and compute their SUMMARY
results (counts, samples) only on failure.
`great_expectations` takes seconds to import: it is imported only inside the functions that run it.
Values shown in the UI are masked (`safe_value`): numbers, booleans, days, pseudonyms and short
category names are shown; any other text only as its length.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import pyarrow.parquet as pq

from learning_assets.exportfiles.parquet import read_arrow_frame
from learning_assets.exportfiles.versions import read_json
from learning_assets.sources.frames import TEXT, TEXT_LIST, arrow_values
from learning_assets.tables import ANONYMIZED, TABLE_NAMES, document_rows

SAMPLE_ROWS = 20
PSEUDONYM = re.compile(r"^[a-z]+_[0-9a-f]{16}$")
SHORT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

# Independent of the scrubber's detectors on purpose: a second, simple opinion on the export.
PRIVACY_RULES: dict[str, list[str]] = {
    "email": [r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"],
    "path": [
        r"(?<![\w*.<>/-])/[\w.@+-]+/[\w.@+-]+",        # /home/alice/...
        r"(?<![\w])[A-Za-z]:[\\/]",                     # C:\ or C:/
        r"\\\\[\w.$-]+\\",                              # \\host\share
        r"(?<![\w])~[\w.-]*/",                          # ~/ and ~user/
        r"(?i)\bfile:/{1,3}[\w.~%-]",                   # file:///home/... (not a bare, truncated "file:/")
    ],
    "secret": [
        r"-----BEGIN [A-Z ]*PRIVATE KEY",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        r"\b(?:sk|pk|rk)[-_](?:live|test|proj)[-_][A-Za-z0-9_-]{16,}",
        r"\bAIza[0-9A-Za-z_-]{35}",
        r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@<>]+:[^\s/@<>]+@",
        r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key)\s*[:=]\s*(?!<)[^\s,;'\"<>]{4,}",
    ],
}

# --- masking ------------------------------------------------------------------------------------


def safe_value(value: Any, reveal_names: bool = True) -> Any:
    """A JSON-safe, privacy-safe rendering of a failing value for the Dagster UI."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float)) or hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"<{type(value).__name__}>"
        if math.isnan(number):
            return None
        if math.isinf(number):
            return str(number)
        return int(number) if number == int(number) and abs(number) < 2 ** 53 else number
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        if reveal_names and (PSEUDONYM.match(value) or SHORT_NAME.match(value)):
            return value
        return f"<text, {len(value)} chars>"
    if isinstance(value, (list, tuple)):
        return f"<list of {len(value)}>"
    return f"<{type(value).__name__}>"


# --- Pandera ------------------------------------------------------------------------------------


def shape_schema(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The schema's columns, order and dtypes only: value rules are left to the asset checks."""
    return pa.DataFrameSchema({name: pa.Column(col.dtype, nullable=True, name=name)
                               for name, col in schema.columns.items()},
                              name=f"{schema.name}_shape", strict=True, ordered=True)


def as_frame(value: Any) -> pd.DataFrame:
    """An asset value as one DataFrame (a multi-partition load is a dict of frames)."""
    if isinstance(value, dict):
        frames = [v for v in value.values() if isinstance(v, pd.DataFrame)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return value


def pandera_report(df: pd.DataFrame, schema: pa.DataFrameSchema, *, reveal_names: bool = True,
                   sample: int = SAMPLE_ROWS) -> dict:
    """Lazy validation: every failing (column, check) with its count, and a masked sample of the rows."""
    try:
        schema.validate(df, lazy=True)
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
    except pa_errors.SchemaError as exc:  # not lazily collectable (e.g. a wrong object type)
        return {"passed": False, "failures": 1, "failed_rows": 0, "rows": int(len(df)),
                "by_column": [{"column": None, "check": str(exc).splitlines()[0][:200], "count": 1}],
                "sample": [], "summary": str(exc).splitlines()[0][:200]}
    else:
        return {"passed": True, "failures": 0, "failed_rows": 0, "rows": int(len(df)), "by_column": [],
                "sample": [], "summary": f"{len(df)} rows match {schema.name}"}
    cases = cases.copy()
    cases["column"] = cases["column"].astype(object).where(cases["column"].notna(), None)
    cases["check"] = cases["check"].astype(str)
    by_column = (cases.groupby(["column", "check"], dropna=False).size().reset_index(name="count")
                 .sort_values(["count", "column"], ascending=[False, True], na_position="first"))
    groups = [{"column": None if pd.isna(r.column) else str(r.column), "check": r.check, "count": int(r.count)}
              for r in by_column.itertuples()]
    rows = cases["index"].dropna()
    examples = []
    for r in cases.head(sample).itertuples():
        row = None if pd.isna(r.index) else int(r.index) if str(r.index).isdigit() else str(r.index)
        # schema-level failures (missing column, wrong dtype) describe the schema, not a value
        value = str(r.failure_case) if row is None else safe_value(r.failure_case, reveal_names)
        examples.append({"row": row, "column": None if pd.isna(r.column) else str(r.column), "check": r.check,
                         "value": value})
    top = "; ".join(f"{g['column'] or '(table)'}: {g['check']} x{g['count']}" for g in groups[:3])
    return {"passed": False, "failures": int(len(cases)), "failed_rows": int(rows.nunique()),
            "rows": int(len(df)), "by_column": groups, "sample": examples,
            "summary": f"{len(cases)} failure(s) in {rows.nunique()} row(s) of {schema.name}: {top}"}


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "_none_"

    def cell(v: Any) -> str:
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")[:80]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# --- the export, read back ------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    return read_json(path)


@dataclass
class ExportFiles:
    """What a (staged or published) export directory holds, loaded for validation. Tables are read one
    at a time (`each_table`), so validating an export holds one table in memory, not all of them."""

    directory: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # given in memory
    manifest: dict | None = None
    document: dict | None = None
    json_files: dict[str, Any] = field(default_factory=dict)
    table_paths: dict[str, Path] = field(default_factory=dict)  # on disk, read when needed
    table_rows: dict[str, int] = field(default_factory=dict)  # of those on disk, from the Parquet footer

    @classmethod
    def load(cls, directory: Path) -> ExportFiles:
        directory = Path(directory)
        out = cls(directory)
        tables_dir = directory / "tables"
        if tables_dir.is_dir():
            for path in sorted(tables_dir.glob("*.parquet")):
                out.table_paths[path.stem] = path
                out.table_rows[path.stem] = pq.ParquetFile(path).metadata.num_rows
        for name in ("learning_export.json", "learning_export.json.gz", "export_metadata.json",
                     "anonymization_report.json"):
            if (directory / name).is_file():
                out.json_files[name] = _read_json(directory / name)
        out.document = out.json_files.get("learning_export.json", out.json_files.get("learning_export.json.gz"))
        if (directory / "manifest.json").is_file():
            out.manifest = _read_json(directory / "manifest.json")
        return out

    def names(self) -> list[str]:
        return sorted({*self.tables, *self.table_paths})

    def each_table(self, names: Iterable[str] | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
        """(name, frame) of every table (or of `names`), in name order; those on disk read as they are reached."""
        for name in sorted(self.names() if names is None else names):
            yield name, self.tables[name] if name in self.tables else read_arrow_frame(self.table_paths[name])

    def rows(self) -> dict[str, int]:
        return {**self.table_rows, **{name: len(df) for name, df in self.tables.items()}}


def _json_strings(value: Any, path: str = "$"):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", str(k)
            yield from _json_strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_strings(v, f"{path}[{i}]")


def _first_occurrences(column: pd.Series) -> tuple[list[str], list[int]]:
    """(text, first row) for each distinct text of a text column (list items one by one), pseudonyms left out."""
    values = arrow_values(column)
    rows = None
    if pyarrow.types.is_list(values.type):
        rows, values = pc.list_parent_indices(values).to_numpy(), pc.list_flatten(values)
    encoded = pc.dictionary_encode(values)  # missing values stay missing, outside the dictionary
    texts, codes = encoded.dictionary, pc.fill_null(encoded.indices, -1).to_numpy()
    # codes follow first appearance: a value's first place is where the codes first exceed all before it
    first = np.flatnonzero(codes > np.maximum.accumulate(np.concatenate(([-1], codes[:-1]))))
    # keyed pseudonyms are hex by construction; RE2 (pyarrow) matches the distinct values at C speed
    keep = pc.invert(pc.match_substring_regex(texts, PSEUDONYM.pattern)).to_numpy(zero_copy_only=False)
    return texts.filter(keep).to_pylist(), (first if rows is None else rows[first])[keep].tolist()


def table_texts(name: str, df: pd.DataFrame) -> list[tuple[str, str, Any, str]]:
    """(source, column, row, text) for each distinct string of one table (list items and JSON text decoded)."""
    records = []
    source = f"tables/{name}.parquet"
    for col in df.columns:
        if df[col].dtype not in (TEXT, TEXT_LIST):
            continue
        seen: set[str] = set()
        for item, row in zip(*_first_occurrences(df[col])):
            texts = [item]
            if item.startswith("{"):
                try:
                    texts = [t for _, t in _json_strings(json.loads(item))]
                except ValueError:
                    pass
            for text in texts:
                if text not in seen:
                    seen.add(text)
                    records.append((source, col, row, text))
    return records


def text_frame(files: ExportFiles, table_records: list[tuple] | None = None) -> pd.DataFrame:
    """Every distinct string of the export, with where it was found (list items and JSON text decoded).
    `table_records`: the tables' part (`table_texts`), when already collected."""
    if table_records is None:
        table_records = [r for name, df in files.each_table() for r in table_texts(name, df)]
    records = list(table_records)
    for name, obj in files.json_files.items():
        seen = set()
        for path, text in _json_strings(obj):
            if text not in seen:
                seen.add(text)
                records.append((name, path, None, text))
    return pd.DataFrame(records, columns=["source", "location", "row", "value"], dtype=object)


def counts_frame(files: ExportFiles, *, compare_report: bool = True) -> pd.DataFrame:
    """One row per table: rows in its Parquet file, in the manifest, in the document and in the report."""
    manifest_rows = {f["table"]: f.get("rows") for f in (files.manifest or {}).get("files", []) if "table" in f}
    report = files.json_files.get("anonymization_report.json") or (files.document or {}).get(
        "anonymization_report") or {}
    report_rows = {t: v.get("rows_out") for t, v in (report.get("tables") or {}).items()} if compare_report else {}
    doc_rows = document_rows(files.document)
    parquet_rows = files.rows()
    names = sorted(set(parquet_rows) | set(manifest_rows) | set(TABLE_NAMES))
    rows = []
    for t in names:
        rows.append({"table": t,
                     "parquet_rows": parquet_rows.get(t),
                     "manifest_rows": manifest_rows.get(t),
                     "document_rows": doc_rows.get(t),
                     "report_rows": report_rows.get(t)})
    return pd.DataFrame(rows).astype({c: "Int64" for c in ("parquet_rows", "manifest_rows", "document_rows",
                                                            "report_rows")})


# --- Great Expectations ---------------------------------------------------------------------------


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    return gx, gxe


def gx_context(docs_dir: Path | None = None):
    """An ephemeral GX context (nothing written) with progress bars off; optionally a Data Docs site."""
    gx, _ = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if docs_dir is not None:
        context.add_data_docs_site(site_name="learning_export", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return context


def table_expectations(schema: pa.DataFrameSchema) -> tuple[list, list]:
    """GX expectations derived from a Pandera schema: (over the rows: columns, nulls, value sets, ranges, keys;
    over each column's distinct values: patterns).

    Dtypes are Pandera's job (the Dagster type); a value of the wrong type still fails the range and
    pattern expectations here. A pattern holds for every row exactly when it holds for every distinct
    value, and GX's pandas engine matches a regex one Python call per row, so patterns see each value once.
    """
    _, gxe = _gx()
    rows = [gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(schema.columns))]
    values = []
    for name, col in schema.columns.items():
        if not col.nullable:
            rows.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if col.unique:
            rows.append(gxe.ExpectColumnValuesToBeUnique(column=name))
        for check in col.checks:
            stats = check.statistics or {}
            if check.name == "isin":
                rows.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=list(stats["allowed_values"])))
            elif check.name == "in_range":
                rows.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=stats["min_value"],
                                                              max_value=stats["max_value"]))
            elif check.name == "greater_than_or_equal_to":
                rows.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=stats["min_value"]))
            elif check.name == "str_matches":
                values.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=stats["pattern"]))
    unique = schema.unique
    if unique:
        rows.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(unique)))
    return rows, values


def distinct_frame(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The distinct non-null values of each of `columns` present in `df`, padded with nulls to one length
    (GX leaves nulls out of a column's values)."""
    values = {c: pd.Series(df[c].unique()).dropna().reset_index(drop=True) for c in columns if c in df.columns}
    n = max(map(len, values.values()), default=0)
    return pd.DataFrame({c: v.reindex(range(n)) for c, v in values.items()})


def privacy_expectations() -> list:
    _, gxe = _gx()
    return [gxe.ExpectColumnValuesToNotMatchRegexList(column="value", regex_list=regexes, meta={"rule": rule})
            for rule, regexes in PRIVACY_RULES.items()]


def counts_expectations(frame: pd.DataFrame) -> list:
    _, gxe = _gx()
    out = [gxe.ExpectColumnDistinctValuesToContainSet(column="table", value_set=list(TABLE_NAMES))]
    base = "parquet_rows" if frame["parquet_rows"].notna().any() else "manifest_rows"
    for other in ("parquet_rows", "manifest_rows", "document_rows", "report_rows"):
        if other != base and frame[other].notna().any():
            out.append(gxe.ExpectColumnPairValuesToBeEqual(column_A=base, column_B=other,
                                                           ignore_row_if="either_value_is_missing"))
    if frame["parquet_rows"].notna().any():
        out.append(gxe.ExpectColumnValuesToNotBeNull(column="parquet_rows"))
        out.append(gxe.ExpectColumnValuesToNotBeNull(column="manifest_rows"))
    return out


@dataclass
class Checked:
    """A frame and the expectations GX runs over it; `by_row` when the frame's rows are the table's rows."""

    frame: pd.DataFrame
    expectations: list
    by_row: bool = True


@dataclass
class SuiteOutcome:
    suite: str
    kind: str  # tables | privacy | counts
    success: bool
    evaluated: int
    failed: list[dict]


@dataclass
class GxValidation:
    """Outcome of every suite over one export; `seconds` includes context setup, not the GX import."""

    outcomes: list[SuiteOutcome]
    seconds: float
    context: Any = None

    def of_kind(self, kind: str) -> list[SuiteOutcome]:
        return [o for o in self.outcomes if o.kind == kind]


SUMMARY = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
NO_VALUES = {"result_format": "SUMMARY", "partial_unexpected_count": 0}


def _failures(result, part: Checked, kind: str) -> list[dict]:
    frame = part.frame
    failed = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        res = r.result or {}
        kwargs = cfg.kwargs
        entry = {"expectation": cfg.type, "column": kwargs.get("column") or ",".join(
            kwargs.get("column_list") or []) or (f"{kwargs.get('column_A')}={kwargs.get('column_B')}"
                                                  if kwargs.get("column_A") else None),
                 "unexpected": res.get("unexpected_count"), "rows": [], "values": []}
        if r.exception_info and r.exception_info.get("raised_exception"):
            entry["error"] = str(r.exception_info.get("exception_message") or "")[:200]
        if kind == "privacy":
            entry["rule"] = (cfg.meta or {}).get("rule")
            where = frame.loc[[i for i in res.get("partial_unexpected_index_list") or [] if i in frame.index]]
            entry["rows"] = [f"{s}:{loc}" + (f"[{row}]" if row is not None else "")
                             for s, loc, row in zip(where["source"], where["location"], where["row"])]
            entry["values"] = [safe_value(v, reveal_names=False) for v in where["value"]]
        elif kind == "counts":
            idx = res.get("partial_unexpected_index_list") or []
            entry["rows"] = [frame.loc[i, "table"] for i in idx if i in frame.index]
        else:
            entry["rows"] = ([safe_value(i) for i in (res.get("partial_unexpected_index_list") or [])]
                             if part.by_row else [])
            entry["values"] = [safe_value(v) for v in (res.get("partial_unexpected_list") or [])]
            if cfg.type == "expect_table_columns_to_match_ordered_list":
                entry["values"] = [str(res.get("observed_value"))[:200]]
        failed.append(entry)
    return failed


def _table_suites(files: ExportFiles, names: Iterable[str],
                  texts: dict[str, list]) -> Iterator[tuple[str, str, list[Checked]]]:
    """(suite, kind, what it checks) for each of the tables `names`, read one at a time; each table's strings
    are put in `texts` on the way (for the privacy suite)."""
    for name, df in files.each_table(names):
        texts[name] = table_texts(name, df)
        if name in ANONYMIZED:
            by_row, by_value = table_expectations(ANONYMIZED[name])
            columns = [e.column for e in by_value]
            yield name, "tables", [Checked(gx_frame(df), by_row), Checked(distinct_frame(df, columns), by_value,
                                                                          by_row=False)]


def gx_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A table's values laid out the way GX's pandas engine handles them fast: text as categories (GX hashes
    every batch to fingerprint it and casts text to `str` before a regex; on categories both work per
    distinct value) and nullable integers as floats, missing as NaN (compared in one vectorized step, not
    one Python call per value; exact for integers of up to 53 bits)."""
    out = {}
    for name, column in df.items():
        if column.dtype == TEXT:
            column = arrow_values(column).dictionary_encode().to_pandas().set_axis(column.index)
        elif column.dtype == "Int64":
            column = column.astype("float64")
        out[name] = column
    return pd.DataFrame(out, index=df.index)


def _export_suites(files: ExportFiles, compare_report: bool,
                   texts: dict[str, list]) -> Iterator[tuple[str, str, list[Checked]]]:
    """The privacy suite over every string of the export (the tables' from `texts`), then row counts."""
    records = [record for name in sorted(texts) for record in texts[name]]
    yield "no_sensitive_text", "privacy", [Checked(text_frame(files, records), privacy_expectations())]
    counts = counts_frame(files, compare_report=compare_report)
    yield "row_counts", "counts", [Checked(counts, counts_expectations(counts))]


def _run_suite(batches, suite, frame: pd.DataFrame, result_format: dict | None):
    """One suite over one frame; without `result_format`, pass/fail first and details only for a failed suite.

    GX's cost is mostly per expectation and grows with what the result must hold (unexpected lists and
    indexes); an export that passes needs none of it, so BOOLEAN_ONLY runs first and SUMMARY only on failure.
    """
    batch = batches.get_batch(batch_parameters={"dataframe": frame})
    if result_format is not None:
        return batch.validate(suite, result_format=result_format)
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")
    return result if result.success else batch.validate(suite, result_format=SUMMARY)


def validate_export(directory: Path, *, result_format: dict | None = None, compare_report: bool = True,
                    docs_dir: Path | None = None) -> GxValidation:
    """Run every GX suite over an export directory: one per table, privacy over all text, row counts.

    Each table is read once, for its suite and its strings; the privacy and counts suites follow. With
    `docs_dir`, results are stored through validation definitions so that Data Docs can render them.
    """
    started = time.perf_counter()
    files = ExportFiles.load(directory)
    stored = docs_dir is not None
    context = gx_context(docs_dir)
    texts: dict[str, list] = {}
    outcomes = _validate(context, _table_suites(files, files.names(), texts), result_format, stored)
    outcomes += _validate(context, _export_suites(files, compare_report, texts), result_format, stored)
    return GxValidation(outcomes, round(time.perf_counter() - started, 3), context)


def _batch_definition(context):
    """The one data asset and batch definition every suite of `context` shares (each added asset rewrites
    the context's config, so they are made once)."""
    try:
        source = context.data_sources.get("learning_export")
    except KeyError:
        return (context.data_sources.add_pandas("learning_export").add_dataframe_asset("export_file")
                .add_batch_definition_whole_dataframe("whole_frame"))
    return source.get_asset("export_file").get_batch_definition("whole_frame")


def _validate(context, suites: Iterable[tuple[str, str, list[Checked]]], result_format: dict | None,
              stored: bool = False) -> list[SuiteOutcome]:
    """Each suite's outcome; `stored` runs them through validation definitions kept in `context`."""
    gx, _ = _gx()
    batches = _batch_definition(context)
    outcomes = []
    for name, kind, parts in suites:
        success, evaluated, failed = True, 0, []
        for part in (p for p in parts if p.expectations):
            base = name if part.by_row else f"{name}_values"
            suite = gx.ExpectationSuite(name=f"{base}_suite", expectations=part.expectations)
            if stored:
                definition = context.validation_definitions.add(gx.ValidationDefinition(
                    name=f"{base}_validation", data=batches, suite=context.suites.add(suite)))
                result = definition.run(batch_parameters={"dataframe": part.frame},
                                        result_format=result_format or SUMMARY)
            else:
                result = _run_suite(batches, suite, part.frame, result_format)
            success &= bool(result.success)
            evaluated += len(result.results)
            failed += _failures(result, part, kind)
        outcomes.append(SuiteOutcome(name, kind, success, evaluated, failed))
    return outcomes


def build_data_docs(export_dir: Path, out_dir: Path) -> Path:
    """Validate an export with every suite and write GX Data Docs (HTML) to `out_dir`; returns index.html.

    The docs list each expectation with its outcome and counts, never the failing values themselves.
    """
    export_dir, out_dir = Path(export_dir), Path(out_dir)
    if not export_dir.is_dir():
        raise FileNotFoundError(f"{export_dir}: no such export directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    run = validate_export(export_dir, result_format=NO_VALUES, docs_dir=out_dir)
    run.context.build_data_docs(site_names=["learning_export"])
    index = out_dir / "index.html"
    if not index.is_file():
        raise RuntimeError(f"Great Expectations wrote no index.html into {out_dir}")
    return index


def outcome_rows(outcomes: list[SuiteOutcome]) -> list[dict]:
    """Flat rows (one per failed expectation) for a markdown table in check metadata."""
    rows = []
    for o in outcomes:
        for f in o.failed:
            rows.append({"suite": o.suite, "expectation": f["expectation"].replace("expect_", ""),
                         "column": f.get("column"), "rule": f.get("rule"), "unexpected": f.get("unexpected"),
                         "rows": ", ".join(map(str, f["rows"][:5])), "values": ", ".join(map(str, f["values"][:5])),
                         "error": f.get("error")})
    return rows
