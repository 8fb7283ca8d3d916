"""A project compares itself with the pool (issue #20, part 1): synthetic projects submit packages made by the
exporter's own functions, the receiver pools them and the real `shared_insights_job` makes a release; one of
them (its own export directory, one pattern type far worse than the others') sees its own numbers beside the
pool's, from the command line (terminal and HTML) and from the `insights_comparison` asset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from learning_assets.definitions import defs as code_location
from learning_assets.defs.dashboard.comparison import HTML_REPORT, insights_comparison
from learning_assets.defs.insights import definitions as insights_area
from learning_assets.insights import release as release_mod
from learning_assets.insights.compare import (
    BELOW,
    NO_DATA,
    NOT_PUBLISHED,
    ReleaseError,
    compare,
    load_release,
    release_policy,
)
from learning_assets.insights.intake import commit, receive, scan_inbox
from learning_assets.insights.release import AGENTS, Policy, release_from
from learning_assets.reports.comparison import render_html
from resources import ExportStore
from resources.shared_insights import InsightsStore, SubmissionInbox
from tests import insights_synth as synth
from tests.conftest import learning, run_pipeline
from tests.test_shared_insights import SeededLaplace

MiB = 1 << 20
PROJECTS = 8
ME = 0                       # the project that compares itself: it has the rare capability type and agent too
WORSE = "import"             # its pattern type far below everyone else's
MISSING_AGENT = "tester"     # an agent the others have and it does not


def _my_tables() -> dict[str, pd.DataFrame]:
    tables = synth.project_tables(ME, shift={"pattern_success": {WORSE: 0.05}})
    agents = tables["agent_executions"]
    tables["agent_executions"] = agents[agents["agent_id"] != MISSING_AGENT].reset_index(drop=True)
    return tables


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Eight projects submitted and pooled; a release made by the real Dagster job; my export directory."""
    root = tmp_path_factory.mktemp("compare")
    inbox = SubmissionInbox(path=str(root / "inbox"), settle_seconds=0, max_package_bytes=5 * MiB)
    store = InsightsStore(path=str(root / "store"), duckdb_memory_limit="64MB", duckdb_threads=1,
                          max_lifetime_epsilon=1000.0,  # near-noiseless releases for exact comparisons
                          require_signature=False)  # synthetic packages: unsigned
    inbox.root().mkdir()
    mine = None
    for i in range(PROJECTS):
        tables = _my_tables() if i == ME else synth.project_tables(i)
        created = synth.base_time(i)
        export_id = synth.export_id(i, created)
        package = synth.write_package(root / "projects" / str(i), tables, synth.project_hash(i), export_id, created)
        shutil.copy(package, inbox.root() / package.name)
        if i == ME:
            mine = (root / "projects" / str(i), tables)
            (mine[0] / "LATEST").write_text(f"{export_id}\n")  # as publishing does: a real export directory
    for key, _ in scan_inbox(inbox, store, None, set()).new:
        assert receive(key, inbox, store)["status"] == "verified"
        assert commit(key, store)["status"] == "accepted"
    defs = Definitions.merge(insights_area.defs, Definitions(resources={"inbox": inbox, "insights_store": store}))
    with DagsterInstance.ephemeral(tempdir=str(root / "dagster_home")) as instance, pytest.MonkeyPatch.context() as mp:
        mp.setattr(release_mod, "OpenDPLaplace", SeededLaplace)  # reproducible noise; the scale is still OpenDP's
        result = defs.resolve_job_def("shared_insights_job").execute_in_process(
            instance=instance, run_config={"ops": {"shared_insights": {"config": {"epsilon": 400.0, "top_rules": 50}}}})
    assert result.success
    release_id = (store.root() / "releases" / "LATEST").read_text().strip()
    return {"store": store.root(), "release": store.root() / "releases" / release_id, "export_root": mine[0],
            "tables": mine[1],
            "doc": json.loads((store.root() / "releases" / release_id / "insights.json").read_text())}


