"""Performance scenarios through the real Dagster assets.

    python benchmarks/run.py [--scales sample,typical,large] [--repeat 3]

Generates each scale once (cached under benchmarks/out/), then for every scale runs a full export
in a fresh subprocess (so peak RSS is that run's own) and a floor: reading the analytics JSONL with
pyarrow and writing it as Parquet, with no anonymization. Prints one table; medians of --repeat runs.
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

OUT = Path(__file__).resolve().parent / "out"
ANALYTICS_STEPS = ("raw__agent_executions", "anonymized__agent_executions")


def source_for(scale: str) -> Path:
    root = OUT / scale / ".tapps-agents"
    if not (root / "analytics").is_dir():
        from learning_assets.generator import SCALES, generate

        generate(root, SCALES[scale], seed=7)
    return root


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_full(source: str) -> dict:
    """One full export in this process; returns timings, rows, memory and size."""
    t0 = time.perf_counter()
    import warnings

    warnings.filterwarnings("ignore")
    from dagster import DagsterInstance, DagsterEventType

    from learning_assets.consent import ConsentStore
    from learning_assets.definitions import build_definitions
    from resources import Anonymization, ExportStore, Governance, SourceDirectory, TableIOManager

    import_s = time.perf_counter() - t0
    baseline = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        defs = build_definitions(source=source, output=str(tmp / "export"))
        job = defs.resolve_job_def("learning_export_job")
        ConsentStore(tmp / "home").grant(source)
        resources = {"source": SourceDirectory(path=source), "export_store": ExportStore(path=str(tmp / "export")),
                     "anonymization": Anonymization(key="b" * 40), "io_manager": TableIOManager(base_dir=str(tmp / "s")),
                     "governance": Governance(home=str(tmp / "home"))}
        with DagsterInstance.ephemeral(tempdir=str(tmp / "dagster_home")) as instance:
            start = time.perf_counter()
            result = job.execute_in_process(
                instance=instance, resources=resources, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            seconds = time.perf_counter() - start
            steps: dict[str, float] = {}
            starts: dict[str, float] = {}
            for record in instance.get_records_for_run(result.run_id).records:
                entry = record.event_log_entry
                event = entry.dagster_event
                if event is None or not event.step_key:
                    continue
                if event.event_type == DagsterEventType.STEP_START:
                    starts[event.step_key] = entry.timestamp
                elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                    steps[event.step_key] = entry.timestamp - starts.get(event.step_key, entry.timestamp)
        export = next((tmp / "export" / "exports").iterdir(), None) if result.success else None
        manifest = json.loads((export / "manifest.json").read_text()) if export else {"files": []}
        return {
            "success": result.success, "seconds": seconds, "import_seconds": import_s,
            "rows": sum(f.get("rows", 0) for f in manifest["files"]),
            "analytics_seconds": sum(steps.get(s, 0.0) for s in ANALYTICS_STEPS),
            "slowest_steps": sorted(steps.items(), key=lambda kv: -kv[1])[:5],
            "peak_rss_mb": _rss_mb(), "baseline_rss_mb": baseline,
            "output_bytes": _dir_bytes(export) if export else 0,
        }


def run_floor(source: str) -> dict:
    """Read every agents-*.jsonl with pyarrow and write one Parquet file: no anonymization, no checks."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    baseline = _rss_mb()
    files = sorted((Path(source) / "analytics" / "history").glob("agents-*.jsonl"))
    with tempfile.TemporaryDirectory() as tmp:
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
    return {"seconds": seconds, "rows": table.num_rows, "peak_rss_mb": _rss_mb(), "baseline_rss_mb": baseline}


def in_subprocess(kind: str, source: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(source)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="sample,typical")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source = args.child
        print(json.dumps(run_full(source) if kind == "full" else run_floor(source)))
        return
    rows = []
    for scale in args.scales.split(","):
        source = source_for(scale)
        full = [in_subprocess("full", source) for _ in range(args.repeat)]
        floor = [in_subprocess("floor", source) for _ in range(args.repeat)]
        med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
        secs, floor_secs = med(full, "seconds"), med(floor, "seconds")
        rows.append({
            "scenario": f"{scale} full export", "rows": full[0]["rows"], "seconds": secs,
            "rows_per_s": full[0]["rows"] / secs, "import_s": med(full, "import_seconds"),
            "peak_rss_mb": med(full, "peak_rss_mb") - med(full, "baseline_rss_mb"),
            "output_mb": full[0]["output_bytes"] / 1e6,
            "ratio": med(full, "analytics_seconds") / floor_secs if floor_secs else float("nan"),
            "ok": all(r["success"] for r in full),
        })
        rows.append({
            "scenario": f"{scale} floor (pyarrow jsonl->parquet)", "rows": floor[0]["rows"], "seconds": floor_secs,
            "rows_per_s": floor[0]["rows"] / floor_secs, "import_s": 0.0,
            "peak_rss_mb": med(floor, "peak_rss_mb") - med(floor, "baseline_rss_mb"), "output_mb": 0.0,
            "ratio": 1.0, "ok": True,
        })
        print(f"{scale}: slowest steps {full[0]['slowest_steps']}", file=sys.stderr)
    header = f"| {'scenario':<40} | {'rows':>9} | {'seconds':>8} | {'rows/s':>9} | {'imports s':>9} | " \
             f"{'peak RSS MB':>11} | {'output MB':>9} | {'vs floor':>8} | ok |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['scenario']:<40} | {r['rows']:>9,} | {r['seconds']:>8.2f} | {r['rows_per_s']:>9,.0f} | "
              f"{r['import_s']:>9.2f} | {r['peak_rss_mb']:>11.0f} | {r['output_mb']:>9.2f} | {r['ratio']:>8.2f} | "
              f"{'yes' if r['ok'] else 'NO'} |")


if __name__ == "__main__":
    main()
