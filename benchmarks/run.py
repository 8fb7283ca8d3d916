"""Performance scenarios through the real Dagster assets.

    python -m benchmarks.run [--scales sample,typical,large] [--repeat 3] [--steps]

Generates each scale once (cached under benchmarks/out/), then for every scale runs, each in a fresh
subprocess (so peak memory is that run's own):
- full: `learning_export_job`, every check included;
- floor: reading the analytics JSONL with pyarrow and writing it as Parquet, no anonymization;
- one day: `daily_export_job` for the last day, after the day before was exported (the schedule's
  everyday run).
Imports (Dagster, pandas, and the modules imported lazily: Great Expectations, detect-secrets,
jsonschema, Pandera's checks, ...) happen before the clock starts and are reported
on their own. The Dagster instance is ephemeral (in memory), with the project's log level (dagster.yaml).
--repeat rounds of runs, one of each scenario per round; seconds are medians, ratios the median of each
round's ratio; peak MB is the run's own peak RSS. Prints one table. --steps also prints each step's time
of the first full run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.export import source_for

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent
DAGSTER_YAML = REPO / "dagster.yaml"
# Imported by the first run in a process, not by importing the definitions.
LAZY_MODULES = ("encodings.utf_8_sig", "jsonschema", "multiprocessing.synchronize",
                "pandera.accessors.pandas_accessor", "pandera.backends.pandas.builtin_checks",
                "pandera.backends.pandas.register", "learning_assets.exportfiles.versions", "tabulate")
# The analytics path compared with the floor: agent executions read, anonymized, type-checked, stored and
# validated (their share of the multi-table steps).
ANALYTICS_TABLES = (("raw", "agent_executions"), ("anonymized", "agent_executions"))


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """This process's peak RSS (from the kernel) above what it held at the start."""

    def __enter__(self) -> PeakMemory:
        self.baseline = _rss_mb()
        return self

    def __exit__(self, *exc) -> None:
        self.peak_mb = _rss_mb() - self.baseline


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def import_everything() -> float:
    """Import what a run uses, lazily imported libraries included; returns the seconds it took."""
    t0 = time.perf_counter()
    import warnings

    warnings.filterwarnings("ignore")
    import importlib

    import learning_assets.definitions  # noqa: F401

    for module in LAZY_MODULES:
        importlib.import_module(module)
    from learning_assets.privacy.scrub import _detect_secrets_scanner
    from learning_assets.quality.validate import _gx

    _gx()
    _detect_secrets_scanner()
    return time.perf_counter() - t0


def ephemeral_instance(directory: Path):
    """An in-memory Dagster instance (its local artifacts in `directory`) with the project's log level,
    as `learning export` runs with."""
    import yaml
    from dagster import DagsterInstance

    python_logs = (yaml.safe_load(DAGSTER_YAML.read_text()) or {}).get("python_logs")
    return DagsterInstance.ephemeral(tempdir=str(directory),
                                     settings={"python_logs": python_logs} if python_logs else None)


def resources_for(source: str, tmp: Path) -> dict:
    from learning_assets.governance.consent import ConsentStore
    from resources import (
        Anonymization,
        ExportStore,
        Governance,
        SourceDirectory,
        TableIOManager,
    )

    ConsentStore(tmp / "home").grant(source)
    return {"source": SourceDirectory(path=source), "export_store": ExportStore(path=str(tmp / "export")),
            "anonymization": Anonymization(key="b" * 40), "io_manager": TableIOManager(base_dir=str(tmp / "s")),
            "governance": Governance(home=str(tmp / "home"))}


