"""The export: staged and checked, then published atomically; plus the anonymization report."""


import json

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    DagsterEventType,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from learning_assets.defs.export.anonymized import VOCABULARY
from learning_assets.exportfiles.atomic import new_export_id
from learning_assets.exportfiles.document import build_document, export_metadata
from learning_assets.exportfiles.report import build_report
from learning_assets.exportfiles.write import write_export
from learning_assets.governance.audit import record_export
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import Scrubber, Vocabulary
from learning_assets.sources.window import validate
from learning_assets.tables import TABLE_NAMES, filter_window
from resources import Anonymization, ExportStore, Governance, SourceDirectory

EXPORT_GROUP = "export"

ANONYMIZED_KEYS = {name: AssetKey(["anonymized", name]) for name in TABLE_NAMES}


def _latest_metadata(context: AssetExecutionContext, keys: list[AssetKey]) -> dict[AssetKey, dict]:
    """The metadata of each asset's latest materialization (one query for all of them)."""
    events = context.instance.get_latest_materialization_events(keys)
    out = {}
    for key in keys:
        event = events.get(key)
        materialization = event.asset_materialization if event is not None else None
        out[key] = {k: v.value for k, v in materialization.metadata.items()} if materialization else {}
    return out


def check_results(instance, run_id: str) -> list[dict]:
    """The asset checks evaluated in a run, with their outcome."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    results = []
    for rec in records:
        evaluation = rec.event_log_entry.dagster_event.event_specific_data
        results.append({"check": evaluation.check_name, "asset": evaluation.asset_key.to_user_string(),
                        "passed": bool(evaluation.passed)})
    return results


@asset(group_name=EXPORT_GROUP, deps=list(ANONYMIZED_KEYS.values()),
       ins={"vocabulary": AssetIn(VOCABULARY)},
       description="What every anonymization rule did and what was skipped. Part of the export.")
def anonymization_report(context: AssetExecutionContext, anonymization: Anonymization, vocabulary: dict) -> Output:
    """Warnings name source files and what was wrong with them: they leave only as allowed words."""
    scrubber = Scrubber(Pseudonymizer(anonymization.secret()), Vocabulary.from_dict(vocabulary))
    raw_keys = {name: AssetKey(["raw", name]) for name in ANONYMIZED_KEYS}
    metadata = _latest_metadata(context, [*ANONYMIZED_KEYS.values(), *raw_keys.values()])
    per_table = {}
    for name, key in ANONYMIZED_KEYS.items():
        anon, raw = metadata[key], metadata[raw_keys[name]]
        per_table[name] = {"stats": anon.get("anonymization_stats") or {},
                           "rows_in": anon.get("rows_in", 0), "rows_out": anon.get("dagster/row_count", 0),
                           "skipped": raw.get("skipped", 0),
                           "warnings": [scrubber.clean_message(w) for w in raw.get("warnings") or []]}
    report = build_report(per_table, anonymization.k)
    return Output(report, metadata={"tokens_not_allowed": report["rules"]["tokens_not_allowed"],
                                    "warnings": len(report["warnings"]), "report": MetadataValue.json(report)})


class ExportConfig(Config):
    parquet: bool = Field(default=True, description="Write one Parquet file per table.")
    json_document: bool = Field(default=True, description="Write the JSON document.")
    compress_json: bool = Field(default=False, description="gzip the JSON document.")
    since: str | None = Field(default=None, description="Time-based tables: from this day (YYYY-MM-DD, UTC).")
    until: str | None = Field(default=None, description="Time-based tables: up to this day, inclusive.")


def _framework_version(source: SourceDirectory) -> str:
    try:
        metrics = json.loads((source.root() / "analytics" / "metrics.json").read_text())
        return str(metrics.get("framework_version") or "unknown")
    except (OSError, ValueError, AttributeError):
        return "unknown"


@asset(
    group_name=EXPORT_GROUP,
    ins={**{name: AssetIn(key) for name, key in ANONYMIZED_KEYS.items()},
         "report": AssetIn("anonymization_report")},
    description="The complete export, staged out of sight until its blocking checks pass.",
)
def learning_export(context: AssetExecutionContext, config: ExportConfig, source: SourceDirectory,
                    export_store: ExportStore, anonymization: Anonymization, governance: Governance,
                    report: dict, **tables: pd.DataFrame) -> Output:
    governance.require_consent(context.instance, source.root())  # no consent, no export
    tables, outside_window = filter_window(tables, *validate(config.since, config.until))
    project = Pseudonymizer(anonymization.secret())("project", str(source.root().resolve()))
    metadata = export_metadata(project, _framework_version(source), anonymization.k)
    document = build_document(tables, metadata, report)
    export_id = new_export_id()
    staged = export_store.stage(export_id)
    try:
        manifest = write_export(staged, tables, document, report, parquet=config.parquet,
                                json_document=config.json_document, compress_json=config.compress_json)
    except BaseException:
        export_store.discard(export_id)
        raise
    files = pd.DataFrame(manifest["files"])
    return Output({"export_id": export_id, "staged_path": str(staged), "manifest": manifest, "project": project,
                   "options": config.model_dump()}, metadata={
        "export_id": export_id,
        "files": len(files),
        "bytes": int(files["bytes"].sum()),
        "rows": {n: int(len(t)) for n, t in tables.items()},
        **({"rows_outside_window": outside_window} if outside_window else {}),
        "manifest": MetadataValue.md(files.drop(columns=["sha256"]).fillna("").to_markdown(index=False)),
    })


@asset(group_name=EXPORT_GROUP, ins={"export": AssetIn("learning_export")},
       description="The published export: moved into exports/ in one atomic rename once every check passed.")
def published_export(context: AssetExecutionContext, export: dict, export_store: ExportStore,
                     source: SourceDirectory, governance: Governance) -> Output:
    try:  # consent may have been revoked while the run was going
        governance.require_consent(context.instance, source.root())
    except Exception:
        export_store.discard(export["export_id"])
        raise
    path = export_store.publish(export["export_id"])
    record_export(governance.directory(context.instance), checks=check_results(context.instance, context.run_id),
                  run_id=context.run_id,
                  export=export, path=path, source=str(source.root()))
    context.log.info(f"export published at {path}")
    return Output({"export_id": export["export_id"], "path": str(path)},
                  metadata={"export_path": MetadataValue.path(str(path)), "export_id": export["export_id"]})


EXPORT_ASSETS = [anonymization_report, learning_export, published_export]
