"""The release's aggregation runs in DuckDB over the pooled Parquet: packages from synthetic projects are
received and pooled for real, DuckDB's per-project bounded aggregates match a plain Python reading of the
same projects written here, the engine runs under its configured limits, and the Dagster release job
passes its checks on top of it."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections import Counter, defaultdict

import pandas as pd
import pytest
from dagster import Definitions

from learning_assets.defs.insights import definitions as insights_area
from learning_assets.insights.engine import SPILL, EngineSettings, connect
from learning_assets.insights.intake import commit, receive, scan_inbox
from learning_assets.insights.release import (
    AGENTS,
    OUTCOME_DIMENSION,
    OUTCOME_SLOT,
    REASON_SLOT,
    RELEASE_TABLES,
    STEPS,
    UNITS,
    WORKFLOWS,
    Policy,
    exact_aggregates,
)
from resources.shared_insights import InsightsStore, SubmissionInbox
from tests import insights_synth as synth

MiB = 1 << 20
NOISE = "opendp.measurements: make_laplace, make_laplace_threshold"
PROJECTS_POOLED = 9  # 8 ordinary synthetic projects and one with more groups and reasons than a project may give
OUTCOMES = ("success", "failure", "partial", "cancelled", "timeout", "error", "other")
PSEUDONYM = re.compile(r"[a-z]+_[0-9a-f]{16}")


def _many_groups(i: int) -> dict[str, pd.DataFrame]:
    """Project `i` with 12 agents (above max_groups = 8) and a pseudonymous one, durations beyond their bound,
    an `unknown` capability type and 5 reasons per pattern."""
    tables = synth.project_tables(i)
    agents = tables["agent_executions"]
    tables["agent_executions"] = pd.concat(
        [agents.assign(agent_id=name, duration=agents["duration"] * (j + 1) * 10)  # up to 40 min: clipped
         for j, name in enumerate(["reviewer", "implementer", "tester", "architect", "debugger", "documenter",
                                   "designer", "planner", "analyst", "ops", "enhancer", "orchestrator"])]
        + [agents.head(j) for j in range(1, 4)]  # reviewer, implementer, tester: the most rows
        + [agents.assign(agent_id=synth._id("agent", i))],  # a pseudonymous agent: not shared across projects
        ignore_index=True)
    tables["capabilities"].loc[0, "capability_type"] = "unknown"
    pats = tables["patterns"].copy()
    pats["failure_reasons"] = [[f"Retry  step {m} failed." if j % 2 else f"retry step {m} failed"
                                for m in range(5 - j % 3)] for j in range(len(pats))]  # the same 5, written two ways
    tables["patterns"] = pats
    return tables


@pytest.fixture(scope="module")
def pooled(tmp_path_factory) -> tuple[InsightsStore, SubmissionInbox, dict[str, dict[str, pd.DataFrame]]]:
    """A store into which every project's package went through intake (verified, then pooled)."""
    root = tmp_path_factory.mktemp("pooling")
    inbox = SubmissionInbox(path=str(root / "inbox"), settle_seconds=0, max_package_bytes=5 * MiB)
    store = InsightsStore(path=str(root / "store"), duckdb_memory_limit="64MB", duckdb_threads=1,
                          max_lifetime_epsilon=1e6, require_signature=False)  # synthetic packages: unsigned
    inbox.root().mkdir()
    projects = {}
    for i in range(PROJECTS_POOLED):
        tables = synth.project_tables(i) if i < PROJECTS_POOLED - 1 else _many_groups(i)
        created = synth.base_time(i)
        package = synth.write_package(root / "projects" / str(i), tables, synth.project_hash(i),
                                      synth.export_id(i, created), created)
        shutil.copy(package, inbox.root() / package.name)
        projects[synth.project_hash(i)] = tables
    for key, _ in scan_inbox(inbox, store, None, set()).new:
        assert receive(key, inbox, store)["status"] == "verified"
        assert commit(key, store)["status"] == "accepted"
    return store, inbox, projects


# --- the reference: each project read on its own, in plain Python -----------------------------------

