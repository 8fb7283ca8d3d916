"""Incremental exports as assets: daily partitions for the time-based tables, dated snapshots for the rest.

Group `daily` (partitioned by UTC day, single-run backfills):
    daily/<table> x4  ->  daily/staged_export  [blocking checks]  ->  daily/published_export
Group `snapshots` (unpartitioned):
    snapshots/<table> x3  ->  snapshots/staged_export  [blocking checks]  ->  snapshots/published_export

Table steps write into a staging directory of the run (`<export>/.staging/daily-<run id>/`); the
checks rescan it; the publish step moves files into place and updates `daily/index.json`. All logic
lives in `learning_assets.exportfiles.incremental`.
"""


import json
import os
from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)
from pydantic import Field

from learning_assets.exportfiles import incremental as inc
from learning_assets.exportfiles.manifest import verify_manifest
from learning_assets.privacy.leaks import scan_export
from learning_assets.privacy.learned import learn_source_vocabulary
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import Scrubber
from resources import Anonymization, ExportStore, Governance, SourceDirectory

# Complete UTC days from LEARNING_DAILY_START (default 2025-01-01) up to yesterday.
DAILY_START = os.environ.get("LEARNING_DAILY_START") or "2025-01-01"
DAILY_PARTITIONS = DailyPartitionsDefinition(start_date=DAILY_START, timezone="UTC")
SINGLE_RUN = BackfillPolicy.single_run()
DAILY_GROUP, SNAPSHOT_GROUP = "daily", "snapshots"
DAILY_KEYS = {t: AssetKey([DAILY_GROUP, t]) for t in inc.DAY_TABLES}
SNAPSHOT_KEYS = {t: AssetKey([SNAPSHOT_GROUP, t]) for t in inc.SNAPSHOT_TABLES}
DAILY_STAGED = AssetKey([DAILY_GROUP, "staged_export"])
DAILY_PUBLISHED = AssetKey([DAILY_GROUP, "published_export"])
SNAPSHOT_STAGED = AssetKey([SNAPSHOT_GROUP, "staged_export"])
SNAPSHOT_PUBLISHED = AssetKey([SNAPSHOT_GROUP, "published_export"])


def run_staging(context, export_store: ExportStore, kind: str) -> Path:
    """The run's staging directory; a re-execution reuses the one of its root run."""
    run = context.run
    return export_store.staged(f"{kind}-{run.root_run_id or run.run_id}")


def _open_staging(context, export_store: ExportStore, kind: str) -> Path:
    path = run_staging(context, export_store, kind)
    try:
        return export_store.stage(path.name)  # also clears stale staging dirs of crashed runs
    except FileExistsError:
        return path


def vocabulary_store(context) -> inc.VocabularyStore:
    return inc.VocabularyStore.for_instance(context.instance.root_directory)


def _consent(context, governance: Governance, source: SourceDirectory) -> None:
    governance.require_consent(context.instance, source.root())  # no consent, no export


def _warn_if_vocabulary_grew(context, added: int, export_store: ExportStore, days=()) -> None:
    """Days published earlier were scrubbed without names learned since; say how to re-scrub them."""
    published = sorted(set(inc.load_index(export_store.root())["days"]) - set(days))
    if added and published:
        context.log.warning(
            f"{added} new user/host/project name(s) learned; days exported earlier were scrubbed without them. "
            f"Re-run `learning backfill --from {published[0]} --to {published[-1]}` to re-scrub them "
            "(only days whose output changes are rewritten).")


def _table_metadata(info: dict) -> dict:
    return {"dagster/row_count": info["rows"], "rows_in": info["rows_in"],
            "anonymization_stats": MetadataValue.json(info["stats"])}


# --- daily ----------------------------------------------------------------------------------------

@multi_asset(
    name="daily_tables",
    specs=[AssetSpec(key, group_name=DAILY_GROUP, kinds={"parquet"},
                     description=f"One UTC day of {t.replace('_', ' ')}, anonymized and staged.")
           for t, key in DAILY_KEYS.items()],
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=SINGLE_RUN,
    can_subset=False,
)
def daily_tables(context: AssetExecutionContext, source: SourceDirectory, export_store: ExportStore,
                 anonymization: Anonymization, governance: Governance):
    _consent(context, governance, source)
    days = sorted(context.partition_keys)
    root, tz = source.root(), source.tz()
    store = vocabulary_store(context)
    added = store.added if inc.learn_snapshot_vocabulary(store, root, tz, learn_source_vocabulary) else 0
    reads = inc.read_days(root, tz, days)
    vocabulary = store.merge(learn_source_vocabulary(root, reads.frames.values()))
    _warn_if_vocabulary_grew(context, added + store.added, export_store, days)
    pseudonymize = Pseudonymizer(anonymization.secret())
    scrubber = Scrubber(pseudonymize, vocabulary)
    staging = _open_staging(context, export_store, "daily")
    for day, raw in reads.by_day(days).items():
        tables, info = inc.anonymize_tables(raw, pseudonymize, scrubber, day=day)
        inc.write_day(staging / day, day, tables, info, anonymization.k)
        for table, key in DAILY_KEYS.items():
            context.add_asset_metadata(_table_metadata(info[table]), asset_key=key, partition_key=day)
    for table, key in DAILY_KEYS.items():
        read = reads.tables[table]
        yield MaterializeResult(asset_key=key, metadata={
            "source_files": len(read.files), "skipped_source_records": len(read.skipped),
            "undated_source_records": reads.undated.get(table, 0)})


