"""Blocking asset checks on the staged export: nothing is published unless they all pass.

| check | verifies |
|---|---|
| `manifest_intact` | every file is in manifest.json with its SHA-256 and row count |
| `no_sensitive_values` | every string is a fixed name, pseudonym, placeholder or allowed words (shares no code with the scrubber) |
| `export_json_schema` | the document, metadata, report and manifest against their declared JSON Schema version |
| `gx_tables` | a Great Expectations suite per exported table (columns, nulls, sets, ranges, keys, patterns) |
| `gx_no_sensitive_text` | no string anywhere matches a path, e-mail or secret regex |
| `gx_row_counts` | rows agree between Parquet files, manifest, document and report |
"""


from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    MetadataValue,
    multi_asset_check,
)

from learning_assets.defs.export.anonymized import VOCABULARY
from learning_assets.defs.export.publish import learning_export
from learning_assets.exportfiles.manifest import verify_manifest
from learning_assets.exportfiles.versions import check_directory
from learning_assets.privacy.leaks import scan_export
from learning_assets.quality.validate import (
    markdown_table,
    outcome_rows,
    validate_export,
)

GX_CHECKS = {
    "tables": ("gx_tables", ("Great Expectations suite per exported table: columns, non-null columns, value sets, "
                             "ranges, unique keys and pseudonym/name patterns (derived from the Pandera schemas).")),
    "privacy": ("gx_no_sensitive_text", ("Great Expectations: no string in any exported file (tables, lists, JSON "
                                         "values and keys) matches a path, e-mail or secret regex.")),
    "counts": ("gx_row_counts", ("Great Expectations: every table's rows agree between its Parquet file, the "
                                 "manifest, the JSON document and the anonymization report.")),
}


SPECS = {
    "manifest_intact": "Every file is listed in manifest.json with a matching SHA-256 and row count.",
    "no_sensitive_values": "Every string of every exported file is a fixed name, a pseudonym, a placeholder or text "
                           "of allowed words with no learned user, host or project name (shares no code with the "
                           "scrubber).",
    "export_json_schema": "The staged document, export_metadata.json, anonymization_report.json and manifest.json "
                          "match the JSON Schema of their declared version (schemas/export-<v>.schema.json).",
    **dict(GX_CHECKS.values()),
}


def manifest_intact(staged: Path) -> AssetCheckResult:
    problems = verify_manifest(staged)
    return AssetCheckResult(check_name="manifest_intact", passed=not problems, severity=AssetCheckSeverity.ERROR,
                            metadata={"problems": len(problems), "details": MetadataValue.json(problems[:50])})


def no_sensitive_values(staged: Path, vocabulary: dict) -> AssetCheckResult:
    findings = scan_export(staged, vocabulary)
    return AssetCheckResult(check_name="no_sensitive_values", passed=not findings,
                            severity=AssetCheckSeverity.ERROR,
                            metadata={"findings": len(findings), "details": MetadataValue.json(findings[:50])})


def export_json_schema(staged: Path) -> AssetCheckResult:
    issues = check_directory(staged)
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    rows = [{"severity": i.severity, "file": i.file, "path": i.path, "message": i.message} for i in issues[:50]]
    return AssetCheckResult(
        check_name="export_json_schema", passed=not errors, severity=AssetCheckSeverity.ERROR,
        description=f"{len(errors)} error(s), {len(warnings)} warning(s)" + (f"; first: {errors[0]}" if errors
                                                                             else ""),
        metadata={"errors": len(errors), "warnings": len(warnings),
                  "issues": MetadataValue.md(markdown_table(rows, ["severity", "file", "path", "message"]))})


def great_expectations(staged: Path, options: dict) -> Iterator[AssetCheckResult]:
    """Every GX suite over the staged export in one ephemeral context; one result per check."""
    # a time window filters the exported tables, so their rows no longer match the (unfiltered) report
    compare_report = not (options.get("since") or options.get("until"))
    run = validate_export(staged, compare_report=compare_report)
    for kind, (name, _) in GX_CHECKS.items():
        outcomes = run.of_kind(kind)
        failed = [o for o in outcomes if not o.success]
        rows = outcome_rows(failed)
        yield AssetCheckResult(
            check_name=name, passed=not failed, severity=AssetCheckSeverity.ERROR,
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


@multi_asset_check(
    name="export_checks",
    specs=[AssetCheckSpec(name, asset=learning_export, blocking=True, description=description,
                          additional_deps=[VOCABULARY] if name == "no_sensitive_values" else None)
           for name, description in SPECS.items()],
    ins={"staged": AssetIn(learning_export.key), "vocabulary": AssetIn(VOCABULARY)},
    can_subset=True,
)
def export_checks(context: AssetCheckExecutionContext, staged: dict, vocabulary: dict):
    """The selected checks over the staged export, in one step: the export is loaded once for all of them."""
    selected = {key.name for key in context.selected_asset_check_keys}
    path = Path(staged["staged_path"])
    if "manifest_intact" in selected:
        yield manifest_intact(path)
    if "no_sensitive_values" in selected:
        yield no_sensitive_values(path, vocabulary)
    if "export_json_schema" in selected:
        yield export_json_schema(path)
    if selected & {name for name, _ in GX_CHECKS.values()}:
        yield from (result for result in great_expectations(path, staged.get("options") or {})
                    if result.check_name in selected)


EXPORT_CHECKS = [export_checks]
