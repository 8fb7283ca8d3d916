"""Data-quality checks: Pandera schemas as asset checks, Great Expectations over the export, Data Docs.

One pipeline run (module scope) provides a real export; each check is then shown to pass on it and to
fail on copies made wrong on purpose (wrong type, out-of-range rate, duplicate key, planted e-mail,
row counts that disagree). Great Expectations is slow to import, so the GX suites run over the broken
copy once and every fault is asserted on that one result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, materialize

from learning_assets.defs.export.checks import GX_CHECKS
from learning_assets.defs.export.schema_checks import schema_check_result
from learning_assets.defs.types import table_dagster_type
from learning_assets.exportfiles.parquet import (
    read_arrow_frame,
    write_table,
)
from learning_assets.quality.validate import (
    ExportFiles,
    build_data_docs,
    distinct_frame,
    pandera_report,
    safe_value,
    text_frame,
    validate_export,
)
from learning_assets.sources.frames import TEXT, TEXT_LIST
from learning_assets.tables import ANONYMIZED, RAW, TABLE_NAMES
from tests.conftest import ASSETS, CHECKS, resources_for, run_pipeline

PLANTED_EMAIL = "zorblatt.quality@example.org"


def _evaluations(result) -> dict[tuple[str, str], object]:
    return {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


@pytest.fixture(scope="module")
def run(tiny_source, tmp_path_factory):
    """One full pipeline run (k=1 so every row is kept) on its own instance."""
    base = tmp_path_factory.mktemp("quality")
    with DagsterInstance.ephemeral(tempdir=str(base / "dagster_home")) as instance:
        result = run_pipeline(tiny_source.root, base / "export", instance, k=1)
        assert result.success
        export_dir = next((base / "export" / "exports").iterdir())
        yield {"result": result, "instance": instance, "export": export_dir, "base": base,
               "source": tiny_source.root, "storage": base / "export_storage"}


@pytest.fixture(scope="module")
def tables(run) -> dict[str, pd.DataFrame]:
    """The exported tables in the dtypes the assets hold them in."""
    return {t: read_arrow_frame(run["export"] / "tables" / f"{t}.parquet") for t in TABLE_NAMES}


# --- the checks are registered and pass on the sample ------------------------------------------------


def test_every_quality_check_ran_and_passed_on_the_sample(run):
    evaluations = _evaluations(run["result"])
    expected = {(f"raw/{t}", "pandera_schema") for t in RAW} | {(f"anonymized/{t}", "pandera_schema")
                                                                for t in ANONYMIZED}
    expected |= {("learning_export", "export_json_schema")} | {("learning_export", name)
                                                              for name, _ in GX_CHECKS.values()}
    assert expected <= set(evaluations)
    failed = {k: v.description for k, v in evaluations.items() if k in expected and not v.passed}
    assert failed == {}
    gx = evaluations[("learning_export", "gx_tables")]
    assert gx.metadata["suites"].value == len(TABLE_NAMES)
    assert gx.metadata["expectations"].value > 100


def test_blocking_flags_match_the_design():
    specs = {(s.asset_key.to_user_string(), s.name): s for c in [*CHECKS, *ASSETS] for s in c.check_specs}
    assert all(specs[(f"anonymized/{t}", "pandera_schema")].blocking for t in ANONYMIZED)
    assert not any(specs[(f"raw/{t}", "pandera_schema")].blocking for t in RAW)
    for name in ["export_json_schema", *(n for n, _ in GX_CHECKS.values())]:
        assert specs[("learning_export", name)].blocking


# --- Pandera: failing rows and columns, never a traceback --------------------------------------------


def test_pandera_reports_an_out_of_range_rate_with_row_column_and_value(tables):
    caps = tables["capabilities"].copy()
    assert pandera_report(caps, ANONYMIZED["capabilities"])["passed"]
    caps.loc[1, "success_rate"] = 1.5
    report = pandera_report(caps, ANONYMIZED["capabilities"])
    assert not report["passed"] and report["failed_rows"] == 1
    assert {"column": "success_rate", "check": "in_range(0.0, 1.0)", "count": 1} in report["by_column"]
    assert {"row": 1, "column": "success_rate", "check": "in_range(0.0, 1.0)", "value": 1.5} in report["sample"]
    # the Dagster type enforces only the shape: the value problem is the check's to report
    type_check = table_dagster_type(ANONYMIZED["capabilities"]).type_check(None, caps)
    assert type_check.success


def test_pandera_reports_a_wrong_type_and_the_dagster_type_rejects_it(tables):
    agents = tables["agent_executions"].copy()
    agents["duration"] = agents["duration"].astype(str)
    report = pandera_report(agents, ANONYMIZED["agent_executions"])
    assert not report["passed"]
    assert any(g["column"] == "duration" and "dtype" in g["check"] for g in report["by_column"])
    assert not table_dagster_type(ANONYMIZED["agent_executions"]).type_check(None, agents).success


def test_pandera_reports_a_duplicate_pseudonymous_key_and_a_null(tables):
    tasks = tables["task_memories"].copy()
    tasks.loc[1, "task_id"] = tasks.loc[0, "task_id"]
    tasks.loc[2, "outcome"] = None
    report = pandera_report(tasks, ANONYMIZED["task_memories"])
    checks = {(g["column"], g["check"]) for g in report["by_column"]}
    assert ("task_id", "field_uniqueness") in checks
    assert ("outcome", "not_nullable") in checks
    # pseudonyms are safe to show, so the duplicate is named
    assert any(s["column"] == "task_id" and s["value"] == tasks.loc[0, "task_id"] for s in report["sample"])


def test_failure_samples_never_show_free_text(tables):
    raw = tables["patterns"].copy()
    raw.loc[0, "pattern_type"] = f"mail {PLANTED_EMAIL}"
    report = pandera_report(raw, ANONYMIZED["patterns"])
    assert not report["passed"]
    assert PLANTED_EMAIL not in json.dumps(report)
    assert safe_value(PLANTED_EMAIL) == f"<text, {len(PLANTED_EMAIL)} chars>"
    assert safe_value("task_0123456789abcdef") == "task_0123456789abcdef"
    assert safe_value("reviewer", reveal_names=False) == "<text, 8 chars>"


def test_a_failing_anonymized_check_blocks_the_export(tiny_source, tmp_path, instance, monkeypatch):
    """An out-of-range rate reaching an anonymized table fails its check, which skips the export."""
    import learning_assets.defs.export.anonymized as anonymized

    real = anonymized.anonymize_table

    def broken(table, raw, anonymizer):
        df = real(table, raw, anonymizer)
        if table == "capabilities" and len(df):
            df.loc[0, "success_rate"] = 1.5
        return df

    monkeypatch.setattr(anonymized, "anonymize_table", broken)
    result = run_pipeline(tiny_source.root, tmp_path / "export", instance, k=1)
    assert not result.success
    check = _evaluations(result)[("anonymized/capabilities", "pandera_schema")]
    assert not check.passed
    assert check.metadata["failures"].value == 1
    assert "success_rate" in check.metadata["failures_by_column"].value
    assert instance.get_latest_materialization_event(AssetKey("learning_export")) is None
    assert not (tmp_path / "export" / "exports").exists()


def _faults(tables) -> list[tuple[str, pd.DataFrame]]:
    """One fault per kind of rule, each planted in a copy of a valid table."""
    def planted(table, *cells):
        df = tables[table].copy()
        for row, column, value in cells:
            assert row in df.index  # `at` would add the row
            if value is not None and not isinstance(value, type(df.at[row, column])):
                df[column] = df[column].astype(object)  # a value Arrow cannot hold: a column of Python objects
            df.at[row, column] = value
        return table, df

    def first(table, column):
        return tables[table].at[0, column]

    agents = tables["agent_executions"]
    return [
        planted("capabilities", (1, "success_rate", 1.5)),                                # range
        planted("capabilities", (1, "agent_id", "Alice")),                                # pattern
        planted("capabilities", (1, "agent_id", 7)),                                      # not a string
        planted("task_memories", (1, "task_id", first("task_memories", "task_id"))),      # duplicate key
        planted("task_memories", (2, "outcome", None)),                                   # null
        planted("task_memories", (0, "key_learnings", "x")),                              # not a list
        planted("capability_refinements", (1, "capability_id", first("capability_refinements", "capability_id")),
                (1, "position", first("capability_refinements", "position"))),            # duplicate compound key
        ("agent_executions", agents.astype({"duration": str})),                           # dtype
        ("agent_executions", agents.assign(extra=1)),                                     # extra column
        ("agent_executions", agents[list(reversed(agents.columns))]),                     # column order
    ]


def test_pandera_passes_every_valid_table_and_finds_each_kind_of_fault(tables):
    for table, df in tables.items():
        assert pandera_report(df, ANONYMIZED[table])["passed"], table
        assert table_dagster_type(ANONYMIZED[table]).type_check(None, df).success, table
    for table, df in _faults(tables):
        assert not pandera_report(df, ANONYMIZED[table])["passed"], table


def test_schema_check_result_is_a_plain_function(tables):
    caps = tables["capabilities"].copy()
    caps.loc[1, "success_rate"] = 1.5
    result = schema_check_result("anonymized", "capabilities", caps)
    assert (result.check_name, result.asset_key) == ("pandera_schema", AssetKey(["anonymized", "capabilities"]))
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert result.metadata["failures"].value == 1 and "success_rate" in result.metadata["failures_by_column"].value
    assert schema_check_result("anonymized", "capabilities", tables["capabilities"]).passed
    raw = schema_check_result("raw", "capabilities", caps)  # anonymized columns are not the raw ones
    assert not raw.passed and raw.severity == AssetCheckSeverity.WARN


def test_the_distinct_values_frame_keeps_each_value_once_whatever_the_column_holds():
    table = pd.DataFrame({"a": pd.Series(["x", None, "y", "x"], dtype=TEXT),
                          "mixed": pd.Series(["x", 1, None, 1], dtype=object),  # a tampered table
                          "n": [1.5, 1.5, 1.5, None]})
    frame = distinct_frame(table, ["a", "mixed", "n", "absent"])
    assert list(frame.columns) == ["a", "mixed", "n"] and len(frame) == 2
    assert frame["a"].tolist() == ["x", "y"] and frame["mixed"].tolist() == ["x", 1]
    assert frame["n"].iloc[0] == 1.5 and frame["n"].iloc[1:].isna().all()  # padding is missing, which GX skips


def test_text_frame_holds_each_distinct_string_once_per_column_at_its_first_row():
    table = pd.DataFrame({"a": pd.Series(["x", "cap_0123456789abcdef", "x", None], dtype=TEXT),
                          "l": pd.Series([["y", "x"], [], ["y"], ["z"]], dtype=TEXT_LIST),
                          "j": pd.Series(['{"k": "v"}', "{bad", '{"k": "w"}', "plain"], dtype=TEXT),
                          "n": [1, 2, 3, 4]})
    chunked = table.apply(lambda column: pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(
        [pa.array(column.iloc[:1]), pa.array(column.iloc[1:])]))) if isinstance(column.dtype, pd.ArrowDtype)
        else column)  # as read from Parquet in row groups
    files = ExportFiles(Path("export"), tables={"t": table}, json_files={"f.json": {"k": ["x", "/p"]}})
    assert text_frame(files).equals(text_frame(ExportFiles(Path("export"), tables={"t": chunked},
                                                           json_files=files.json_files)))
    assert list(text_frame(files).itertuples(index=False, name=None)) == [
        ("tables/t.parquet", "a", 0, "x"),
        ("tables/t.parquet", "l", 0, "y"), ("tables/t.parquet", "l", 0, "x"), ("tables/t.parquet", "l", 3, "z"),
        ("tables/t.parquet", "j", 0, "k"), ("tables/t.parquet", "j", 0, "v"), ("tables/t.parquet", "j", 1, "{bad"),
        ("tables/t.parquet", "j", 2, "w"), ("tables/t.parquet", "j", 3, "plain"),
        ("f.json", "$.k", None, "k"), ("f.json", "$.k[0]", None, "x"), ("f.json", "$.k[1]", None, "/p")]


# --- Great Expectations -----------------------------------------------------------------------------


def _broken_copy(export_dir: Path, target: Path) -> Path:
    """The export with one planted fault per table or file."""
    shutil.copytree(export_dir, target)
    t = target / "tables"

    def edit(name, fn):
        df = read_arrow_frame(t / f"{name}.parquet")
        fn(df)
        write_table(df, t / f"{name}.parquet")

    edit("patterns", lambda df: df.__setitem__("context", df["context"].where(
        df.index != 0, f"contact {PLANTED_EMAIL} for details")))                       # planted e-mail
    edit("capabilities", lambda df: df.__setitem__("success_rate", df["success_rate"].where(
        df.index != 0, 1.5)))                                                            # out-of-range rate
    edit("task_memories", lambda df: df.__setitem__("task_id", df["task_id"].where(
        df.index != 1, df.loc[0, "task_id"])))                                           # duplicate key
    edit("agent_executions", lambda df: df.__setitem__("duration", df["duration"].astype(str)))  # wrong type
    edit("feedback", lambda df: df.__setitem__("feedback_id", df["feedback_id"].where(
        df.index != 0, "fb_Not-A-Pseudonym")))                                          # breaks the id pattern
    manifest = json.loads((target / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry.get("table") == "workflow_executions":
            entry["rows"] += 1                                                           # manifest disagrees
    (target / "manifest.json").write_text(json.dumps(manifest))
    doc = json.loads((target / "learning_export.json").read_text())
    doc["pattern_statistics"]["total_patterns"] += 2                                     # document disagrees
    doc["analytics_data"]["workflows_per_day"][0]["note"] = "/home/alice/acme/secret.txt"  # path in the document
    (target / "learning_export.json").write_text(json.dumps(doc))
    return target


@pytest.fixture(scope="module")
def gx_runs(run, tmp_path_factory):
    good = validate_export(run["export"])
    bad = validate_export(_broken_copy(run["export"], tmp_path_factory.mktemp("gx") / "broken"))
    return good, bad


def _failed(validation, suite: str) -> list[dict]:
    return next(o for o in validation.outcomes if o.suite == suite).failed


def test_the_invariant_check_finds_a_planted_email_and_path(run, tmp_path):
    from learning_assets.privacy.leaks import scan_export

    found = scan_export(_broken_copy(run["export"], tmp_path / "broken"))
    assert {(f["file"], f["rule"]) for f in found} >= {("tables/patterns.parquet", "at_sign"),
                                                        ("learning_export.json", "word_not_allowed")}
    assert any(f["location"] == "$.analytics_data.workflows_per_day[0].note" for f in found)
    assert all(PLANTED_EMAIL not in f["sample"] for f in found)  # samples are masked
    assert scan_export(run["export"]) == []


def test_gx_suites_pass_on_the_sample(gx_runs):
    good, _ = gx_runs
    assert [o.suite for o in good.outcomes if not o.success] == []
    assert {o.kind for o in good.outcomes} == {"tables", "privacy", "counts"}


def test_gx_catches_an_out_of_range_rate(gx_runs):
    failed = _failed(gx_runs[1], "capabilities")
    hit = [f for f in failed if f["column"] == "success_rate"]
    assert hit and hit[0]["expectation"] == "expect_column_values_to_be_between"
    assert hit[0]["unexpected"] == 1 and hit[0]["values"] == [1.5] and hit[0]["rows"] == [0]


def test_gx_catches_a_duplicate_key(gx_runs):
    failed = _failed(gx_runs[1], "task_memories")
    assert any(f["expectation"] == "expect_column_values_to_be_unique" and f["column"] == "task_id"
               for f in failed)


def test_gx_checks_a_pattern_on_every_distinct_value_and_names_the_value(gx_runs):
    failed = _failed(gx_runs[1], "feedback")
    hit = [f for f in failed if f["expectation"] == "expect_column_values_to_match_regex"]
    assert [(f["column"], f["unexpected"]) for f in hit] == [("feedback_id", 1)]
    assert hit[0]["values"] and hit[0]["rows"] == []  # the value's length; rows are not a distinct value's


def test_gx_catches_a_wrong_type(gx_runs):
    failed = _failed(gx_runs[1], "agent_executions")
    assert any(f["column"] == "duration" for f in failed)


def test_gx_catches_a_planted_email_and_a_path_without_showing_them(gx_runs):
    failed = {f["rule"]: f for f in _failed(gx_runs[1], "no_sensitive_text")}
    assert set(failed) == {"email", "path"}
    assert failed["email"]["rows"] == ["tables/patterns.parquet:context[0]"]
    assert failed["path"]["rows"] == ["learning_export.json:$.analytics_data.workflows_per_day[0].note"]
    assert PLANTED_EMAIL not in json.dumps(failed) and "/home/alice" not in json.dumps(failed)


def test_gx_catches_row_counts_that_disagree(gx_runs):
    failed = _failed(gx_runs[1], "row_counts")
    pairs = {f["column"]: f["rows"] for f in failed}
    assert pairs["parquet_rows=manifest_rows"] == ["workflow_executions"]
    assert pairs["parquet_rows=document_rows"] == ["patterns"]


def test_a_failing_gx_check_publishes_nothing(run, tmp_path):
    """Plant an e-mail in a stored anonymized table and re-run only the export: GX blocks publishing."""
    storage = tmp_path / "export_storage"
    shutil.copytree(run["storage"], storage)
    path = storage / "anonymized" / "agent_executions"
    df = read_arrow_frame(path)
    df.loc[0, "agent_name"] = f"ping {PLANTED_EMAIL}"
    write_table(df, path)
    from learning_assets.defs.export.publish import learning_export, published_export

    result = materialize([*ASSETS, *CHECKS], instance=run["instance"], raise_on_error=False,
                         selection=[learning_export, published_export],
                         resources=resources_for(run["source"], tmp_path / "export", storage, k=1))
    assert not result.success
    gx = _evaluations(result)[("learning_export", "gx_no_sensitive_text")]
    assert not gx.passed
    assert "tables/agent_executions.parquet:agent_name[0]" in gx.metadata["failures"].value
    assert PLANTED_EMAIL not in json.dumps({k: str(v.value) for k, v in gx.metadata.items()})
    assert not (tmp_path / "export" / "exports").exists()


def test_data_docs_are_html_without_failing_values(run, tmp_path, gx_runs):
    broken = _broken_copy(run["export"], tmp_path / "broken")
    index = build_data_docs(broken, tmp_path / "docs")
    assert index == tmp_path / "docs" / "index.html" and index.is_file()
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    # one page per suite, and one per table for the patterns over its distinct values
    assert len(pages) == len(gx_runs[1].outcomes) + len(gx_runs[1].of_kind("tables"))
    html = "".join(p.read_text() for p in (tmp_path / "docs").rglob("*.html"))
    assert "no_sensitive_text" in html and "Failed" in html
    assert PLANTED_EMAIL not in html and "/home/alice" not in html


# --- JSON Schema on a real export --------------------------------------------------------------------


def test_the_published_export_validates_as_1_1(run, capsys):
    from learning_assets.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(run["export"])])
    assert exit_.value.code == 0
    assert "valid (schema 1.1)" in capsys.readouterr().err


def test_a_tampered_export_fails_validation_with_json_paths(run, tmp_path, capsys):
    from learning_assets.cli import main

    target = tmp_path / "tampered"
    shutil.copytree(run["export"], target)
    doc = json.loads((target / "learning_export.json").read_text())
    doc["capability_metrics"]["capabilities"][0]["success_rate"] = 2
    doc["capability_metrics"]["capabilities"][0]["file_path"] = "/home/alice/x.py"
    (target / "learning_export.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(target)])
    out = capsys.readouterr()
    assert exit_.value.code == 1
    assert "$.capability_metrics.capabilities[0].success_rate: 2 is greater than the maximum of 1" in out.out
    assert "$.capability_metrics.capabilities[0]: Additional properties are not allowed" in out.out
    assert "manifest.json  $: learning_export.json: checksum mismatch" in out.out
    assert "differs from the document's export_metadata" not in out.out
    assert "Traceback" not in out.out + out.err
