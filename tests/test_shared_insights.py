"""Cross-project learning: submissions from 20 synthetic projects and one real export are received by
the sensor, verified, pooled and released with differential privacy; hostile packages are refused."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import tarfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import SensorResult, build_sensor_context, materialize

from learning_assets.defs.insights.assets import (
    SHARED_GROUP,
    best_practices,
    pooled_submission,
    shared_insights,
    submission_intake,
)
from learning_assets.defs.insights.checks import (
    privacy_budget_accounted,
    release_respects_k,
)
from learning_assets.defs.insights.sensors import learning_submission_sensor
from learning_assets.exportfiles.parquet import read_arrow_frame
from learning_assets.governance.submit import build_package
from learning_assets.insights import pool
from learning_assets.insights import release as release_mod
from learning_assets.insights.dp import OpenDPLaplace, calibrate
from learning_assets.insights.intake import commit, read_verdict, receive, scan_inbox
from learning_assets.insights.package import Limits, Rejected, safe_extract
from learning_assets.insights.release import (
    STEPS,
    WEIGHTS,
    WORKFLOWS,
    Policy,
    build_release,
    contributions,
    dimensions,
    exact_aggregates,
    sensitivities,
)
from learning_assets.tables import TABLE_NAMES
from resources.shared_insights import InsightsStore, SubmissionInbox
from tests import insights_synth as synth
from tests.conftest import run_pipeline

SEED = 424242  # tests only: production noise comes from OpenDP's CSPRNG and cannot be seeded
MiB = 1 << 20
TEST_EPSILON = 300.0  # large on purpose: 20 projects and 21 measurements; see the report's figures


class SeededLaplace:
    """Reproducible discrete Laplace noise for tests (numpy PCG64 with a fixed seed). Never used by the assets
    unless a test patches it in; the scale still comes from OpenDP's calibration and privacy map."""

    name = "numpy Laplace with a fixed seed (tests only)"

    def __init__(self, seed: int = SEED):
        self.rng = np.random.default_rng(seed)

    def __call__(self, values, sensitivity, scale):
        p = 1 - math.exp(-1 / scale)  # discrete Laplace: the difference of two geometric variables
        noise = self.rng.geometric(p, len(values)) - self.rng.geometric(p, len(values))
        return [int(v) + int(e) for v, e in zip(values, noise)], float(sensitivity) / scale

    def threshold(self, counts, keys, scale, threshold):
        noisy, _ = self(list(counts.values()), keys, scale)
        kept = {g: n for g, n in zip(counts, noisy) if n >= threshold}
        return kept, OpenDPLaplace.threshold_measurement(keys, scale, threshold)[1]


def _resources(tmp_path: Path, **inbox) -> dict:
    limits = {"settle_seconds": 0, "max_package_bytes": 5 * MiB, "max_member_bytes": 2 * MiB,
              "max_total_bytes": 8 * MiB, **inbox}
    return {"inbox": SubmissionInbox(path=str(tmp_path / "inbox"), **limits),
            # synthetic packages are unsigned: each pooled under the project pseudonym it declares
            "insights_store": InsightsStore(path=str(tmp_path / "store"), max_lifetime_epsilon=TEST_EPSILON + 5,
                                            require_signature=False)}


def _tick(instance, resources, cursor):
    """One sensor evaluation (invoked directly, as Dagster's sensor testing docs do)."""
    ctx = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return learning_submission_sensor(ctx)


def _intake(instance, resources, keys) -> dict[str, dict]:
    """One real Dagster run per submission partition; returns each partition's pooled_submission metadata."""
    out = {}
    for key in keys:
        result = materialize([submission_intake, pooled_submission], partition_key=key, instance=instance,
                             resources=resources)
        assert result.success  # a rejected submission is a result, not a failed run
        events = {e.asset_key.to_user_string(): e.materialization.metadata
                  for e in result.get_asset_materialization_events()}
        out[key] = {k: v.value for k, v in events["pooled_submission"].items()}
    return out


def _ingest(instance, resources, cursor):
    data = _tick(instance, resources, cursor)
    assert isinstance(data, SensorResult)
    keys = [r.partition_key for r in data.run_requests or []]
    if keys:
        assert [r.partition_keys for r in data.dynamic_partitions_requests] == [keys]
        instance.add_dynamic_partitions("learning_submissions", keys)
    return data.cursor, _intake(instance, resources, keys), data