def _dimensions(policy: Policy) -> dict[str, tuple]:
    """Dimension -> (table, group column, {metric: (value of a row, lo, hi)}, closed vocabulary or None)."""
    num = lambda c: (lambda r: float(r[c]) if pd.notna(r[c]) else math.nan)  # noqa: E731
    gain = lambda a, b: (lambda r: num(a)(r) - num(b)(r))  # noqa: E731
    step_ok = lambda r: {"success": 1.0, "failed": 0.0, "timeout": 0.0, "cancelled": 0.0}.get(r["status"], math.nan)  # noqa: E731
    patterns = ("function", "class", "structure", "import", "other")
    kinds = ("pattern_learning", "prompt_optimization", "feedback_loop", "other")
    rates = {"success_rate": (num("success_rate"), 0, 1), "quality_score": (num("quality_score"), 0, 1)}
    cap = policy.duration_cap_seconds
    return {
        "capability_type": ("capabilities", "capability_type", rates, None),
        "pattern_type": ("patterns", "pattern_type", rates, patterns),
        "agent": ("agent_executions", "agent_id", {"success_rate": (num("success"), 0, 1),
                                                   "duration_seconds": (num("duration"), 0, cap)}, AGENTS),
        "improvement_type": ("capability_refinements", "improvement_type",
                             {"success_gain": (gain("after_success_rate", "before_success_rate"), -1, 1),
                              "quality_gain": (gain("after_quality_score", "before_quality_score"), -1, 1)}, kinds),
        "step": ("step_executions", "step_id", {"success_rate": (step_ok, 0, 1),
                                                "duration_seconds": (lambda r: num("duration_ms")(r) / 1000, 0, cap)},
                 STEPS),
        "workflow": ("workflow_executions", "workflow_name",
                     {"success_rate": (num("success"), 0, 1),
                      "duration_seconds": (num("duration"), 0, policy.workflow_duration_cap_seconds)}, WORKFLOWS),
    }


def _fixed(x: float, half: float) -> int:
    """A centred value as fixed-point units, rounded half up (as the release's SQL does)."""
    return math.floor(x / half * UNITS + 0.5)


def _top(counts: dict, limit: int) -> list:
    return sorted(counts, key=lambda g: (-counts[g], g))[:limit]


def _expected(projects: dict[str, dict[str, pd.DataFrame]], policy: Policy) -> dict:
    out: dict = {}
    for dim, (table, column, metrics, vocabulary) in _dimensions(policy).items():
        centred = {m: defaultdict(list) for m in metrics}
        for tables in projects.values():
            rows, values = Counter(), {m: defaultdict(list) for m in metrics}
            for row in tables[table].to_dict("records"):
                group = row[column]
                if not isinstance(group, str) or group in ("", "unknown") or PSEUDONYM.fullmatch(group):
                    continue
                group = group if vocabulary is None or group in vocabulary else "other"
                rows[group] += 1
                for m, (value, lo, hi) in metrics.items():
                    if math.isfinite(v := value(row)):
                        values[m][group].append(min(hi, max(lo, v)))
            complete = {g: n for g, n in rows.items() if all(values[m][g] for m in metrics)}  # every metric
            limit = min(len(vocabulary), policy.max_groups) if vocabulary else policy.max_groups
            for group in _top(complete, limit):
                for m, (_, lo, hi) in metrics.items():
                    mean = sum(values[m][group]) / len(values[m][group])
                    centred[m][group].append(_fixed(mean - (lo + hi) / 2, (hi - lo) / 2))
        first = centred[next(iter(metrics))]
        out[dim] = {"count": {g: len(c) for g, c in first.items()}}
        for m in metrics:
            out[f"{dim}.{m}"] = {"sum": {g: sum(c) for g, c in centred[m].items()}}

    shares = [{o: n / len(t) for o, n in Counter(o if o in OUTCOMES else "other" for o in t["outcome"]).items()}
              for t in (tables["task_memories"] for tables in projects.values()) if len(t)]
    out[OUTCOME_DIMENSION] = {"count": {"*": len(shares)}}
    out[OUTCOME_SLOT] = {"sum": {o: sum(_fixed(s.get(o, 0.0), 1.0) for s in shares) for o in OUTCOMES}}

    reasons = Counter()
    for tables in projects.values():
        mine = Counter()
        for listed in tables["patterns"]["failure_reasons"]:
            for text in listed:
                text = " ".join(text.split()).strip(".;:,").lower()
                if 0 < len(text) <= 80:
                    mine[text] += 1
        reasons.update(_top(mine, policy.max_failure_reasons))
    out[REASON_SLOT] = {"count": dict(reasons)}
    return out


def _assert_same(found: dict, expected: dict) -> None:
    assert set(found) == set(expected)
    for slot, kinds in expected.items():
        assert set(found[slot]) == set(kinds), slot
        for kind, groups in kinds.items():
            assert set(found[slot][kind]) == set(groups), (slot, kind, found[slot][kind], groups)
            for group, value in groups.items():
                assert found[slot][kind][group] == pytest.approx(value, rel=1e-12, abs=1e-12), (slot, kind, group)