def test_a_project_sees_its_own_numbers_beside_the_pools(pool):
    export_dir = next((pool["export_root"] / "exports").iterdir())
    c = compare(export_dir, load_release(pool["release"]))
    rows = {(r.dimension, r.metric, r.group): r for r in c.rows}
    published = {(r["dimension"], r["metric"], r["group"]): r for r in pool["doc"]["insights"]
                 if r["value"] is not None}

    # the pool's side is the release as published, noise and interval included
    for key, r in published.items():
        assert (rows[key].pool, rows[key].ci_low, rows[key].ci_high, rows[key].noise_sd, rows[key].projects) == \
            (r["value"], r["ci_low"], r["ci_high"], r["noise_sd"], r["projects"]), key
    # the project's side is its own per-group mean, checked here independently of the release's SQL
    me = {"me": pool["tables"]}
    agents = pool["tables"]["agent_executions"]  # the release's agents: the framework's own, the rest as `other`
    me["me"] = {**pool["tables"], "agent_executions": agents.assign(
        agent_id=agents["agent_id"].where(agents["agent_id"].isin(AGENTS), "other"))}
    for (dimension, metric, table, group, value, hi) in [
            ("pattern_type", "success_rate", "patterns", "pattern_type", lambda df: df["success_rate"], 1),
            ("capability_type", "quality_score", "capabilities", "capability_type", lambda df: df["quality_score"], 1),
            ("agent", "success_rate", "agent_executions", "agent_id", lambda df: df["success"].astype("Float64"), 1),
            ("workflow", "success_rate", "workflow_executions", "workflow_name",
             lambda df: df["success"].astype("Float64"), 1),
            ("step", "duration_seconds", "step_executions", "step_id", lambda df: df["duration_ms"] / 1000, 300)]:
        for group, truth in synth.truth_per_project(me, table, group, value, 0, hi).items():
            if not group.startswith("name_"):  # a project's own step name: a pseudonym, in no release
                assert rows[(dimension, metric, group)].project == pytest.approx(truth, abs=1e-12), (dimension, group)
    outcomes = pool["tables"]["task_memories"]["outcome"].value_counts(normalize=True)
    assert rows[("task_outcome", "share", "success")].project == pytest.approx(outcomes["success"])

    # below the pool where it is worse, and only there
    worse = rows[("pattern_type", "success_rate", WORSE)]
    assert worse.position == BELOW and worse.behind and worse.project < worse.ci_low
    assert worse.project == pytest.approx(0.05, abs=0.06)
    # elsewhere it is drawn like the others: behind only by chance (a 95% interval misses the truth 1 time in 20)
    assert ("pattern_type", WORSE) in {(r.dimension, r.group) for r in c.behind}
    assert len(c.behind) <= 1 + len(c.compared) // 10
    for r in c.rows:
        if r.pool is not None and r.project is not None:
            assert (r.position == BELOW) == (r.project < r.ci_low), r
    # groups on one side only: the pool's agent it lacks, its rare groups the release withholds (< k projects)
    assert rows[("agent", "success_rate", MISSING_AGENT)].position == NO_DATA
    assert rows[("capability_type", "success_rate", synth.RARE_CAPABILITY)].position == NOT_PUBLISHED
    # an agent outside the framework's vocabulary is no group of its own in a release: it counts as `other`
    assert ("agent", "success_rate", synth.RARE_AGENT) not in rows and ("agent", "success_rate", "other") in rows

    # practices: the release's rules for groups it has, never one for the agent it does not have
    rules = json.loads((pool["release"] / "best_practices.json").read_text())["rules"]
    assert any(r["dimension"] == "agent" and r["group"] == MISSING_AGENT for r in rules)
    mine = {(d, g) for (d, _m, g), r in rows.items() if r.project is not None}
    expected = [r["rank"] for r in rules if (r["dimension"], r["group"]) in mine]
    assert [p.rank for p in c.practices] == expected and expected
    assert all((p.dimension, p.group) in mine for p in c.practices)
    avoid = next(p for p in c.practices if p.dimension == "pattern_type" and p.group == WORSE)
    assert avoid.direction == "avoid" and avoid.supported and avoid.project == worse.project
    assert c.reasons and c.reasons[0]["reason"] == synth.COMMON_REASON  # project 0 is one of the ten


def test_the_command_shows_it_in_the_terminal_and_as_html_and_writes_nothing_into_the_exports(pool, tmp_path):
    root = pool["export_root"]
    before = _tree(root)
    store_pointer = pool["store"]          # a receiver's store: its releases/LATEST
    for release in (pool["release"], pool["release"] / "insights.json", store_pointer):
        code, out, err = learning("insights", "compare", "--release", release, "--output", root)
        assert code == 0, err
        assert "This project beside the pool" in out and pool["doc"]["release_id"] in out
        assert "Pattern types" in out and "below (behind)" in out and "Be careful with the pattern type 'import'" in out
    worse = next(r for r in pool["doc"]["insights"] if r["dimension"] == "pattern_type"
                 and r["metric"] == "success_rate" and r["group"] == WORSE)
    assert f"{100 * worse['value']:.1f}%" in out

    html = tmp_path / "report" / "compare.html"
    code, out, err = learning("insights", "compare", "--release", pool["release"], "--output", root, "--html", html)
    assert code == 0, err
    assert out.strip() == str(html) and " behind the pool" in err
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "<script" not in page and "src=" not in page and "href" not in page  # self-contained, no network
    assert page.count("<svg") >= len(pool["doc"]["insights"]) // 2
    assert 'class="behind"' in page and "Be careful with the pattern type &#x27;import&#x27;" in page
    assert _tree(root) == before  # nothing written into exports/ or submissions/ (or anywhere in the export dir)


