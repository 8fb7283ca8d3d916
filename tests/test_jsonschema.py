"""Versioned JSON Schema: our 1.1 documents, the framework's 1.0 documents, migration, `learning validate`.

No pipeline run here: documents come from `build_document` over small frames, and from a
framework-shaped export written by hand from SOURCE_FORMATS.md (tests/data/framework_export_1.0.json).
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from learning_assets.exportfiles import migration, versions
from learning_assets.exportfiles.document import build_document, export_metadata
from learning_assets.exportfiles.report import build_report
from learning_assets.exportfiles.versions import ExportSchemaError, SchemaVersionError
from learning_assets.exportfiles.write import write_export
from learning_assets.sources.frames import empty_frame
from learning_assets.tables import ANONYMIZED
from tests.conftest import learning

FRAMEWORK_EXPORT = Path(__file__).parent / "data" / "framework_export_1.0.json"
KEY = b"k" * 32


def _frame(table: str, rows: list[dict]) -> pd.DataFrame:
    from learning_assets.sources.frames import conform

    return conform(pd.DataFrame(rows), ANONYMIZED[table])


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    out = {t: empty_frame(s) for t, s in ANONYMIZED.items()}
    day = pd.Timestamp("2026-03-02", tz="UTC")
    out["capabilities"] = _frame("capabilities", [
        {"capability_id": "cap_0123456789abcdef", "agent_id": "reviewer", "capability_type": "security-scan",
         "success_rate": 0.91, "average_duration": 12.4, "quality_score": 0.82, "usage_count": 140,
         "last_improved": day, "refinement_count": 1}])
    out["patterns"] = _frame("patterns", [
        {"pattern_id": "pat_0123456789abcdef", "pattern_type": "function", "code_lines": 2, "context": "retry",
         "quality_score": 0.86, "usage_count": 9, "success_rate": 0.88, "learned_from": ["task_0123456789abcdef"],
         "metadata": '{"language": "python"}', "security_score": 8.5, "is_anti_pattern": False,
         "failure_reasons": [], "rejection_count": 0}])
    out["agent_executions"] = _frame("agent_executions", [
        {"agent_id": "reviewer", "agent_name": "Reviewer Agent", "duration": 12.3, "success": True,
         "timestamp": day}])
    return out


@pytest.fixture
def document(tables) -> dict:
    meta = export_metadata("project_0123456789abcdef", "3.5.21", 5)
    return build_document(tables, meta, build_report({"capabilities": {"rows_in": 1, "rows_out": 1}}, 5))


@pytest.fixture
def framework_doc() -> dict:
    return json.loads(FRAMEWORK_EXPORT.read_text())


def test_schema_documents_are_package_data_and_versioned():
    assert versions.known_versions() == ["1.0", "1.1"]
    for version in versions.known_versions():
        schema = versions.load_schema(version)
        assert schema["$id"].endswith(version)
        versions.validator(version).check_schema(schema)


def test_strict_records_list_exactly_the_anonymized_columns():
    """Adding a column to a table must come with a schema change (and a new version when it ships)."""
    defs = versions.load_schema("1.1")["$defs"]
    assert list(defs["capability"]["properties"]) == list(ANONYMIZED["capabilities"].columns)
    assert list(defs["pattern"]["properties"]) == list(ANONYMIZED["patterns"].columns)
    assert defs["capability"]["additionalProperties"] is False and defs["pattern"]["additionalProperties"] is False


def test_our_document_is_valid_1_1(document):
    assert versions.declared_version(document) == "1.1"
    assert versions.validate(document) == []
    assert versions.check_document(document) == []


@pytest.mark.parametrize("mutate, path, words", [
    (lambda d: d["capability_metrics"]["capabilities"][0].__setitem__("success_rate", 1.5),
     "$.capability_metrics.capabilities[0].success_rate", "greater than the maximum of 1"),
    (lambda d: d["pattern_statistics"]["top_patterns"][0].__setitem__("code_snippet", "def charge(self): ..."),
     "$.pattern_statistics.top_patterns[0]", "'code_snippet' was unexpected"),
    (lambda d: d["analytics_data"]["agents_per_day"][0].__setitem__("date", "2026-02-30"),
     "$.analytics_data.agents_per_day[0].date", "is not a 'date'"),
    (lambda d: d["export_metadata"].__setitem__("export_timestamp", "2026-03-02 14:05"),
     "$.export_metadata.export_timestamp", "is not a 'date-time'"),
    (lambda d: d["export_metadata"].__setitem__("anonymization_applied", False),
     "$.export_metadata.anonymization_applied", "True was expected"),
    (lambda d: d["capability_metrics"]["capabilities"][0].__setitem__("capability_id", "reviewer.security-scan"),
     "$.capability_metrics.capabilities[0].capability_id", "does not match"),
    (lambda d: d.__setitem__("raw_tables", {}), "$", "'raw_tables' was unexpected"),
    (lambda d: d["learning_effectiveness"].pop("code_outcomes"), "$.learning_effectiveness",
     "'code_outcomes' is a required property"),
])
def test_schema_errors_name_their_json_path(document, mutate, path, words):
    mutate(document)
    issues = versions.validate(document)
    assert any(i.path == path and words in i.message for i in issues), issues


def test_error_messages_never_repeat_text_values(document):
    secret = "/home/alice/acme/src/auth.py"
    document["capability_metrics"]["capabilities"][0]["capability_type"] = secret
    issues = versions.validate(document)
    assert issues and secret not in json.dumps([str(i) for i in issues])
    assert "<string of 28 chars>" in issues[0].message


def test_consistency_checks_beyond_the_schema(document):
    document["capability_metrics"]["total_capabilities"] = 3
    issues = versions.check_document(document)
    assert [(i.path, i.severity) for i in issues] == [("$.capability_metrics.total_capabilities", "error")]


def test_unknown_or_missing_version_fails_clearly(document):
    document["export_metadata"]["schema_version"] = "2.0"
    with pytest.raises(SchemaVersionError, match=r"unknown schema version '2.0'.*knows 1.0, 1.1"):
        versions.ensure_valid(document)
    del document["export_metadata"]["schema_version"]
    with pytest.raises(SchemaVersionError, match="schema_version is missing"):
        versions.validate(document)
    with pytest.raises(SchemaVersionError, match="no export_metadata"):
        versions.declared_version({"capability_metrics": {}})


def test_an_invalid_staged_document_fails_the_directory_check(tables, document, tmp_path):
    """`write_export` writes what it is given; the blocking check on the staged directory finds the error."""
    document["capability_metrics"]["capabilities"][0]["success_rate"] = 7
    export = tmp_path / "20260302T140511Z-abcdef"
    export.mkdir()
    write_export(export, tables, document, document["anonymization_report"])
    errors = [i for i in versions.check_directory(export) if i.severity == "error"]
    assert [(i.file, i.path) for i in errors] == [("learning_export.json",
                                                   "$.capability_metrics.capabilities[0].success_rate")]


# --- the framework's own export (1.0) ------------------------------------------------------------------


def test_framework_export_validates_as_1_0_with_a_warning(framework_doc):
    assert versions.declared_version(framework_doc) == "1.0"
    assert versions.validate(framework_doc) == []
    issues = versions.check_document(framework_doc)
    assert [i.severity for i in issues] == ["warning"]
    # and it is not a 1.1 document
    assert versions.validate(framework_doc, "1.1")


def test_framework_sections_with_errors_are_warnings(framework_doc):
    framework_doc["analytics_data"] = {"error": "AnalyticsDashboard not available"}
    del framework_doc["learning_effectiveness"]
    framework_doc["export_metadata"]["anonymization_applied"] = False
    messages = {i.path: i.message for i in versions.check_document(framework_doc)}
    assert "holds only an error" in messages["$.analytics_data"]
    assert messages["$.learning_effectiveness"] == "section missing"
    assert "not applied" in messages["$.export_metadata.anonymization_applied"]


def test_migration_turns_1_0_into_a_valid_1_1(framework_doc):
    before = copy.deepcopy(framework_doc)
    migrated = migration.migrate(framework_doc, key=KEY)
    assert framework_doc == before  # the input is not modified
    assert versions.declared_version(migrated) == "1.1"
    assert versions.validate(migrated) == []
    meta = migrated["export_metadata"]
    assert meta["migrated_from"]["schema_version"] == "1.0"
    assert meta["export_timestamp"] == "2026-03-02T14:05:11+00:00"  # no microseconds
    assert meta["project_hash"].startswith("project_") and "9f2c4e1a7b3d5c60" not in json.dumps(migrated)
    caps = migrated["capability_metrics"]
    assert caps["total_capabilities"] == 6 == len(caps["capabilities"])
    assert all(c["capability_id"].startswith("cap_") for c in caps["capabilities"])
    assert {c["agent_id"] for c in caps["capabilities"]} == {"reviewer", "implementer", "tester", "debugger",
                                                             "unknown"}
    # a capability type shared by fewer than 5 capabilities is generalized
    assert {c["capability_type"] for c in caps["capabilities"]} == {"code-review", "other"}
    assert migrated["pattern_statistics"]["patterns_by_type"] == {"class": 4, "function": 9, "import": 2,
                                                                  "other": 1, "structure": 1}
    assert migrated["analytics_data"]["agent_executions"] == 165
    # free text of the 1.0 export does not survive
    text = json.dumps(migrated)
    assert "/home/alice" not in text and "security-scan" not in text and "reviewer.security-scan" not in text
    assert migrated["anonymization_report"]["warnings"]
    # pseudonyms are stable under one key and unlinkable across keys
    assert migration.migrate(before, key=KEY)["capability_metrics"] == caps
    assert migration.migrate(before)["capability_metrics"]["capabilities"][0]["capability_id"] != \
        caps["capabilities"][0]["capability_id"]


def test_migrating_an_invalid_or_unknown_document_fails_clearly(framework_doc, document):
    assert migration.migrate(document) == document  # already 1.1
    framework_doc["export_metadata"].pop("framework_version")
    with pytest.raises(ExportSchemaError, match="not a valid schema 1.0 document: .*framework_version"):
        migration.migrate(framework_doc)
    framework_doc["export_metadata"]["schema_version"] = "0.9"
    with pytest.raises(SchemaVersionError, match="unknown schema version '0.9'"):
        migration.migrate(framework_doc)


# --- files, directories and the CLI ---------------------------------------------------------------------


def test_cli_validates_the_framework_export_with_warnings(tmp_path):
    code, out, err = learning("validate", FRAMEWORK_EXPORT)
    assert code == 1 and "warning" in out and "--allow-warnings" in err
    code, out, err = learning("validate", FRAMEWORK_EXPORT, "--allow-warnings")
    assert code == 0 and "valid (schema 1.0)" in err
    gz = tmp_path / "learning-export.json.gz"
    gz.write_bytes(gzip.compress(FRAMEWORK_EXPORT.read_bytes()))
    assert learning("validate", gz, "--allow-warnings")[0] == 0


def test_cli_reports_errors_with_json_paths_in_one_line_each(tmp_path, document):
    document["capability_metrics"]["capabilities"][0]["usage_count"] = -1
    path = tmp_path / "learning_export.json"
    path.write_text(json.dumps(document))
    code, out, err = learning("validate", path)
    assert code == 1
    assert out.splitlines() == ["error   learning_export.json  $.capability_metrics.capabilities[0].usage_count: "
                                "-1 is less than the minimum of 0"]
    assert "INVALID (schema 1.1): 1 error(s)" in err
    code, out, _ = learning("validate", path, "--json")
    assert json.loads(out)[0]["path"] == "$.capability_metrics.capabilities[0].usage_count"


def test_cli_unknown_version_and_broken_files_fail_in_one_line(tmp_path):
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"export_metadata": {"schema_version": "3.0"}}))
    code, out, err = learning("validate", unknown)
    assert code == 1 and "unknown schema version '3.0'" in out
    broken = tmp_path / "broken.json"
    broken.write_text('{"export_metadata": ')
    code, out, err = learning("validate", broken)
    assert code == 1 and "not valid JSON" in out and "Traceback" not in out + err
    code, out, err = learning("validate", tmp_path / "missing.json")
    assert code == 1 and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


def test_cli_migrate_writes_a_valid_1_1_document(tmp_path):
    target = tmp_path / "migrated.json.gz"
    code, _, err = learning("migrate", FRAMEWORK_EXPORT, "--output", target)
    assert code == 0 and "schema 1.1" in err
    migrated = json.loads(gzip.decompress(target.read_bytes()))
    assert versions.validate(migrated) == []
    assert learning("validate", target, "--allow-warnings")[0] == 0
    code, _, err = learning("migrate", tmp_path / "nope.json")
    assert code == 1 and "no such file" in err


def test_metadata_file_and_directory_checks(tmp_path, tables, document):
    export = tmp_path / "20260302T140511Z-abcdef"
    export.mkdir()
    write_export(export, tables, document, document["anonymization_report"])
    assert versions.check_path(export) == []
    assert versions.check_path(export / "export_metadata.json") == []
    assert versions.check_path(export / "manifest.json") == []
    meta = json.loads((export / "export_metadata.json").read_text())
    meta["k_anonymity"] = 0
    (export / "export_metadata.json").write_text(json.dumps(meta))
    issues = versions.check_path(export)
    assert ("export_metadata.json", "$.k_anonymity") in {(i.file, i.path) for i in issues}
    assert any("differs from the document's export_metadata" in i.message for i in issues)
    assert any("checksum mismatch" in i.message for i in issues)


# --- speed without validating less ------------------------------------------------------------------


def test_the_inlined_validator_finds_what_the_schema_as_written_finds(document):
    """`validator` inlines `$defs` references (fast); the errors are those of the schema with references."""
    from jsonschema import Draft202012Validator

    document["export_metadata"]["export_timestamp"] = "2026-03-02 14:05"
    document["capability_metrics"]["capabilities"][0]["success_rate"] = 7
    document["capability_metrics"]["capabilities"][0]["file_path"] = "x.py"
    document["analytics_data"]["agents_per_day"][0].update(executions=0, note="n")  # unevaluatedProperties
    document["pattern_statistics"]["patterns_by_type"]["gadget"] = 1                   # $ref + propertyNames
    as_written = Draft202012Validator(versions.load_schema("1.1"), format_checker=versions.FORMATS)
    issues = versions.validate(document)
    assert len(issues) == 6
    assert issues == versions._issues(as_written.iter_errors(document))
    assert "$ref" not in json.dumps(versions.validator("1.1").schema["properties"]["capability_metrics"])
