"""The receiving side as a whole process: intake of N packages into the pooled Parquet, then the release.

    python -m benchmarks.pooling [--start 16] [--budget 60] [--max 4096]

Packages are made once by the tests' synthetic projects (`tests/insights_synth.py`, written and packaged
with the exporter's own functions, so byte-for-byte what `learning submit` makes) and kept under
benchmarks/out/pooling/packages/. Project i has `scale = 2 + 7i mod 19` times the base rows, 220 to 2,200
rows across capabilities, refinements, patterns, agent executions and task memories (1,200 on average).

For N = start, 2 start, ... each run is a fresh process (`--run N`, measured like benchmarks.export: wall,
CPU of the tree, peak RSS of the tree): every package is noticed, verified and pooled with the functions the
sensor and the intake assets call (`scan_inbox`, `receive`, `commit`), then the release is computed
(`build_release`: the DuckDB aggregation over the pooled Parquet and OpenDP noise). The search stops at the
first N over the budget; the largest N within it is the figure. Results: benchmarks/out/pooling-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.export import OUT, REPO, measure

POOLING = OUT / "pooling"
PACKAGES = POOLING / "packages"


def scale_of(i: int) -> int:
    return 2 + (7 * i) % 19


def packages(n: int) -> list[Path]:
    """The first n packages, made once (the tests' helpers are imported only when one is missing)."""
    PACKAGES.mkdir(parents=True, exist_ok=True)
    paths = [PACKAGES / f"learning-submission-{i:05d}.tar.gz" for i in range(n)]
    missing = [i for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        from tests import insights_synth as synth

        print(f"making {len(missing)} packages under {PACKAGES} ...", file=sys.stderr)
        for i in missing:
            with tempfile.TemporaryDirectory(dir=POOLING) as tmp:
                created = synth.base_time(i)
                built = synth.write_package(Path(tmp), synth.project_tables(i, scale=scale_of(i)),
                                            synth.project_hash(i, "benchmark"), synth.export_id(i, created), created)
                os.replace(built, paths[i])
    return paths


def pool_and_release(n: int, work: Path) -> dict:
    """In this process: intake of the first n packages, then the release (what `--run` times)."""
    from learning_assets.insights.engine import connect
    from learning_assets.insights.intake import commit, receive, scan_inbox
    from learning_assets.insights.release import Policy, build_release
    from learning_assets.tables import TABLE_NAMES
    from resources.shared_insights import InsightsStore, SubmissionInbox

    inbox = SubmissionInbox(path=str(work / "inbox"), settle_seconds=0)
    store = InsightsStore(path=str(work / "store"), require_signature=False)  # synthetic packages: unsigned
    inbox.root().mkdir(parents=True)
    for path in packages(n):
        os.link(path, inbox.root() / path.name)
    started = time.perf_counter()
    accepted = 0
    for key, _ in scan_inbox(inbox, store, None, set()).new:
        if receive(key, inbox, store)["status"] == "verified":
            accepted += commit(key, store)["status"] == "accepted"
    intake = time.perf_counter() - started
    started = time.perf_counter()
    with store.lock():
        release = build_release(store.root(), Policy(), release_id="benchmark", engine=store.engine())
    seconds = time.perf_counter() - started
    with connect(store.root(), TABLE_NAMES, store.engine()) as con:
        rows = sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLE_NAMES)
    return {"accepted": accepted, "intake_s": intake, "release_s": seconds, "rows_pooled": rows,
            "projects": accepted, "published": len(release.document["insights"])}


def run(n: int) -> dict:
    """One whole process for n packages; its measurement and what it reported."""
    packages(n)  # made before the clock starts
    with tempfile.TemporaryDirectory(dir=POOLING) as tmp:
        result = Path(tmp) / "result.json"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "benchmarks.pooling", "--run", str(n), "--work", str(Path(tmp) / "work"),
               "--result", str(result)]
        measured = measure(cmd, env, REPO)
        return {"n": n, **measured, **json.loads(result.read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=16)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds a whole run may take")
    parser.add_argument("--max", type=int, default=4096)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        args.result.write_text(json.dumps(pool_and_release(args.run, args.work)))
        return 0

    runs, n = [], args.start
    print(f"{'N':>6} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'intake s':>9} {'release s':>10} {'rows':>10}")
    while n <= args.max:
        r = run(n)
        runs.append(r)
        assert r["accepted"] == n == r["projects"], r
        print(f"{n:>6} {r['wall']:>7.2f} {r['cpu']:>7.2f} {r['peak_mb']:>8.0f} {r['intake_s']:>9.2f} "
              f"{r['release_s']:>10.2f} {r['rows_pooled']:>10,}", flush=True)
        if r["wall"] > args.budget:
            break
        n *= 2
    fits = [r for r in runs if r["wall"] <= args.budget]
    best = fits[-1] if fits else None
    print(f"largest N within {args.budget:g} s: " + (f"{best['n']} ({best['wall']:.1f} s, {best['rows_pooled']:,} "
                                                    f"rows pooled, peak {best['peak_mb']:.0f} MB)" if best else "none"))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"pooling-{stamp}.json").write_text(json.dumps({"budget_s": args.budget, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
