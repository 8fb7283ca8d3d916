"""Every table spec is complete and works on its own fixture: read, Pandera, anonymize, document, JSON Schema."""

from __future__ import annotations

import json
from datetime import timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from learning_assets.privacy.anonymize import Anonymizer
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.rules import Keep, Text
from learning_assets.privacy.scrub import Scrubber
from learning_assets.tables import (
    ANONYMIZED,
    DAILY,
    SNAPSHOT,
    SPECS,
    TABLE_NAMES,
    document_rows,
    json_schema,
    read_table,
)
from learning_assets.tables import columns as col
from learning_assets.tables.spec import SECTIONS, DocumentPart, TableSpec
from schemas import LATEST, load_schema

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tables"
PSEUDO = Pseudonymizer(b"table-spec-test-key-" + b"0" * 20)


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_each_table_has_a_fixture_its_spec_reads_exports_and_documents(name):
    spec = SPECS[name]
    root = FIXTURES / name / ".tapps-agents"
    assert root.is_dir(), f"add a fixture for {name}: tests/fixtures/tables/{name}/.tapps-agents/<its source files>"
    assert any(any(root.glob(pattern)) for pattern in spec.sources), f"{name}: no fixture file matches {spec.sources}"

    read = read_table(name, root, timezone.utc)
    raw = read.frame()
    assert len(raw) > 0 and not read.skipped and not read.warnings, (name, read.skipped, read.warnings)
    spec.raw.validate(raw, lazy=True)

    anonymized = spec.anonymize(raw, Anonymizer(PSEUDO, Scrubber(PSEUDO)))
    spec.anonymized.validate(anonymized, lazy=True)
    assert list(anonymized.columns) == list(spec.anonymized.columns)

    entries = spec.document.build(anonymized)
    assert set(entries) == set(spec.document.properties)
    schema = load_schema(LATEST)
    section = {"type": "object", "required": list(spec.document.properties), "additionalProperties": False,
               "properties": spec.document.properties, "$defs": schema["$defs"]}
    errors = [e.message for e in Draft202012Validator(section).iter_errors(json.loads(json.dumps(entries)))]
    assert not errors, (name, errors[:3])
    if spec.document.rows is not None:
        assert spec.document.rows(entries) == len(anonymized)


def test_the_json_schema_file_is_what_the_specs_make():
    schema = load_schema(LATEST)
    assert json_schema(schema) == schema, "a table's document part changed: run `python -m learning_assets.tables`"


def test_registries_are_derived_from_the_specs():
    assert set(ANONYMIZED) == set(SPECS) == set(TABLE_NAMES)
    assert set(DAILY) == {n for n, s in SPECS.items() if s.incremental is not None and not hasattr(s.incremental, "key")}
    assert set(SNAPSHOT) == {n for n, s in SPECS.items() if hasattr(s.incremental, "key")}
    assert {s.document.section for s in SPECS.values()} <= set(SECTIONS)
    rows = document_rows({"capability_metrics": {"total_capabilities": 3}})
    assert rows["capabilities"] == 3 and set(rows) == set(SPECS)


def _spec(**changes) -> TableSpec:
    raw = col.schema("raw_t", {"t_id": col.text(), "note": col.text(), "n": col.integer()})
    args = dict(name="t", description="A table.", sources=("t.jsonl",), raw=raw,
                anonymized=col.schema("anonymized_t", {"t_id": col.text(), "n": col.integer()}),
                read=lambda root, tz: {}, rules={"t_id": Text(), "n": Keep()},
                document=DocumentPart(section="analytics_data", build=lambda df: {}, properties={}))
    return TableSpec(**{**args, **changes})


def test_an_incomplete_spec_is_refused_saying_what_is_missing():
    _spec()  # complete
    with pytest.raises(ValueError, match="needs an anonymization rule"):
        _spec(rules={"t_id": Keep(), "n": Keep()})  # text passed through as it is
    with pytest.raises(ValueError, match="rules must name the anonymized columns"):
        _spec(rules={"t_id": Text()})
    with pytest.raises(ValueError, match="raw column 'missing'"):
        _spec(rules={"t_id": Text(source="missing"), "n": Keep()})
    with pytest.raises(ValueError, match="document section"):
        _spec(document=DocumentPart(section="elsewhere", build=lambda df: {}, properties={}))
    with pytest.raises(ValueError, match="needs an event_time"):
        _spec(dated=True)
    with pytest.raises(ValueError, match="no source files"):
        _spec(sources=())
