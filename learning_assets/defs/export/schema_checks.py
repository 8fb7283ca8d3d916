"""The `pandera_schema` check of every raw and anonymized table, evaluated in the step that makes it.

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

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    Output,
)

from learning_assets.quality.validate import (
    as_frame,
    markdown_table,
    pandera_report,
)
from learning_assets.tables import ANONYMIZED, RAW

SCHEMAS = {"raw": RAW, "anonymized": ANONYMIZED}


def schema_report(layer: str, table: str, df) -> dict:
    """The Pandera report behind the `pandera_schema` check (names are shown only when anonymized)."""
    return pandera_report(as_frame(df), SCHEMAS[layer][table], reveal_names=layer == "anonymized")


def schema_check_result(layer: str, table: str, df, report: dict | None = None) -> AssetCheckResult:
    """The `pandera_schema` check's result for one table (`layer` raw or anonymized) as an AssetCheckResult,
    from `report` when the asset step made it already.

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
