"""Blocking asset checks on the staged export: nothing is published unless they pass."""


from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from learning_assets.memory import heavy_step
from learning_assets.assets.export import learning_export
from learning_assets.export import verify_manifest
from learning_assets.leaks import scan_export


@asset_check(asset=learning_export, blocking=True,
             description="Every file is listed in manifest.json with a matching SHA-256 and row count.")
def manifest_intact(learning_export: dict) -> AssetCheckResult:
    problems = verify_manifest(Path(learning_export["staged_path"]))
    return AssetCheckResult(passed=not problems, severity=AssetCheckSeverity.ERROR,
                            metadata={"problems": len(problems),
                                      "details": MetadataValue.json(problems[:50])})


@asset_check(asset=learning_export, blocking=True,
             additional_ins={"vocabulary": AssetIn("anonymization_vocabulary")},
             description="Every string of every exported file is a fixed name, a pseudonym, a placeholder or text "
                         "of allowed words with no learned user, host or project name (shares no code with "
                         "the scrubber).")
@heavy_step
def no_sensitive_values(learning_export: dict, vocabulary: dict) -> AssetCheckResult:
    findings = scan_export(Path(learning_export["staged_path"]), vocabulary)
    return AssetCheckResult(passed=not findings, severity=AssetCheckSeverity.ERROR,
                            metadata={"findings": len(findings),
                                      "details": MetadataValue.json(findings[:50])})


EXPORT_CHECKS = [manifest_intact, no_sensitive_values]
