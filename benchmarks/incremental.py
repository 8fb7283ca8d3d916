"""Benchmark: a one-day incremental export against a full export of the whole history.

Generates a `.tapps-agents/` directory (default: scale "typical", 90 days), then times, each against
its own fresh Dagster instance and export directory unless noted:

  full      learning_export_job: every table, the whole history (the quick-start path)
  backfill  daily_export_job over all days, one run (what a first backfill costs)
  day-warm  daily_export_job for the last day, after the backfill (the everyday incremental run)
  day-cold  daily_export_job for the last day on a fresh instance (first run: also learns the names
            in capabilities and patterns once)

Usage: python -m benchmarks.incremental [--scale typical] [--days 90] [--seed 7] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

warnings.filterwarnings("ignore")
from benchmarks.generator import SCALES, generate  # noqa: E402
from benchmarks.run import ephemeral_instance  # noqa: E402
from learning_assets.defs.incremental.run import run_backfill  # noqa: E402
from learning_assets.governance.consent import ConsentStore  # noqa: E402
from resources import (  # noqa: E402
    Anonymization,
    ExportStore,
    Governance,
    SourceDirectory,
    TableIOManager,
)

KEY = "benchmark-key-" + "0" * 40


def resources(source: Path, work: Path, name: str) -> dict:
    home = work / f"{name}_home"
    ConsentStore(home).grant(source)
    return {"source": SourceDirectory(path=str(source)), "export_store": ExportStore(path=str(work / f"{name}_export")),
            "anonymization": Anonymization(key=KEY), "io_manager": TableIOManager(base_dir=str(work / f"{name}_io")),
            "governance": Governance(home=str(home))}


def full_export(source: Path, work: Path) -> tuple[float, int, int, str]:
    from learning_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("learning_export_job")
    with ephemeral_instance(work / "full_instance") as instance:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, resources=resources(source, work, "full"),
                                        raise_on_error=False,
                                        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        seconds = time.perf_counter() - started
        starts, steps = {}, []
        for rec in instance.all_logs(result.run_id):
            event = rec.dagster_event
            if event is not None and event.event_type_value == "STEP_START":
                starts[event.step_key] = rec.timestamp
            elif event is not None and event.event_type_value == "STEP_SUCCESS":
                steps.append((rec.timestamp - starts.get(event.step_key, rec.timestamp), event.step_key))
        print("full export, slowest steps: " + ", ".join(f"{k} {d:.1f}s" for d, k in sorted(steps, reverse=True)[:4]))
        rows_in = rows_out = 0
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            if mat.asset_key.path[0] == "anonymized" and "rows_in" in mat.metadata:
                rows_in += int(mat.metadata["rows_in"].value)
                rows_out += int(mat.metadata["dagster/row_count"].value)
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
    note = f"  FAILED at {', '.join(failed)} (time is up to the failure)" if failed else ""
    return seconds, rows_in, rows_out, note


def daily(source: Path, work: Path, name: str, start: str, end: str, instance,
          res: dict) -> tuple[float, int, int, str]:
    started = time.perf_counter()
    result = run_backfill(start, end, instance=instance, resources=res, log_level="ERROR")
    seconds = time.perf_counter() - started
    rows_out = sum(n for day in result.rows.values() for n in day.values())
    import json

    rows_in = 0
    for day in result.days:
        manifest = json.loads((Path(res["export_store"].root()) / "daily" / "manifests" / f"{day}.json").read_text())
        rows_in += sum(a["rows_in"] for a in manifest["anonymization"].values())
    return seconds, rows_in, rows_out, ""


def line(name: str, what: str, seconds: float, rows_in: int, rows_out: int, note: str = "") -> str:
    rate = rows_in / seconds if seconds else 0.0
    return (f"{name:<9} {what:<34} {seconds:8.2f} s {rows_in:>9} rows in {rows_out:>9} rows out "
            f"{rate:>10,.0f} rows/s{note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="typical", choices=sorted(SCALES))
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the data and exports here")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="learning-incremental-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    end = datetime.now(timezone.utc).date() - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    scale = dataclasses.replace(SCALES[args.scale], days=args.days, start=start)
    t = time.perf_counter()
    data = generate(work / "project" / ".tapps-agents", scale, seed=args.seed)
    print(f"generated {args.scale} x {args.days} days ({start}..{end}) in {time.perf_counter() - t:.1f}s: "
          f"{data.counts['agent_events']} agent events, {data.counts['workflow_events']} workflow events, "
          f"{data.counts['memories']} memories, {data.counts['outcomes']} outcomes, "
          f"{data.counts['capabilities']} capabilities, {data.counts['patterns']} patterns")
    source, first, last = data.root, start.isoformat(), end.isoformat()

    results = [("full", f"full export, {args.days} days", *full_export(source, work))]
    res = resources(source, work, "daily")
    with ephemeral_instance(work / "daily_instance") as instance:
        results.append(("backfill", f"daily backfill, {args.days} days, 1 run",
                        *daily(source, work, "daily", first, last, instance, res)))
        results.append(("day-warm", f"one day ({last}), after backfill",
                        *daily(source, work, "daily", last, last, instance, res)))
        # the same day with changed data: forces a real replace
        with open(source / "analytics" / "history" / f"agents-{last}.jsonl", "a") as fh:
            fh.write('{"agent_id": "reviewer", "agent_name": "Reviewer Agent", "duration": 1.0, "success": true, '
                     f'"timestamp": "{last}T12:00:00+00:00"}}\n')
        results.append(("day-edit", "one day, after adding an event",
                        *daily(source, work, "daily", last, last, instance, res)))
    cold = resources(source, work, "cold")
    with ephemeral_instance(work / "cold_instance") as instance:
        results.append(("day-cold", "one day, fresh instance",
                        *daily(source, work, "cold", last, last, instance, cold)))
    print()
    for r in results:
        print(line(*r))
    full, warm = results[0][2], results[2][2]
    print(f"\none-day incremental (warm) vs full export: {full / warm:.1f}x faster "
          f"({warm:.2f}s vs {full:.2f}s); work dir {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