# --- the tests -------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [Policy(), Policy(max_groups=2, max_failure_reasons=1)], ids=["default", "tight"])
def test_duckdb_over_the_pooled_parquet_gives_the_reference_aggregates(pooled, policy):
    store, _, projects = pooled
    found = exact_aggregates(store.root(), policy, store.engine())
    _assert_same(found, _expected(projects, policy))
    # the synthetic truth, directly: rare groups keep their few projects, bounding binds on the odd project
    assert found["capability_type"]["count"][synth.RARE_CAPABILITY] == 3
    assert found["agent"]["count"]["other"] == 4  # auditor: no framework agent
    assert found["step"]["count"]["plan"] == found["workflow"]["count"]["fix"] == PROJECTS_POOLED
    common = PROJECTS_POOLED - 1 if policy.max_failure_reasons > 1 else 0  # R = 1 keeps "flaky fixture ..."
    assert found[REASON_SLOT]["count"].get(synth.COMMON_REASON, 0) == common
    assert found[REASON_SLOT]["count"]["retry step 0 failed"] == 1
    g = policy.max_groups
    assert sum(found["agent"]["count"].values()) == sum(min(3 + (i < 4), g) for i in range(8)) + min(12, g)
    # the same SQL over the same rows held as DataFrames
    frames = {t: pd.concat([tables[t].assign(project=p) for p, tables in projects.items()], ignore_index=True)
              for t in RELEASE_TABLES}
    _assert_same(exact_aggregates(frames, policy), found)


def test_the_engine_runs_under_its_configured_limits_and_spills_under_the_store(pooled):
    store, _, _ = pooled
    with connect(store.root(), RELEASE_TABLES, store.engine()) as con:
        (limit, threads, spill), = con.execute("SELECT current_setting('memory_limit'), current_setting('threads'), "
                                               "current_setting('temp_directory')").fetchall()
        assert threads == 1 and spill == str(store.root() / SPILL)
        assert limit.endswith("MiB") and float(limit.split()[0]) == pytest.approx(64e6 / MiB, abs=0.1)
        # the views read the Hive partitions: one project per directory, each with its submission
        rows = con.execute("SELECT count(DISTINCT project), count(DISTINCT submission), count(*) FROM patterns"
                           ).fetchall()
    assert rows == [(PROJECTS_POOLED, PROJECTS_POOLED, 16 * PROJECTS_POOLED)]
    with connect(store.root(), ("feedback",), EngineSettings()) as con:  # no project has rows
        assert con.execute("SELECT count(*) FROM feedback").fetchall() == [(0,)]


def test_the_release_job_runs_on_the_engine_and_passes_its_checks(pooled, instance):
    store, inbox, projects = pooled
    defs = Definitions.merge(insights_area.defs, Definitions(resources={"inbox": inbox, "insights_store": store}))
    result = defs.resolve_job_def("shared_insights_job").execute_in_process(
        instance=instance, run_config={"ops": {"shared_insights": {"config": {"epsilon": 40_000.0}}}})
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"release_respects_k": True, "privacy_budget_accounted": True}
    release_id = (store.root() / "releases" / "LATEST").read_text().strip()
    doc = json.loads((store.root() / "releases" / release_id / "insights.json").read_text())
    assert doc["format"] == "learning-shared-insights" and doc["format_version"] == 1
    assert doc["privacy"]["noise"] == NOISE and doc["privacy"]["measurements"] == 21
    rows = {(r["dimension"], r["metric"], r["group"]): r for r in doc["insights"]}
    expected = _expected(projects, Policy(epsilon=40_000.0))
    means = 0
    for dimension, (_, _, metrics, _) in _dimensions(Policy()).items():
        for metric, (_, lo, hi) in metrics.items():
            for group, n in expected[dimension]["count"].items():
                row = rows.get((dimension, metric, group))
                if row is not None and n >= 5:  # present if the noisy count cleared the minimum
                    truth = (lo + hi) / 2 + expected[f"{dimension}.{metric}"]["sum"][group] * (hi - lo) / 2 / UNITS / n
                    # a huge epsilon makes the noise tiny, so 40 s.d. (a Laplace tail of e^-56: never by chance)
                    # is still a tight bound on any bias
                    assert row["noise_sd"] < 1e-3 * (hi - lo), row
                    assert abs(row["value"] - truth) <= 40 * row["noise_sd"] + 1e-4 * (hi - lo), (dimension, metric, group, row)
                    means += 1
    assert means >= 30
    least = doc["privacy"]["min_projects"]
    assert all(r["projects"] >= 5 for r in doc["insights"]) and all(v >= 5 for v in least.values())
    assert ("failure_reason", "projects", synth.COMMON_REASON) in rows
    assert json.loads((store.root() / "best_practices.json").read_text())["release_id"] == release_id