def test_a_missing_or_invalid_release_or_no_export_is_one_line(pool, tmp_path):
    root = pool["export_root"]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "learning-export", "insights": []}))
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (("--release", tmp_path / "nowhere", "--output", root), "no such release file or directory"),
        (("--release", bad, "--output", root), "is not valid JSON"),
        (("--release", other, "--output", root), "not a shared-insights release"),
        (("--release", pool["store"] / "best_practices.json", "--output", root), "holds best-practice rules"),
        (("--release", empty, "--output", root), "holds no release"),
        (("--release", pool["release"], "--output", empty), "no published export yet"),
    ]
    for args, words in cases:
        code, out, err = learning("insights", "compare", *args)
        assert code == 1 and out == "", (args, out)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (args, err)
    with pytest.raises(ReleaseError):
        load_release(bad)


def test_the_asset_materializes_beside_the_exports_and_is_in_no_job(pool, instance):
    root = pool["export_root"]
    before = _tree(root)
    result = materialize([insights_comparison], instance=instance,
                         resources={"export_store": ExportStore(path=str(root))},
                         run_config={"ops": {"insights_comparison": {"config": {"release": str(pool["store"])}}}})
    assert result.success
    meta = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert meta["release_id"] == pool["doc"]["release_id"] and meta["behind"] >= 1 and meta["practices"] >= 1
    assert "import" in meta["behind_the_pool"] and "Be careful with the pattern type 'import'" in meta["best_practices"]
    report = root / HTML_REPORT
    assert meta["html_report"] == str(report) and report.read_text().startswith("<!DOCTYPE html>")
    after = _tree(root)
    assert set(after) - set(before) == {HTML_REPORT} and all(after[k] == v for k, v in before.items())

    failed = materialize([insights_comparison], instance=instance, raise_on_error=False,
                         resources={"export_store": ExportStore(path=str(root))},
                         run_config={"ops": {"insights_comparison": {"config": {"release": str(root)}}}})
    assert not failed.success  # the export directory holds no release

    repo = code_location.get_repository_def()
    for job in repo.get_all_jobs():
        if job.name.startswith("__"):  # Dagster's implicit job of every asset
            continue
        assert AssetKey("insights_comparison") not in job.asset_layer.executable_asset_keys, job.name
    assert not any(s.job_name and AssetKey("insights_comparison") in
                   repo.get_job(s.job_name).asset_layer.executable_asset_keys for s in repo.schedule_defs)


def test_a_real_export_compares_with_the_release(pool, tiny_source, instance, tmp_path):
    """A `learning export` of generated framework data: the same comparison runs on the pipeline's own tables."""
    out = tmp_path / "real_export"
    assert run_pipeline(tiny_source.root, out, instance).success
    export_dir = next((out / "exports").iterdir())
    c = compare(export_dir, load_release(pool["release"]))
    assert c.export_id == export_dir.name and c.rows
    assert all(r.project is None or (r.project_rows or 0) > 0 for r in c.rows)
    own = [r for r in c.rows if r.project is not None]
    assert own  # the generated project has capabilities, agents and tasks of its own
    assert "<svg" in render_html(c)


def test_the_project_side_uses_the_releases_own_duration_caps():
    """The caps a release clipped agent, step and workflow durations to are read back from its privacy section."""
    policy = Policy(epsilon=10.0, duration_cap_seconds=120.0, workflow_duration_cap_seconds=900.0)
    exact = release_mod.exact_aggregates({t: synth.project_tables(1)[t].assign(project="p")
                                          for t in release_mod.RELEASE_TABLES}, policy)
    read = release_policy(release_from(exact, policy, release_id="x").document)
    assert (read.duration_cap_seconds, read.workflow_duration_cap_seconds) == (120.0, 900.0)
    assert release_policy({}).workflow_duration_cap_seconds == Policy().workflow_duration_cap_seconds