@asset(key=DAILY_STAGED, group_name=DAILY_GROUP, deps=list(DAILY_KEYS.values()), partitions_def=DAILY_PARTITIONS,
       backfill_policy=SINGLE_RUN,
       description="Each day's file set (four tables and a manifest), staged out of sight until the checks pass.")
def daily_staged_export(context: AssetExecutionContext, export_store: ExportStore) -> MaterializeResult:
    staging = run_staging(context, export_store, "daily")
    missing = [d for d in context.partition_keys if not (staging / d / "manifest.json").is_file()]
    if missing:
        raise FileNotFoundError(f"no staged files for {', '.join(missing[:5])} in {staging}")
    for day in context.partition_keys:
        manifest = json.loads((staging / day / "manifest.json").read_text())
        context.add_asset_metadata({"rows": {f["table"]: f["rows"] for f in manifest["files"]},
                                    "bytes": sum(f["bytes"] for f in manifest["files"])}, partition_key=day)
    return MaterializeResult(metadata={"staging": MetadataValue.path(str(staging)),
                                       "days": len(context.partition_keys)})


@asset(key=DAILY_PUBLISHED, group_name=DAILY_GROUP, deps=[DAILY_STAGED], partitions_def=DAILY_PARTITIONS,
       backfill_policy=SINGLE_RUN,
       description="The days' files moved into export/daily/ and recorded in export/daily/index.json.")
def daily_published_export(context: AssetExecutionContext, export_store: ExportStore, source: SourceDirectory,
                           governance: Governance) -> MaterializeResult:
    staging = run_staging(context, export_store, "daily")
    _consent(context, governance, source)  # consent may have been revoked while the run was going
    statuses = inc.publish_days(export_store.root(), staging, sorted(context.partition_keys), run_id=context.run_id)
    export_store.discard(staging.name)
    for day, status in statuses.items():
        context.add_asset_metadata({"status": status}, partition_key=day)
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in set(statuses.values())}
    context.log.info(f"daily export: {counts} in {inc.index_path(export_store.root())}")
    return MaterializeResult(metadata={"index": MetadataValue.path(str(inc.index_path(export_store.root()))),
                                       "statuses": MetadataValue.json(counts)})


# --- snapshots ------------------------------------------------------------------------------------

class SnapshotConfig(Config):
    as_of: str | None = Field(default=None, description="Date of the snapshot (YYYY-MM-DD); default: today (UTC).")


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


@multi_asset(
    name="snapshot_tables",
    specs=[AssetSpec(key, group_name=SNAPSHOT_GROUP, kinds={"parquet"},
                     description=f"A dated snapshot of the {t.replace('_', ' ')}, anonymized and staged.")
           for t, key in SNAPSHOT_KEYS.items()],
    can_subset=False,
)
def snapshot_tables(context: AssetExecutionContext, config: SnapshotConfig, source: SourceDirectory,
                    export_store: ExportStore, anonymization: Anonymization, governance: Governance):
    _consent(context, governance, source)
    as_of = inc.parse_day(config.as_of, "as_of").isoformat() if config.as_of else _today()
    root, tz = source.root(), source.tz()
    fingerprints = inc.snapshot_source_fingerprints(root)
    reads = inc.read_snapshot_tables(root, tz)
    raw = {t: r.frame() for t, r in reads.items()}
    store = vocabulary_store(context)
    vocabulary = store.merge(learn_source_vocabulary(root, raw.values()), sources=fingerprints)
    _warn_if_vocabulary_grew(context, store.added, export_store)
    pseudonymize = Pseudonymizer(anonymization.secret())
    tables, info = inc.anonymize_tables(raw, pseudonymize, Scrubber(pseudonymize, vocabulary))
    staging = _open_staging(context, export_store, "snapshot")
    manifest = inc.write_snapshot(staging / as_of, as_of, tables, info, anonymization.k, export_store.root())
    changes = json.loads((staging / as_of / "changes.json").read_text())["tables"]
    for table, key in SNAPSHOT_KEYS.items():
        c = changes[table]
        yield MaterializeResult(asset_key=key, metadata={
            **_table_metadata(info[table]), "as_of": as_of, "since": manifest["since"] or MetadataValue.null(),
            "added": len(c["added"]), "changed": len(c["changed"]), "removed": len(c["removed"]),
            "skipped_source_records": len(reads[table].skipped)})