def _release(instance, resources, **config):
    return materialize([shared_insights, best_practices, release_respects_k, privacy_budget_accounted],
                       instance=instance, resources=resources, raise_on_error=False,
                       run_config={"ops": {"shared_insights": {"config": config}}})


def _metadata(result, key: str) -> dict:
    for e in result.get_asset_materialization_events():
        if e.asset_key.to_user_string() == key:
            return {k: v.value for k, v in e.materialization.metadata.items()}
    raise AssertionError(f"{key} was not materialized")


def _hostile_packages(inbox: Path, good: Path) -> dict[str, str]:
    """Bad packages dropped into the inbox; name -> the rejection code expected."""
    expected = {}

    def put(name, data, code):
        (inbox / name).write_bytes(data)
        expected[name] = code

    put("learning-submission-corrupt.tar.gz", os.urandom(4096), "corrupt_archive")
    put("learning-submission-truncated.tar.gz", good.read_bytes()[: good.stat().st_size // 2], "corrupt_archive")
    put("learning-submission-traversal.tar.gz", synth.tar_gz([
        synth.file_member("learning-submission-x/SUBMISSION.json", b"{}"),
        synth.file_member("learning-submission-x/../../evil.txt", b"owned")]), "unsafe_member")
    put("learning-submission-symlink.tar.gz", synth.tar_gz([
        synth.file_member("learning-submission-x/SUBMISSION.json", b"{}"),
        synth.link_member("learning-submission-x/manifest.json", "/etc/passwd")]), "unsafe_member")
    bomb = synth.tar_gz([synth.file_member("learning-submission-x/learning_export.json", b"\0" * (3 * MiB))])
    assert len(bomb) < 64 * 1024  # a small file that unpacks past the member limit
    put("learning-submission-bomb.tar.gz", bomb, "unsafe_member")
    put("learning-submission-tampered.tar.gz", synth.repack(good, lambda n, d: d.replace(
        b'"k_anonymity": 5', b'"k_anonymity": 9') if n.endswith("/export_metadata.json") else d),
        "checksum_mismatch")
    put("learning-submission-oversized.tar.gz", os.urandom(6 * MiB), "too_large")
    return expected


def _truths(projects: dict[str, dict[str, pd.DataFrame]], policy: Policy) -> dict[tuple[str, str, str], float]:
    """Ground truth per (dimension, metric, group), computed independently of the release code: per dimension,
    a project counts in a group only where it has every metric of the dimension."""
    num = lambda c: (lambda df: pd.to_numeric(df[c], errors="coerce"))  # noqa: E731
    diff = lambda a, b: (lambda df: num(a)(df) - num(b)(df))  # noqa: E731
    flag = lambda c: (lambda df: df[c].astype("Float64"))  # noqa: E731
    finished = {"success": 1.0, "failed": 0.0, "timeout": 0.0, "cancelled": 0.0}
    step_ok = lambda df: df["status"].map(finished).astype(float)  # noqa: E731  running, other: no outcome
    seconds = lambda df: num("duration_ms")(df) / 1000  # noqa: E731
    cap, wf_cap = policy.duration_cap_seconds, policy.workflow_duration_cap_seconds
    specs = [("capability_type", "capabilities", "capability_type",
              {"success_rate": (num("success_rate"), 0, 1), "quality_score": (num("quality_score"), 0, 1)}),
             ("pattern_type", "patterns", "pattern_type",
              {"success_rate": (num("success_rate"), 0, 1), "quality_score": (num("quality_score"), 0, 1)}),
             ("agent", "agent_executions", "agent_id",
              {"success_rate": (flag("success"), 0, 1), "duration_seconds": (num("duration"), 0, cap)}),
             ("improvement_type", "capability_refinements", "improvement_type",
              {"success_gain": (diff("after_success_rate", "before_success_rate"), -1, 1),
               "quality_gain": (diff("after_quality_score", "before_quality_score"), -1, 1)}),
             ("step", "step_executions", "step_id",
              {"success_rate": (step_ok, 0, 1), "duration_seconds": (seconds, 0, cap)}),
             ("workflow", "workflow_executions", "workflow_name",
              {"success_rate": (flag("success"), 0, 1), "duration_seconds": (num("duration"), 0, wf_cap)})]
    out = {}
    for dim, table, group, metrics in specs:
        for metric, (value, lo, hi) in metrics.items():
            others = [f for m, (f, _, _) in metrics.items() if m != metric]
            for g, v in synth.truth_per_project(projects, table, group, value, lo, hi, others).items():
                out[(dim, metric, g)] = v
    return out


def test_twenty_projects_are_received_pooled_and_released_with_dp(tmp_path, tiny_source, instance, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    resources = _resources(tmp_path)
    store = resources["insights_store"]
    projects: dict[str, dict[str, pd.DataFrame]] = {}
    packages: dict[int, Path] = {}
    for i in range(20):
        tables, created = synth.project_tables(i), synth.base_time(i)
        packages[i] = synth.write_package(tmp_path / "projects" / str(i), tables, synth.project_hash(i),
                                          synth.export_id(i, created), created)
        shutil.copy(packages[i], inbox / packages[i].name)
        projects[synth.project_hash(i)] = tables

    # one package made by the real pipeline from generated framework data, packaged by `learning submit`'s code
    real_out = tmp_path / "real_export"
    assert run_pipeline(tiny_source.root, real_out, instance).success
    real_dir = next((real_out / "exports").iterdir())
    real_pkg = build_package(real_dir, real_out, real_out / "home")
    shutil.copy(real_pkg.path, inbox / real_pkg.path.name)
    projects[real_pkg.project] = {t: read_arrow_frame(real_dir / "tables" / f"{t}.parquet") for t in TABLE_NAMES}

    # policy failures that are well-formed packages: k too small, and a planted e-mail address
    weak = synth.write_package(tmp_path / "weak", synth.project_tables(30), synth.project_hash(30),
                               synth.export_id(30, synth.base_time()), synth.base_time(), k=2)
    shutil.copy(weak, inbox / "learning-submission-weak-k.tar.gz")
    leaky_tables = synth.project_tables(31)
    leaky_tables["patterns"].loc[0, "context"] = "ask zorblatt.quenfrey@example.org about the retry"
    leaky = synth.write_package(tmp_path / "leaky", leaky_tables, synth.project_hash(31),
                                synth.export_id(31, synth.base_time()), synth.base_time())
    shutil.copy(leaky, inbox / "learning-submission-leaky.tar.gz")
    hostile = _hostile_packages(inbox, packages[0])

    # --- the sensor adds one partition per package; each is verified and pooled or rejected ----------
    cursor, verdicts, data = _ingest(instance, resources, None)
    assert len(verdicts) == 20 + 1 + 2 + len(hostile) - 1  # the oversized one never becomes a partition
    by_file = {v["file"]: v for v in verdicts.values()}
    accepted = {v["project"] for v in verdicts.values() if v["status"] == "accepted"}
    assert accepted == set(projects)
    for name, code in hostile.items():
        if code == "too_large":
            continue
        assert by_file[name]["status"] == "rejected" and by_file[name]["code"] == code, (name, by_file[name])
    assert by_file["learning-submission-weak-k.tar.gz"]["code"] == "anonymization"
    assert "k=2" in by_file["learning-submission-weak-k.tar.gz"]["reason"]
    assert by_file["learning-submission-leaky.tar.gz"]["code"] == "anonymization"
    assert "example.org" not in json.dumps(list(verdicts.values()))  # reasons never quote submitted values
    assert not list(tmp_path.rglob("evil.txt"))
    rejections = store.read_log("rejections.jsonl")
    assert {r["file"] for r in rejections} >= set(hostile) | {"learning-submission-weak-k.tar.gz",
                                                              "learning-submission-leaky.tar.gz"}
    assert next(r for r in rejections if r["file"] == "learning-submission-oversized.tar.gz")["code"] == "too_large"
    assert instance.get_dynamic_partitions("learning_submissions") == [r.partition_key for r in data.run_requests]

    # nothing new: no runs; the same bytes under another name: a duplicate, no partition
    cursor, verdicts, data = _ingest(instance, resources, cursor)
    assert verdicts == {} and data.skip_reason
    shutil.copy(packages[3], inbox / "learning-submission-copy-of-3.tar.gz")
    cursor, verdicts, _ = _ingest(instance, resources, cursor)
    assert verdicts == {}
    assert store.read_log("rejections.jsonl")[-1]["code"] == "duplicate"

    # --- resubmissions: newer replaces, same export again or an older one is rejected ----------------
    p5, p6 = synth.project_hash(5), synth.project_hash(6)
    old_key5 = next(k for k, v in read_all(store).items() if v.get("project") == p5 and v["status"] == "accepted")
    newer = synth.project_tables(5, shift={"pattern_success": {t: 0.2 for t in synth.PATTERN_SUCCESS}})
    new5 = synth.write_package(tmp_path / "resubmit5", newer, p5, synth.export_id(5, synth.base_time(500)),
                               synth.base_time(500))
    older6 = synth.write_package(tmp_path / "older6", synth.project_tables(6), p6,
                                 synth.export_id(6, synth.base_time(-600)), synth.base_time(-600))
    again7 = build_package(next((tmp_path / "projects" / "7" / "exports").iterdir()), tmp_path / "again7",
                           tmp_path / "projects" / "7" / "home").path
    for path, name in ((new5, "resubmit-5.tar.gz"), (older6, "older-6.tar.gz"), (again7, "again-7.tar.gz")):
        shutil.copy(path, inbox / name)
    cursor, verdicts, _ = _ingest(instance, resources, cursor)
    by_file = {v["file"]: v for v in verdicts.values()}
    assert by_file["resubmit-5.tar.gz"]["status"] == "accepted" and by_file["resubmit-5.tar.gz"]["replaced"] == old_key5
    assert by_file["older-6.tar.gz"]["code"] == "stale"
    assert by_file.get("again-7.tar.gz", {"code": "duplicate"})["code"] == "duplicate"  # same bytes: sensor-level
    assert read_verdict(store, old_key5)["status"] == "superseded"
    projects[p5] = newer
    pooled = pool.read_pooled(store.root(), ("patterns",))["patterns"]
    assert set(pooled.loc[pooled["project"] == p5, "submission"]) == {by_file["resubmit-5.tar.gz"]["submission"]}
    assert pooled["project"].nunique() == 21 and len(pooled) == sum(len(t["patterns"]) for t in projects.values())

    # --- a release with reproducible noise: the known differences come back within the noise ---------
    monkeypatch.setattr(release_mod, "OpenDPLaplace", SeededLaplace)
    result = _release(instance, resources, epsilon=TEST_EPSILON)
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"release_respects_k": True, "privacy_budget_accounted": True}
    meta = _metadata(result, "shared_insights")
    assert meta["epsilon_spent"] <= TEST_EPSILON * (1 + 1e-9)
    # exact pooled counts stay internal: not in the metadata, the release or the ledger
    exact_keys = ("projects_pooled", "pooled_projects", "groups_withheld_below_k", "withheld")
    assert not any(k in meta for k in exact_keys)
    assert not any(k in m for m in verdicts.values() for k in exact_keys)
    assert all(set(e) == {"at", "event", "release_id", "epsilon", "delta"}
               for e in store.read_log("privacy_ledger.jsonl"))
    assert "threshold" in meta["privacy_accounting"]
    doc = json.loads(Path(meta["path"]).read_text())
    assert doc["privacy"]["measurements"] == len(WEIGHTS) == 21  # one count per dimension, one sum per metric
    rows = {(r["dimension"], r["metric"], r["group"]): r for r in doc["insights"]}
    published = {(d, g) for d, _, g in rows}

    # groups with fewer than k projects do not appear (here: the noise is small next to the threshold)
    for absent in (("capability_type", synth.RARE_CAPABILITY), ("agent", synth.RARE_AGENT),
                   ("failure_reason", synth.RARE_REASON), ("failure_reason", "flaky fixture in suite a")):
        assert absent not in published
    assert ("failure_reason", synth.COMMON_REASON) in published
    assert all(r["projects"] >= 5 for r in doc["insights"])
    assert doc["privacy"]["delta_spent"] <= 1e-6 and doc["privacy"]["delta_budget"] == 1e-6

    policy = Policy(epsilon=TEST_EPSILON)
    truth = _truths(projects, policy)
    errors = []
    for key, row in rows.items():
        if key in truth:
            errors.append(abs(row["value"] - truth[key]) / row["noise_sd"])
            assert abs(row["value"] - truth[key]) <= 6 * row["noise_sd"], (key, row, truth[key])
    assert len(errors) >= 25

    def diff(dim, metric, a, b):
        ra, rb = rows[(dim, metric, a)], rows[(dim, metric, b)]
        released, true = ra["value"] - rb["value"], truth[(dim, metric, a)] - truth[(dim, metric, b)]
        assert abs(released - true) <= 6 * math.hypot(ra["noise_sd"], rb["noise_sd"]), (a, b, released, true)
        return released

    assert diff("pattern_type", "success_rate", "function", "import") > 0.25
    assert diff("capability_type", "success_rate", "security-scan", "refactor") > 0.2  # truth 0.25, seeded noise
    assert diff("agent", "success_rate", "reviewer", "implementer") > 0.15
    assert diff("agent", "duration_seconds", "implementer", "reviewer") > 50
    assert diff("improvement_type", "success_gain", "pattern_learning", "feedback_loop") > 0.08
    assert diff("workflow", "success_rate", "quality", "fix") > 0.05  # within 6 s.d. of the truth (checked in diff)
    assert diff("workflow", "duration_seconds", "full-sdlc", "fix") > 400  # truth 700
    assert diff("step", "duration_seconds", "implement", "plan") > 40  # truth 70
    assert diff("step", "success_rate", "plan", "implement") > 0.1  # truth 0.25 of the finished runs
    # a dimension's metrics share one noisy count per group
    for (dim, metric, group), row in rows.items():
        if dim in ("agent", "step", "workflow") and metric == "success_rate":
            assert rows[(dim, "duration_seconds", group)]["projects"] == row["projects"]
    order = sorted(synth.PATTERN_SUCCESS, key=lambda t: -rows[("pattern_type", "quality_score", t)]["value"])
    assert order == ["function", "class", "structure", "import"]

    rules = json.loads((store.root() / "best_practices.json").read_text())
    assert rules["release_id"] == doc["release_id"] and 1 <= len(rules["rules"]) <= 10
    supported = {(r["dimension"], r["group"], r["direction"]) for r in rules["rules"] if r["supported"]}
    assert ("pattern_type", "function", "prefer") in supported
    assert all(r["direction"] == "prefer" for r in rules["rules"]
               if (r["dimension"], r["group"]) == ("improvement_type", "pattern_learning"))
    assert all(r["projects"] >= 5 and r["ci_low"] <= r["effect"] <= r["ci_high"] for r in rules["rules"])
    assert [r["rank"] for r in rules["rules"]] == list(range(1, len(rules["rules"]) + 1))

    # --- the real mechanism (OpenDP) at the default budget; the ledger adds releases up ---------------
    monkeypatch.undo()
    result = _release(instance, resources)
    assert result.success
    meta = _metadata(result, "shared_insights")
    doc = json.loads(Path(meta["path"]).read_text())
    assert doc["privacy"]["noise"] == OpenDPLaplace.name
    assert meta["epsilon_spent"] <= 4.0 * (1 + 1e-9)
    assert meta["lifetime_epsilon"] == pytest.approx(TEST_EPSILON + meta["epsilon_spent"])
    assert all(r["projects"] >= 5 for r in doc["insights"])
    assert {(r["dimension"], r["group"]) for r in doc["insights"]}.isdisjoint(
        {("capability_type", synth.RARE_CAPABILITY), ("agent", synth.RARE_AGENT)})
    # the instance's cap on the lifetime budget refuses further releases, before anything is reserved
    refused = _release(instance, resources, epsilon=4.0)
    assert not refused.success
    assert [e["event"] for e in store.read_log("privacy_ledger.jsonl")] == ["reserve", "commit"] * 2


def read_all(store: InsightsStore) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (store.root() / "submissions").glob("*.json")}


def _pooled_frames(projects: dict[str, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return {t: pd.concat([tables[t].assign(project=p) for p, tables in projects.items()], ignore_index=True)
            for t in TABLE_NAMES}


def _extreme_project() -> dict[str, pd.DataFrame]:
    """A project as different as possible: 30 capability types, 12 agents, every framework step and workflow,
    every value at a bound."""
    tables = synth.project_tables(7)
    caps = pd.concat([tables["capabilities"].assign(capability_type=f"kind-{j}", success_rate=0.0,
                                                    quality_score=1.0) for j in range(30)], ignore_index=True)
    tables["capabilities"] = caps.assign(capability_id=[synth._id("cap", "x", j) for j in range(len(caps))])
    agents = pd.concat([tables["agent_executions"].assign(agent_id=a, success=False, duration=1e6)
                        for a in "abcdefghijkl"], ignore_index=True)
    tables["agent_executions"] = agents
    tables["capability_refinements"] = tables["capability_refinements"].assign(before_success_rate=1.0,
                                                                               after_success_rate=0.0)
    pats = tables["patterns"].copy()
    pats["failure_reasons"] = [[f"reason {j} {m}" for m in range(10)] for j in range(len(pats))]
    pats["success_rate"] = 1.0
    tables["patterns"] = pats
    tables["task_memories"] = tables["task_memories"].assign(outcome="error")
    step = tables["step_executions"].head(1)
    tables["step_executions"] = pd.concat([step.assign(step_id=s, status="failed", duration_ms=1e12)
                                           for s in STEPS[:-1]], ignore_index=True)
    flow = tables["workflow_executions"].head(1)
    tables["workflow_executions"] = pd.concat([flow.assign(workflow_name=w, success=True, duration=0.0)
                                               for w in WORKFLOWS[:-1]], ignore_index=True)
    return tables


def _without_quality(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The project with no quality score for one capability type: it no longer counts in that group at all."""
    caps = tables["capabilities"]
    return {**tables, "capabilities": caps.assign(quality_score=caps["quality_score"].where(
        caps["capability_type"] != "refactor"))}


def test_one_project_moves_each_measurement_by_at_most_its_sensitivity():
    """Neighbouring inputs: removing project 7 changes every released vector (before noise) by at most
    its L1 sensitivity, replacing it by an extreme project by at most twice that; so the privacy loss,
    sum over measurements of change / noise scale at each measurement's planned epsilon, stays within
    epsilon (2 epsilon for replacement)."""
    policy = Policy(epsilon=1.0)
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(20)}
    victim = synth.project_hash(7)
    without = {p: t for p, t in projects.items() if p != victim}
    replaced = {**without, victim: _extreme_project()}
    partial = {**without, victim: _without_quality(projects[victim])}
    base, minus, swap, part = (exact_aggregates(_pooled_frames(x), policy) for x in (projects, without, replaced,
                                                                                      partial))
    sens = sensitivities(policy)
    assert set(sens) == set(WEIGHTS)
    total = sum(WEIGHTS.values())
    loss_remove = loss_replace = 0.0
    for (slot, kind), delta in sens.items():
        a, b, c, d = base[slot][kind], minus[slot][kind], swap[slot][kind], part[slot][kind]
        l1_remove = sum(abs(a.get(g, 0.0) - b.get(g, 0.0)) for g in set(a) | set(b))
        l1_replace = sum(abs(a.get(g, 0.0) - c.get(g, 0.0)) for g in set(a) | set(c))
        l1_partial = sum(abs(b.get(g, 0.0) - d.get(g, 0.0)) for g in set(b) | set(d))
        assert l1_remove <= delta + 1e-9, (slot, kind, l1_remove, delta)
        assert l1_replace <= 2 * delta + 1e-9, (slot, kind, l1_replace, delta)
        assert l1_partial <= delta + 1e-9, (slot, kind, l1_partial, delta)
        scale = calibrate(int(delta), policy.epsilon * WEIGHTS[(slot, kind)] / total)
        loss_remove += l1_remove / scale
        loss_replace += l1_replace / scale
    assert loss_remove <= policy.epsilon * (1 + 1e-9)
    assert loss_replace <= 2 * policy.epsilon * (1 + 1e-9)
    # contribution bounding did bind: the extreme project reaches only max_groups capability types and steps
    by_name = {d.name: d for d in dimensions(policy)}
    for name in ("capability_type", "step", "workflow"):
        dim = by_name[name]
        mine = contributions(_pooled_frames(replaced)[dim.table].query("project == @victim"), dim, policy)
        assert len(mine) == policy.max_groups, name
    # one count per group, shared by the metrics: without a quality score for `refactor` the project leaves
    # that group's count and both its sums, and stays in the other groups
    assert part["capability_type"]["count"]["refactor"] == base["capability_type"]["count"]["refactor"] - 1
    for metric in ("success_rate", "quality_score"):
        assert part[f"capability_type.{metric}"]["sum"]["refactor"] == minus[f"capability_type.{metric}"]["sum"][
            "refactor"]
    assert part["capability_type"]["count"]["security-scan"] == base["capability_type"]["count"]["security-scan"]


def test_release_is_deterministic_given_the_noise_and_never_publishes_small_groups():
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(6)}
    frames = _pooled_frames(projects)
    policy = Policy(epsilon=50.0, k=5)
    one = build_release(frames, policy, release_id="a", noise=SeededLaplace(1))
    two = build_release(frames, policy, release_id="a", noise=SeededLaplace(1))
    assert one.document["insights"] == two.document["insights"]
    # 6 projects: niche-lint (3 projects) is not selected, auditor is no framework agent
    groups = {(r["dimension"], r["group"]) for r in one.document["insights"]}
    assert ("capability_type", synth.RARE_CAPABILITY) not in groups and ("agent", synth.RARE_AGENT) not in groups
    # what is published depends on noisy counts only: each clears its dimension's minimum, at least k
    high = build_release(frames, Policy(epsilon=50.0, k=7), release_id="b", noise=SeededLaplace(1))
    least = high.document["privacy"]["min_projects"]
    assert all(v >= 7 for v in least.values())
    assert all(r["projects"] >= 7 for r in high.document["insights"])
    assert high.accountant.spent == pytest.approx(50.0)


# --- hostile archives, without Dagster ----------------------------------------------------------------

TOP = "learning-submission-x"


def _member(info_name: str, data: bytes = b"x", **attrs) -> tuple[tarfile.TarInfo, bytes | None]:
    info, data = synth.file_member(info_name, data)
    for k, v in attrs.items():
        setattr(info, k, v)
    if not info.isreg():
        info.size, data = 0, None
    return info, data


@pytest.mark.parametrize("members, code", [
    ([_member(f"{TOP}/SUBMISSION.json"), _member(f"{TOP}/../evil.txt")], "unsafe_member"),
    ([_member("/tmp/evil.txt")], "unsafe_member"),
    ([_member(f"{TOP}/manifest.json", type=tarfile.SYMTYPE, linkname="../../etc/passwd")], "unsafe_member"),
    ([_member(f"{TOP}/manifest.json", type=tarfile.LNKTYPE, linkname="/etc/passwd")], "unsafe_member"),
    ([_member(f"{TOP}/manifest.json", type=tarfile.CHRTYPE)], "unsafe_member"),
    ([_member(f"{TOP}/run.sh", b"#!/bin/sh")], "unsafe_member"),
    ([_member(f"{TOP}/manifest.json"), _member(f"{TOP}/manifest.json")], "unsafe_member"),
    ([_member(f"{TOP}/manifest.json"), _member("other-top/manifest.json")], "layout"),
    ([_member(f"{TOP}/learning_export.json", b"\0" * 5000)], "unsafe_member"),
    ([_member(f"{TOP}/tables/{t}.parquet", b"\0" * 900) for t in TABLE_NAMES[:6]], "unsafe_member"),
    ([_member(f"{TOP}/tables/{t}.parquet") for t in TABLE_NAMES], "unsafe_member"),
    ([], "layout"),
])
def test_hostile_archives_are_refused_before_anything_lands_outside(tmp_path, members, code):
    package = tmp_path / "p.tar.gz"
    package.write_bytes(synth.tar_gz(members))
    limits = Limits(max_package_bytes=1 << 20, max_member_bytes=4000, max_total_bytes=5000, max_members=10)
    with pytest.raises(Rejected) as exc:
        safe_extract(package, tmp_path / "out", limits)
    assert exc.value.code == code
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


@pytest.mark.parametrize("data", [b"", b"not gzip at all", gzip.compress(b"not a tar" * 100, mtime=0),
                                  gzip.compress(b"\0" * 10, mtime=0)[:-6]],
                         ids=["empty", "not-gzip", "not-tar", "truncated-gzip"])
def test_corrupt_archives_are_refused(tmp_path, data):
    package = tmp_path / "p.tar.gz"
    package.write_bytes(data)
    with pytest.raises(Rejected) as exc:
        safe_extract(package, tmp_path / "out", Limits())
    assert exc.value.code in ("corrupt_archive", "layout")


def test_a_schema_1_0_document_is_migrated_and_pooled_under_the_receivers_key(tmp_path, monkeypatch):
    """A framework (schema 1.0) export in a submission package: migrated to 1.1, only its capability
    aggregates pooled, its guessable project hash re-pseudonymized under the receiver's own key."""
    doc = json.loads(synth.FRAMEWORK_1_0.read_text())
    export_dir = synth.framework_1_0_export(tmp_path / "framework")
    package = build_package(export_dir, tmp_path / "framework", tmp_path / "home").path
    (tmp_path / "inbox").mkdir()
    shutil.copy(package, tmp_path / "inbox" / package.name)
    resources = _resources(tmp_path)
    inbox, store = resources["inbox"], resources["insights_store"]
    scan = scan_inbox(inbox, store, None, set())
    (key, _), = scan.new
    verdict = receive(key, inbox, store)
    assert verdict["status"] == "verified", verdict
    assert verdict["migrated_from"] == "1.0" and verdict["schema_version"] == "1.1"
    assert verdict["project"].startswith("project_") and doc["export_metadata"]["project_hash"] not in json.dumps(
        verdict)
    assert commit(key, store)["status"] == "accepted"
    caps = pool.read_pooled(store.root(), ("capabilities",))["capabilities"]
    assert len(caps) == len(doc["capability_metrics"]["capabilities"])
    assert set(caps["project"]) == {verdict["project"]}
    # the same 1.0 export packaged again (another packaged_at, so other bytes) maps to the same
    # project pseudonym and is refused as a duplicate
    import learning_assets.governance.submit as submit_mod

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 1, 1, tzinfo=tz)

    monkeypatch.setattr(submit_mod, "datetime", Later)
    again = build_package(export_dir, tmp_path / "again", tmp_path / "home").path
    assert again.read_bytes() != package.read_bytes()
    shutil.copy(again, tmp_path / "inbox" / "again.tar.gz")
    (key2, _), = scan_inbox(inbox, store, scan.cursor, {key}).new
    assert receive(key2, inbox, store)["project"] == verdict["project"]
    assert commit(key2, store)["code"] == "duplicate"
    assert not (store.root() / "received" / f"{key2}.tar.gz").exists()  # no copy kept of what was refused


def test_the_code_location_registers_the_shared_insights_group():
    from learning_assets.definitions import build_definitions

    defs = build_definitions()
    assert defs.resolve_sensor_def("learning_submission_sensor")
    intake = defs.resolve_job_def("submission_intake_job")
    assert intake.partitions_def is not None and intake.partitions_def.name == "learning_submissions"
    assert {"shared_insights", "best_practices"} <= set(defs.resolve_job_def("shared_insights_job").graph.node_dict)
    full = set(defs.resolve_job_def("learning_export_job").graph.node_dict)
    assert not full & {"submission_intake", "pooled_submission", "shared_insights", "best_practices"}
    assert {a.key.to_user_string() for a in defs.resolve_all_asset_specs() if a.group_name == SHARED_GROUP} == {
        "submission_intake", "pooled_submission", "submission_withdrawal", "pool_retention", "shared_insights",
        "best_practices"}


def test_the_sensor_skips_a_missing_inbox_and_survives_a_bad_cursor(tmp_path, instance):
    resources = _resources(tmp_path)
    result = _tick(instance, resources, None)
    assert not result.run_requests and "does not exist" in str(result.skip_reason)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / ".learning-submission-upload.tar.gz").write_bytes(b"partial")  # hidden: in progress
    (tmp_path / "inbox" / "notes.txt").write_text("not a package")
    result = _tick(instance, resources, "{not json")
    assert not result.run_requests and json.loads(result.cursor) == {"files": {}}
