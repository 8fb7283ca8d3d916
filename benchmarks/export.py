"""What a user waits for: `learning export` as a whole process, beside the floor and the imports.

    python -m benchmarks.export [--scales sample,typical,large] [--rounds 3] [--ui] [--baseline DIR]

Each scenario runs as its own process tree, one after another within a round, rounds repeated, so that
the machine's drift in speed hits every scenario alike:

- `floor`: `python -m benchmarks.floor` reads every source file and writes Parquet, nothing else;
- `imports`: `python -m benchmarks.imports` imports the CLI, the code location and Great Expectations;
- `export`: `learning export --quiet` on a fresh instance home (consent granted before the clock starts);
- `ui` (with --ui): `dagster job execute -j learning_export_job`, the job with its default executor, as
  the UI, the schedules and the backfills launch it;
- `baseline` (with --baseline DIR): `learning export` of another checkout (its code on PYTHONPATH), e.g.
  a worktree of the commit before a change.

Recorded per run: wall seconds, CPU seconds of the whole tree (the children's rusage) and the peak of
the tree's summed RSS (sampled every 20 ms). Ratios are the median of each round's ratio. Results are
printed as a table and kept in benchmarks/out/export-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.generator import SCALES, generate

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent
KEY = "benchmark-key-0123456789abcdef0123456789abcdef"
LEARNING = [sys.executable, "-m", "learning_assets.cli"]


def source_for(scale: str) -> Path:
    """The generated `.tapps-agents/` of a scale, made once and kept under benchmarks/out/."""
    root = OUT / scale / ".tapps-agents"
    if not (root / "analytics").is_dir():
        generate(root, SCALES[scale], seed=7)
    return root


def _tree_rss_kb(pid: int) -> int:
    """The summed resident memory of `pid` and all its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        parents[int(entry)] = int(fields.get("PPid", "0"))
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(p, 0) for p in tree)


def measure(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Run `cmd` to the end; its wall and CPU seconds and the peak RSS of its process tree (MB)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak[0] / 1024}


def _env(code: Path, home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNING_", "DAGSTER_"))}
    return {**env, "PYTHONPATH": str(code), "DAGSTER_HOME": str(home), "LEARNING_ANONYMIZATION_KEY": KEY, **extra}


class Scenarios:
    """The commands of one scale, each run in a fresh temporary directory."""

    def __init__(self, source: Path, work: Path, baseline: Path | None):
        self.source, self.work, self.baseline = source, work, baseline

    def _fresh(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def _grant_consent(self, env: dict, run: Path) -> None:
        """Consent for the source in the run's instance home, as `learning consent grant` records it."""
        subprocess.run([*LEARNING, "consent", "grant", "--source", str(self.source)], env=env, cwd=run, check=True,
                       capture_output=True)

    def _export(self, code: Path, name: str) -> dict:
        run = self._fresh(name)
        env = _env(code, run / "home")
        self._grant_consent(env, run)
        return measure([*LEARNING, "export", "--source", str(self.source), "--output", str(run / "export"),
                        "--quiet"], env, run)

    def floor(self) -> dict:
        run = self._fresh("floor")
        return measure([sys.executable, "-m", "benchmarks.floor", str(self.source), str(run / "out")],
                       _env(REPO, run / "home"), run)

    def imports(self) -> dict:
        run = self._fresh("imports")
        return measure([sys.executable, "-m", "benchmarks.imports"], _env(REPO, run / "home"), run)

    def export(self) -> dict:
        return self._export(REPO, "export")

    def baseline_export(self) -> dict:
        return self._export(self.baseline, "baseline")

    def ui(self) -> dict:
        run = self._fresh("ui")
        env = _env(REPO, run / "home", LEARNING_SOURCE_DIR=str(self.source), LEARNING_EXPORT_DIR=str(run / "export"))
        self._grant_consent(env, run)
        dagster = str(Path(sys.executable).with_name("dagster"))
        return measure([dagster, "job", "execute", "-m", "learning_assets.definitions", "-j", "learning_export_job"],
                       env, run)


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarize(scale: str, runs: dict[str, list[dict]]) -> dict:
    """Medians per scenario and the medians of the per-round ratios."""
    rounds = range(len(runs["export"]))
    ratio = lambda f: statistics.median(f(i) for i in rounds)  # noqa: E731
    floor, imports, export = runs["floor"], runs["imports"], runs["export"]
    out = {"scale": scale, "scenarios": {k: {m: _median(v, m) for m in ("wall", "cpu", "peak_mb")}
                                         for k, v in runs.items()},
           "export_over_imports": ratio(lambda i: export[i]["wall"] / imports[i]["wall"]),
           "beyond_imports_over_floor": ratio(lambda i: (export[i]["wall"] - imports[i]["wall"]) / floor[i]["wall"]),
           "memory_above_imports_mb": _median(export, "peak_mb") - _median(imports, "peak_mb")}
    if "ui" in runs:
        out["ui_over_export"] = ratio(lambda i: runs["ui"][i]["wall"] / export[i]["wall"])
    if "baseline" in runs:
        out["export_over_baseline"] = ratio(lambda i: export[i]["wall"] / runs["baseline"][i]["wall"])
    return out


def report(results: list[dict]) -> str:
    lines = ["| scale | scenario | wall s | CPU s | peak MB |", "|---|---|---:|---:|---:|"]
    for r in results:
        for name, s in r["scenarios"].items():
            lines.append(f"| {r['scale']} | {name} | {s['wall']:.2f} | {s['cpu']:.2f} | {s['peak_mb']:.0f} |")
    lines += ["", "| scale | export / imports | (export − imports) / floor | memory above imports MB | "
                  "ui / export | export / baseline |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        opt = lambda key: f"{r[key]:.2f}" if key in r else "–"  # noqa: E731
        lines.append(f"| {r['scale']} | {r['export_over_imports']:.2f} | {r['beyond_imports_over_floor']:.2f} | "
                     f"{r['memory_above_imports_mb']:.0f} | {opt('ui_over_export')} | {opt('export_over_baseline')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="sample,typical")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ui", action="store_true", help="also launch the job as the UI does")
    parser.add_argument("--baseline", type=Path, help="a checkout to compare `learning export` with")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="learning-bench-") as tmp:
        for scale in args.scales.split(","):
            source = source_for(scale) if scale != "sample" else REPO / "learning_assets" / "sample_data"
            scenarios = Scenarios(source, Path(tmp) / scale, args.baseline)
            plan = {"floor": scenarios.floor, "imports": scenarios.imports, "export": scenarios.export}
            if args.baseline:
                plan["baseline"] = scenarios.baseline_export
            if args.ui:
                plan["ui"] = scenarios.ui
            runs: dict[str, list[dict]] = {name: [] for name in plan}
            for _ in range(args.rounds):
                for name, run in plan.items():
                    runs[name].append(run())
            results.append({**summarize(scale, runs), "runs": runs})
            print(f"{scale}: done", file=sys.stderr)
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"export-{stamp}.json").write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