def _staged_snapshot(staging: Path) -> Path:
    dates = sorted(p for p in staging.iterdir() if p.is_dir()) if staging.is_dir() else []
    if len(dates) != 1:
        raise FileNotFoundError(f"{staging}: expected one staged snapshot, found {len(dates)}")
    return dates[0]


@asset(key=SNAPSHOT_STAGED, group_name=SNAPSHOT_GROUP, deps=list(SNAPSHOT_KEYS.values()),
       description="The snapshot's files, changes.json and manifest, staged out of sight until the checks pass.")
def snapshot_staged_export(context: AssetExecutionContext, export_store: ExportStore) -> MaterializeResult:
    staged = _staged_snapshot(run_staging(context, export_store, "snapshot"))
    manifest = json.loads((staged / "manifest.json").read_text())
    return MaterializeResult(metadata={"as_of": staged.name, "since": manifest["since"] or MetadataValue.null(),
                                       "staging": MetadataValue.path(str(staged))})


@asset(key=SNAPSHOT_PUBLISHED, group_name=SNAPSHOT_GROUP, deps=[SNAPSHOT_STAGED],
       description="The snapshot moved into export/snapshots/<date>/ and recorded in export/daily/index.json "
                   "(nothing is written when no table changed since the previous snapshot).")
def snapshot_published_export(context: AssetExecutionContext, export_store: ExportStore, source: SourceDirectory,
                              governance: Governance) -> MaterializeResult:
    staging = run_staging(context, export_store, "snapshot")
    staged = _staged_snapshot(staging)
    _consent(context, governance, source)
    status = inc.publish_snapshot(export_store.root(), staged, staged.name, run_id=context.run_id)
    export_store.discard(staging.name)
    context.log.info(f"snapshot {staged.name}: {status}")
    return MaterializeResult(metadata={"as_of": staged.name, "status": status,
                                       "index": MetadataValue.path(str(inc.index_path(export_store.root())))})


# --- blocking checks on the staged sets ------------------------------------------------------------

def _staged_checks(target: AssetKey, kind: str, prefix: str) -> list:
    @asset_check(asset=target, name=f"{prefix}_manifest_intact", blocking=True,
                 description="Every staged file is listed in its manifest with a matching SHA-256 and row count.")
    def manifest_intact(context: AssetCheckExecutionContext, export_store: ExportStore) -> AssetCheckResult:
        staging = run_staging(context, export_store, kind)
        sets = sorted(p for p in staging.iterdir() if p.is_dir()) if staging.is_dir() else []
        problems = [f"{d.name}/{p}" for d in sets for p in verify_manifest(d)]
        if not sets:
            problems.append(f"nothing staged in {staging.name}")
        return AssetCheckResult(passed=not problems, severity=AssetCheckSeverity.ERROR,
                                metadata={"sets": len(sets), "problems": len(problems),
                                          "details": MetadataValue.json(problems[:50])})

    @asset_check(asset=target, name=f"{prefix}_no_sensitive_values", blocking=True,
                 description="Every staged string is a fixed name, a pseudonym, a placeholder or text of allowed "
                             "words with no source name learned so far (the cumulative vocabulary).")
    def no_sensitive_values(context: AssetCheckExecutionContext, export_store: ExportStore) -> AssetCheckResult:
        staging = run_staging(context, export_store, kind)
        findings = scan_export(staging, vocabulary_store(context).load().as_dict()) if staging.is_dir() else [
            {"file": staging.name, "location": "", "rule": "missing", "sample": ""}]
        return AssetCheckResult(passed=not findings, severity=AssetCheckSeverity.ERROR,
                                metadata={"findings": len(findings), "details": MetadataValue.json(findings[:50])})

    return [manifest_intact, no_sensitive_values]


DAILY_ASSETS = [daily_tables, daily_staged_export, daily_published_export]
SNAPSHOT_ASSETS = [snapshot_tables, snapshot_staged_export, snapshot_published_export]
INCREMENTAL_ASSETS = [*DAILY_ASSETS, *SNAPSHOT_ASSETS]
INCREMENTAL_CHECKS = [*_staged_checks(DAILY_STAGED, "daily", "daily"),
                      *_staged_checks(SNAPSHOT_STAGED, "snapshot", "snapshot")]
