"""Synthetic anonymized projects with known differences, packaged like `learning submit` does.

Tables are built directly in the anonymized schemas (no raw data, no pipeline run) and written with
the exporter's own functions (`build_report`, `export_metadata`, `build_document`, `write_export`) and
packaged with `learning_assets.governance.submit.build_package`, so the packages are byte-for-byte the format a
real installation submits.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from learning_assets.exportfiles.document import build_document, export_metadata
from learning_assets.exportfiles.manifest import sha256_file
from learning_assets.exportfiles.report import build_report
from learning_assets.exportfiles.write import write_export
from learning_assets.governance.submit import build_package
from learning_assets.sources.frames import conform, empty_frame
from learning_assets.tables import ANONYMIZED, TABLE_NAMES

# The known truth every project is drawn around (per-project offsets are small and centred).
PATTERN_SUCCESS = {"function": 0.85, "class": 0.70, "structure": 0.60, "import": 0.45}
PATTERN_QUALITY = {"function": 0.80, "class": 0.70, "structure": 0.65, "import": 0.50}
CAP_SUCCESS = {"security-scan": 0.90, "code-review": 0.75, "refactor": 0.55}
CAP_QUALITY = {"security-scan": 0.85, "code-review": 0.70, "refactor": 0.60}
AGENT_SUCCESS = {"reviewer": 0.92, "implementer": 0.65, "tester": 0.80}
AGENT_DURATION = {"reviewer": 20.0, "implementer": 120.0, "tester": 60.0}
GAIN = {"pattern_learning": 0.15, "prompt_optimization": 0.07, "feedback_loop": 0.0}
OUTCOME_COUNTS = {"success": 14, "failure": 3, "timeout": 2, "error": 1}
WORKFLOW_SUCCESS = {"full-sdlc": 0.80, "quality": 0.90, "fix": 0.60}
WORKFLOW_DURATION = {"full-sdlc": 900.0, "quality": 300.0, "fix": 200.0}
STEP_SUCCESS = {"plan": 0.95, "implement": 0.70, "review": 0.85}  # of the finished runs
STEP_SECONDS = {"plan": 40.0, "implement": 110.0, "review": 60.0}
COMMON_REASON = "test suite timed out"          # 10 projects: published
RARE_REASON = "missing type annotations"         # 4 projects: never published
RARE_CAPABILITY = "niche-lint"                   # 3 projects
RARE_AGENT = "auditor"                           # 4 projects (no framework agent: a real export has none)
DAY = pd.Timestamp("2026-03-02", tz="UTC")


def _id(prefix: str, *parts) -> str:
    return f"{prefix}_{hashlib.sha256(repr(parts).encode()).hexdigest()[:16]}"


def project_hash(i: int, salt: str = "") -> str:
    return _id("project", "synthetic", i, salt)


def _frame(name: str, records: list[dict]) -> pd.DataFrame:
    schema = ANONYMIZED[name]
    if not records:
        return empty_frame(schema)
    return conform(pd.DataFrame(records), schema)  # the receiver validates every table


def project_tables(i: int, seed: int = 20260302, shift: dict | None = None, scale: int = 1) -> dict[str, pd.DataFrame]:
    """The anonymized tables of synthetic project `i` (0..19); `shift` overrides truths for a resubmission.

    About 160 rows across the tables, times `scale` (the pooling benchmark uses 2 to 20).
    """
    rng = np.random.default_rng(seed + i)
    shift = shift or {}
    off = lambda: float(rng.uniform(-0.04, 0.04))  # noqa: E731  per-project offset
    clip = lambda x: float(min(1.0, max(0.0, x)))  # noqa: E731

    caps, refs = [], []
    cap_types = dict(CAP_SUCCESS)
    if i < 3:
        cap_types[RARE_CAPABILITY] = 0.5
    for ctype, base in cap_types.items():
        o = off()
        for j in range(3 * scale):
            cid = _id("cap", i, ctype, j)
            caps.append({"capability_id": cid, "agent_id": "reviewer", "capability_type": ctype,
                         "success_rate": clip(base + o + rng.normal(0, 0.03)),
                         "average_duration": float(rng.uniform(5, 50)),
                         "quality_score": clip(CAP_QUALITY.get(ctype, 0.5) + o + rng.normal(0, 0.03)),
                         "usage_count": int(rng.integers(5, 200)), "last_improved": DAY, "refinement_count": 3})
            for pos, (kind, gain) in enumerate(GAIN.items()):
                before = float(rng.uniform(0.4, 0.7))
                gain = shift.get("gain", {}).get(kind, gain)
                after = clip(before + gain + rng.normal(0, 0.02))
                qb = float(rng.uniform(0.4, 0.7))
                refs.append({"capability_id": cid, "position": pos, "timestamp": DAY, "improvement_type": kind,
                             "before_success_rate": before, "before_average_duration": 30.0,
                             "before_quality_score": qb, "before_usage_count": 10,
                             "after_success_rate": after, "after_average_duration": 28.0,
                             "after_quality_score": clip(qb + gain / 2 + rng.normal(0, 0.02)),
                             "after_usage_count": 20, "improvement_percent": round((after - before) * 100, 2),
                             "learned_patterns": [], "metadata": "{}"})

    patterns = []
    for ptype, base in PATTERN_SUCCESS.items():
        base = shift.get("pattern_success", {}).get(ptype, base)
        o = off()
        for j in range(4 * scale):
            reasons = []
            if j == 0 and ptype == "function":
                if i < 10:
                    reasons.append(COMMON_REASON)
                elif i < 14:
                    reasons.append(RARE_REASON)
                reasons.append(f"flaky fixture in suite {chr(97 + i) if i < 26 else i}")  # one project each
            patterns.append({"pattern_id": _id("pat", i, ptype, j), "pattern_type": ptype,
                             "code_lines": int(rng.integers(2, 40)), "context": "retry wrapper for the client",
                             "quality_score": clip(PATTERN_QUALITY[ptype] + o + rng.normal(0, 0.03)),
                             "usage_count": int(rng.integers(1, 50)), "success_rate": clip(base + o + rng.normal(0, 0.03)),
                             "learned_from": [_id("task", i, j)], "metadata": "{}",
                             "security_score": float(rng.uniform(6, 9)), "is_anti_pattern": False,
                             "failure_reasons": reasons, "rejection_count": 0})

    agents = []
    agent_set = dict(AGENT_SUCCESS)
    if i < 4:
        agent_set[RARE_AGENT] = 0.5
    for agent, p in agent_set.items():
        o = off()
        for j in range(10 * scale):
            agents.append({"agent_id": agent, "agent_name": f"{agent.title()} Agent",
                           "duration": float(max(0.0, AGENT_DURATION.get(agent, 40.0) * (1 + o) + rng.normal(0, 2))),
                           "success": bool(j % 10 < round((p + o) * 10)), "timestamp": DAY + pd.Timedelta(days=j % 3)})

    tasks = []
    n = 0
    for outcome, count in OUTCOME_COUNTS.items():
        for _ in range(count * scale):
            tasks.append({"task_id": _id("task", i, "t", n), "agent_id": "implementer", "command": "implement",
                          "timestamp": DAY, "outcome": outcome, "quality_score": float(rng.uniform(0.5, 0.9)),
                          "key_learnings": [], "patterns_used": [], "similar_tasks": [], "context": "{}",
                          "metadata": "{}"})
            n += 1

    workflows, steps = [], []
    for name, p in WORKFLOW_SUCCESS.items():
        o = off()
        for j in range(5 * scale):
            workflows.append({"workflow_id": _id("wf", i, name, j), "workflow_name": name,
                              "duration": float(max(0.0, WORKFLOW_DURATION[name] * (1 + o) + rng.normal(0, 10))),
                              "steps": 3, "success": bool(j % 5 < round((p + o) * 5)), "timestamp": DAY})
    for step, p in STEP_SUCCESS.items():
        o = off()
        for j in range(10 * scale):
            # every tenth run is still running: it has a duration so far but no outcome
            status = "running" if j % 10 == 9 else "success" if j % 9 < round((p + o) * 9) else "failed"
            steps.append({"execution_id": _id("exec", i, step, j), "workflow_id": _id("wf", i, "fix", j % 5),
                          "step_id": step, "command": step, "status": status,
                          "duration_ms": float(max(0.0, STEP_SECONDS[step] * (1 + o) + rng.normal(0, 2)) * 1000),
                          "timestamp": DAY, "retry_count": 0, "error_message": None, "skill": "implementer",
                          "gate_pass": None})
    steps.append({**steps[0], "execution_id": _id("exec", i, "own"), "step_id": _id("name", i, "own step")})

    records = {"capabilities": caps, "capability_refinements": refs, "patterns": patterns,
               "agent_executions": agents, "task_memories": tasks, "workflow_executions": workflows,
               "step_executions": steps}
    return {name: _frame(name, records.get(name, [])) for name in TABLE_NAMES}


def write_package(root: Path, tables: dict[str, pd.DataFrame], project: str, export_id: str,
                  created: datetime, k: int = 5, home: Path | None = None) -> Path:
    """Write an export of `tables` under `root/exports/<export_id>` and package it; returns the package.

    `home` holds the installation's withdrawal key (default `root/home`: one installation per root).
    """
    per_table = {name: {"stats": {}, "rows_in": len(df),
                        "rows_out": len(df), "skipped": 0, "warnings": []} for name, df in tables.items()}
    report = build_report(per_table, k)
    metadata = export_metadata(project, "synthetic", k, now=created)
    document = build_document(tables, metadata, report)
    export_dir = root / "exports" / export_id
    export_dir.mkdir(parents=True)
    write_export(export_dir, tables, document, report)
    return build_package(export_dir, root, home or root / "home").path


def export_id(i: int, created: datetime) -> str:
    return f"{created:%Y%m%dT%H%M%SZ}-{i:06x}"


def base_time(i: int = 0) -> datetime:
    return datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=i)


# --- hostile packages ---------------------------------------------------------------------------


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def repack(package: Path, edit) -> bytes:
    """The package's members, passed through `edit(name, data) -> data | None` (None drops it)."""
    members = []
    with tarfile.open(package, "r:gz") as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isfile() else None
            if m.isfile():
                data = edit(m.name, data)
                if data is None:
                    continue
                m.size = len(data)
            members.append((m, data))
    return tar_gz(members)


