"""Data-quality asset checks: Pandera schemas on every table, JSON Schema and Great Expectations on the export.

| check | on | blocking |
|---|---|---|
| `pandera_schema` | every `raw/<table>` | no (WARN: source data is what it is; the anonymized check decides) |
| `pandera_schema` | every `anonymized/<table>` | yes: a failure skips the export |
| `export_json_schema` | `learning_export` | yes: the staged files against their declared JSON Schema version |
| `gx_tables` | `learning_export` | yes: GX suite per exported table (columns, nulls, sets, ranges, keys, patterns) |
| `gx_no_sensitive_text` | `learning_export` | yes: no string anywhere in the export matches a path, e-mail or secret regex |
| `gx_row_counts` | `learning_export` | yes: rows agree between Parquet files, manifest, document and report |

The `pandera_schema` checks are evaluated inside the asset step that makes the table (check specs on the
asset), on the frame in hand; the export's checks are asset checks of their own.
Failures are reported as counts per (column, check) plus a masked sample of rows, never as a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dagster import (AssetCheckKey, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetIn, AssetKey,
                     MetadataValue, Output, asset_check, multi_asset_check)

from learning_assets.memory import heavy_step
from learning_assets.assets.export import learning_export
from learning_assets.quality import as_frame, markdown_table, outcome_rows, pandera_report, validate_export
from schemas.tables import ANONYMIZED, RAW

GX_CHECKS = {
    "tables": ("gx_tables", "Great Expectations suite per exported table: columns, non-null columns, value sets, "
                            "ranges, unique keys and pseudonym/name patterns (derived from the Pandera schemas)."),
    "privacy": ("gx_no_sensitive_text", "Great Expectations: no string in any exported file (tables, lists, JSON "
                                        "values and keys) matches a path, e-mail or secret regex."),
    "counts": ("gx_row_counts", "Great Expectations: every table's rows agree between its Parquet file, the "
                                "manifest, the JSON document and the anonymization report."),
}


SCHEMAS = {"raw": RAW, "anonymized": ANONYMIZED}


def schema_report(layer: str, table: str, df) -> dict:
    """The Pandera report behind the `pandera_schema` check (names are shown only when anonymized)."""
    return pandera_report(as_frame(df), SCHEMAS[layer][table], reveal_names=layer == "anonymized")


def schema_check_result(layer: str, table: str, df, report: dict | None = None) -> AssetCheckResult:
    """The `pandera_schema` check's result for one table (`layer` raw or anonymized) as an AssetCheckResult,
    from `report` when it was made already (by a forked child, say).

    Blocking (ERROR) for anonymized tables, a warning for raw ones.
    Usable from the asset that makes the table (with a matching check spec) as well as from an asset check.
    """
    if report is None:
        report = schema_report(layer, table, df)
    return AssetCheckResult(
        check_name="pandera_schema", asset_key=AssetKey([layer, table]), passed=report["passed"],
        severity=AssetCheckSeverity.ERROR if layer == "anonymized" else AssetCheckSeverity.WARN,
        description=report["summary"][:1000],
        metadata={
            "rows": report["rows"],
            "failures": report["failures"],
            "failed_rows": report["failed_rows"],
            "failures_by_column": MetadataValue.md(markdown_table(report["by_column"], ["column", "check", "count"])),
            "failure_sample": MetadataValue.md(markdown_table(report["sample"], ["row", "column", "check", "value"])),
        })


def with_schema_check(output: Output, layer: str, report: dict | None) -> Iterator[Output | AssetCheckResult]:
    """A table's output, then its `pandera_schema` result when the run checks it (`report` is not None)."""
    yield output
    if report is not None:
        yield schema_check_result(layer, output.output_name, output.value, report)


def schema_check_selected(context, layer: str, table: str) -> bool:
    """Whether the run asked for a table's `pandera_schema` check (a subset can leave it out)."""
    return AssetCheckKey(AssetKey([layer, table]), "pandera_schema") in context.selected_asset_check_keys


def schema_check_spec(layer: str, table: str) -> AssetCheckSpec:
    """The `pandera_schema` check of one table. The asset that makes the table evaluates it on the frame
    it holds (`schema_check_result`): no extra step and no reload from storage."""
    blocking = layer == "anonymized"
    what = ("blocks the export on failure" if blocking else
            "a warning: the anonymized table's check decides whether the export goes ahead")
    return AssetCheckSpec("pandera_schema", asset=AssetKey([layer, table]), blocking=blocking,
                          description=f"Pandera schema {SCHEMAS[layer][table].name}: types, ranges, categories, "
                                      f"non-null and unique rules; lists failing rows and columns ({what}).")


@asset_check(asset=learning_export, blocking=True,
             description="The staged document, export_metadata.json, anonymization_report.json and manifest.json "
                         "match the JSON Schema of their declared version (schemas/export-<v>.schema.json).")
def export_json_schema(learning_export: dict) -> AssetCheckResult:
    from schemas.versions import check_directory

    issues = check_directory(Path(learning_export["staged_path"]))
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    rows = [{"severity": i.severity, "file": i.file, "path": i.path, "message": i.message} for i in issues[:50]]
    return AssetCheckResult(
        passed=not errors, severity=AssetCheckSeverity.ERROR,
        description=f"{len(errors)} error(s), {len(warnings)} warning(s)" + (f"; first: {errors[0]}" if errors
                                                                             else ""),
        metadata={"errors": len(errors), "warnings": len(warnings),
                  "issues": MetadataValue.md(markdown_table(rows, ["severity", "file", "path", "message"]))})


@multi_asset_check(
    name="great_expectations",
    specs=[AssetCheckSpec(name, asset=learning_export, blocking=True, description=desc)
           for name, desc in GX_CHECKS.values()],
    ins={"staged": AssetIn(learning_export.key)},
)
@heavy_step
def great_expectations_checks(staged: dict):
    """Every GX suite over the staged export in one ephemeral context; one result per check."""
    options = staged.get("options") or {}
    # a time window filters the exported tables, so their rows no longer match the (unfiltered) report
    compare_report = not (options.get("since") or options.get("until"))
    run = validate_export(Path(staged["staged_path"]), compare_report=compare_report)
    for kind, (name, _) in GX_CHECKS.items():
        outcomes = run.of_kind(kind)
        failed = [o for o in outcomes if not o.success]
        rows = outcome_rows(failed)
        yield AssetCheckResult(
            check_name=name, asset_key=learning_export.key, passed=not failed, severity=AssetCheckSeverity.ERROR,
            description=(f"{len(rows)} failed expectation(s) in {', '.join(o.suite for o in failed)}" if failed
                         else f"{sum(o.evaluated for o in outcomes)} expectation(s) met in {len(outcomes)} suite(s)"),
            metadata={
                "suites": len(outcomes),
                "expectations": sum(o.evaluated for o in outcomes),
                "failed_expectations": len(rows),
                "failures": MetadataValue.md(markdown_table(rows, ["suite", "expectation", "column", "rule",
                                                                   "unexpected", "rows", "values", "error"])),
                "by_suite": MetadataValue.json({o.suite: {"evaluated": o.evaluated, "failed": len(o.failed)}
                                                for o in outcomes}),
                "gx_seconds_all_suites": run.seconds,
                "data_docs": "`learning data-docs` renders these suites as HTML for an export",
            })


EXPORT_QUALITY_CHECKS = [export_json_schema, great_expectations_checks]
QUALITY_CHECKS = EXPORT_QUALITY_CHECKS