def step_times(instance, run_id: str) -> tuple[dict[str, float], dict[tuple[str, ...], float]]:
    """Seconds per step, and per table of the multi-table steps: from the end of the previous table's
    schema check to the end of its own (reading or anonymizing, type check, storing, Pandera check)."""
    from dagster import DagsterEventType

    steps: dict[str, float] = {}
    tables: dict[tuple[str, ...], float] = {}
    last: dict[str, float] = {}
    for record in instance.get_records_for_run(run_id).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            last[event.step_key] = steps[event.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            key = tuple(event.event_specific_data.asset_key.path)
            tables[key] = entry.timestamp - last[event.step_key]
            last[event.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key] = entry.timestamp - steps.get(event.step_key, entry.timestamp)
    return steps, tables


def run_full(source: str) -> dict:
    """One full export in this process; returns timings, rows, memory and size."""
    import_s = import_everything()
    from learning_assets.definitions import build_definitions

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        defs = build_definitions(source=source, output=str(tmp / "export"))
        job = defs.resolve_job_def("learning_export_job")
        resources = resources_for(source, tmp)
        with PeakMemory() as memory, ephemeral_instance(tmp / "dagster_home") as instance:
            start = time.perf_counter()
            result = job.execute_in_process(instance=instance, resources=resources, raise_on_error=False,
                                            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            seconds = time.perf_counter() - start
            steps, table_seconds = step_times(instance, result.run_id)
        export = next((tmp / "export" / "exports").iterdir(), None) if result.success else None
        manifest = json.loads((export / "manifest.json").read_text()) if export else {"files": []}
        return {
            "success": result.success, "seconds": seconds, "import_seconds": import_s,
            "rows": sum(f.get("rows", 0) for f in manifest["files"]),
            "analytics_seconds": sum(table_seconds.get(key, 0.0) for key in ANALYTICS_TABLES),
            "steps": sorted(steps.items(), key=lambda kv: -kv[1]),
            "peak_mb": memory.peak_mb,
            "output_bytes": _dir_bytes(export) if export else 0,
        }


def run_floor(source: str) -> dict:
    """Read every agents-*.jsonl with pyarrow and write one Parquet file: no anonymization, no checks."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    files = sorted((Path(source) / "analytics" / "history").glob("agents-*.jsonl"))
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as memory:
        start = time.perf_counter()
        tables = []
        for path in files:
            try:
                tables.append(pj.read_json(path))
            except pa.ArrowInvalid:  # the damaged days; the floor just drops them
                continue
        table = pa.concat_tables(tables, promote_options="permissive")
        pq.write_table(table, Path(tmp) / "agents.parquet", compression="zstd")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": table.num_rows, "peak_mb": memory.peak_mb}


def run_one_day(source: str) -> dict:
    """The daily schedule's run: the last day, with the day before already exported on this instance."""
    import_s = import_everything()
    from learning_assets.defs.incremental.run import run_backfill
    from learning_assets.sources.readers import history_days

    day_before, last = history_days(Path(source))[-2:]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        resources = resources_for(source, tmp)
        with PeakMemory() as memory, ephemeral_instance(tmp / "dagster_home") as instance:
            run_backfill(day_before, day_before, instance=instance, resources=resources, log_level="ERROR")
            start = time.perf_counter()
            result = run_backfill(last, last, instance=instance, resources=resources, log_level="ERROR")
            seconds = time.perf_counter() - start
        export = tmp / "export"
        return {"success": result.statuses.get(last) in ("published", "replaced", "unchanged"),
                "status": result.statuses.get(last), "seconds": seconds, "import_seconds": import_s,
                "rows": sum(result.rows.get(last, {}).values()), "peak_mb": memory.peak_mb,
                "output_bytes": _dir_bytes(export) if export.is_dir() else 0}


CHILDREN = {"full": run_full, "floor": run_floor, "day": run_one_day}


def in_subprocess(kind: str, source: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.run", "--child", kind, str(source)],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


KINDS = ("full", "floor", "day")


def measured(source: Path, repeat: int) -> dict[str, list[dict]]:
    """`repeat` rounds of runs, one of each scenario per round, so that the VM's drift in speed hits
    them alike."""
    runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for _ in range(repeat):
        for kind in KINDS:
            runs[kind].append(in_subprocess(kind, source))
    return runs


def _row(scenario: str, runs: list[dict], ratio: float, ratio_label: str) -> dict:
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    return {"scenario": scenario, "rows": runs[0]["rows"], "seconds": med("seconds"),
            "rows_per_s": runs[0]["rows"] / med("seconds"), "import_s": med("import_seconds"),
            "peak_mb": med("peak_mb"), "output_mb": runs[0]["output_bytes"] / 1e6,
            "ratio": f"{ratio:.2f} {ratio_label}", "ok": all(r["success"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="sample,typical")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", action="store_true", help="print every step's time of the first full run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source = args.child
        print(json.dumps(CHILDREN[kind](source)))
        return
    rows = []
    for scale in args.scales.split(","):
        source = source_for(scale)
        runs = measured(source, args.repeat)
        full, floor, day = (runs[kind] for kind in KINDS)
        for r in floor:
            r.update(import_seconds=0.0, output_bytes=0, success=True)
        # each round's ratio, then their median: runs of one round met the VM at the same speed
        floor_ratio = statistics.median(f["analytics_seconds"] / fl["seconds"] for f, fl in zip(full, floor))
        day_share = statistics.median(100 * d["seconds"] / f["seconds"] for d, f in zip(day, full))
        rows.append(_row(f"{scale} full export", full, floor_ratio, "x floor (analytics path)"))
        rows.append(_row(f"{scale} floor: pyarrow jsonl->parquet", floor, 1.0, "x floor"))
        rows.append(_row(f"{scale} one day, incremental", day, day_share, "% of full"))
        steps = full[0]["steps"] if args.steps else full[0]["steps"][:6]
        print(f"{scale} full export, step seconds: " + ", ".join(f"{k} {t:.2f}" for k, t in steps),
              file=sys.stderr)
    header = (f"| {'scenario':<36} | {'rows':>9} | {'seconds':>7} | {'rows/s':>9} | {'imports s':>9} | "
              f"{'peak MB':>11} | {'output MB':>9} | {'ratio':<28} | ok |")
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['scenario']:<36} | {r['rows']:>9,} | {r['seconds']:>7.2f} | {r['rows_per_s']:>9,.0f} | "
              f"{r['import_s']:>9.2f} | {r['peak_mb']:>11.0f} | {r['output_mb']:>9.2f} | {r['ratio']:<28} | "
              f"{'yes' if r['ok'] else 'NO'} |")


if __name__ == "__main__":
    main()