def truth_per_project(tables_by_project: dict[str, dict[str, pd.DataFrame]], table: str, group: str, value,
                      lo: float = 0.0, hi: float = 1.0, require=()) -> dict[str, float]:
    """Independent ground truth: the mean over projects of each project's own (clipped) mean per group.

    A project counts in a group only where each of `require` (the dimension's other metrics) has a value there
    too, as in the release.
    """
    per = []
    for project, tables in tables_by_project.items():
        df = tables[table]
        if df.empty:
            continue
        values = {"v": value(df).astype(float).clip(lo, hi), **{i: r(df).astype(float) for i, r in enumerate(require)}}
        means = pd.DataFrame(values).groupby(df[group].astype(str).to_numpy()).mean().dropna()  # NaN: no value
        per.extend((name, min(hi, max(lo, m))) for name, m in means["v"].items())
    out = pd.DataFrame(per, columns=["group", "v"]).groupby("group")["v"].mean()
    return {k: float(v) for k, v in out.items()}


def dump(obj) -> bytes:
    return json.dumps(obj, indent=1).encode()


FRAMEWORK_1_0 = Path(__file__).parent / "data" / "framework_export_1.0.json"


def framework_1_0_export(root: Path) -> Path:
    """The framework's own 1.0 export document (tests/data), laid out as an export directory under `root`."""
    doc = json.loads(FRAMEWORK_1_0.read_text())
    export_dir = root / "exports" / "20260302T140511Z-0a0b0c"
    export_dir.mkdir(parents=True)
    (export_dir / "learning_export.json").write_text(json.dumps(doc))
    (export_dir / "export_metadata.json").write_text(json.dumps(doc["export_metadata"]))
    files = [{"path": n, "sha256": sha256_file(export_dir / n), "bytes": (export_dir / n).stat().st_size}
             for n in ("learning_export.json", "export_metadata.json")]
    (export_dir / "manifest.json").write_text(json.dumps({"export_id": export_dir.name, "schema_version": "1.0",
                                                          "created_at": "2026-03-02T14:05:11+00:00",
                                                          "files": files}))
    return export_dir
