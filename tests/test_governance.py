"""Consent, audit trail, the date window and the dashboard's renderings, in-process."""

from __future__ import annotations

import json
import os
import threading

import pandas as pd
import pytest

from learning_assets.governance import audit
from learning_assets.governance.consent import (
    ConsentRequired,
    ConsentStore,
    project_key,
)
from learning_assets.reports.dashboard import sparkline, svg_bars, svg_lines
from learning_assets.sources.readers import resolve_source_root
from learning_assets.sources.window import InvalidWindow, validate
from learning_assets.tables import filter_window
from tests.conftest import run_pipeline


def test_consent_is_recorded_with_who_and_when_and_can_be_revoked(tmp_path):
    project = tmp_path / "proj"
    (project / ".tapps-agents").mkdir(parents=True)
    store = ConsentStore(tmp_path / "home")
    with pytest.raises(ConsentRequired, match=r"learning consent grant --source .*\.tapps-agents"):
        store.require(project)
    rec = store.grant(project)
    assert rec["granted"] and rec["granted_by"] and rec["granted_at"]
    # the project dir and its .tapps-agents dir are the same project
    assert store.require(project / ".tapps-agents")["source"] == str((project / ".tapps-agents").resolve())
    assert project_key(project) == str(resolve_source_root(project).resolve())
    assert (tmp_path / "home" / "consent.json").stat().st_mode & 0o077 == 0
    store.revoke(project)
    with pytest.raises(ConsentRequired, match="revoked by"):
        store.require(project)
    assert [h["action"] for h in store.record(project)["history"]] == ["grant", "revoke"]


def test_an_unreadable_consent_file_refuses_rather_than_guessing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "consent.json").write_text("{not json")
    with pytest.raises(ConsentRequired, match="unreadable"):
        ConsentStore(home).require(tmp_path)


def test_concurrent_grants_lose_nothing(tmp_path):
    projects = [tmp_path / f"p{i}" for i in range(8)]
    for p in projects:
        p.mkdir()
    store = ConsentStore(tmp_path / "home")
    threads = [threading.Thread(target=store.grant, args=(p,)) for p in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(store.is_granted(p) for p in projects)


def test_audit_log_is_append_only_json_lines_and_survives_a_torn_line(tmp_path):
    audit.append(tmp_path, "export", export_id="a")
    with open(audit.audit_path(tmp_path), "ab") as fh:
        fh.write(b'{"event": "export", "export_id": ')  # a crash mid-write
    audit.append(tmp_path, "submission", export_id="a")
    events = [e["event"] for e in audit.read(tmp_path)]
    assert events == ["export", "damaged", "submission"]
    assert oct(os.stat(audit.audit_path(tmp_path)).st_mode & 0o777) == "0o600"


def test_window_keeps_whole_days_of_time_based_tables_only():
    ts = pd.to_datetime(["2026-03-01", "2026-03-02", "2026-03-03", None], utc=True)
    tables = {"agent_executions": pd.DataFrame({"agent_id": list("abcd"), "timestamp": ts}),
              "capabilities": pd.DataFrame({"capability_id": ["x"], "last_improved": ts[:1]})}
    out, dropped = filter_window(tables, *validate("2026-03-02", "2026-03-02"))
    assert list(out["agent_executions"]["agent_id"]) == ["b"] and dropped == {"agent_executions": 3}
    assert out["capabilities"] is tables["capabilities"]
    assert filter_window(tables, None, None) == (tables, {})
    for since, until in (("2026-3-1", None), ("2026-02-30", None), ("2026-03-05", "2026-03-01")):
        with pytest.raises(InvalidWindow):
            validate(since, until)


def test_charts_are_inline_svg_and_escape_values():
    svg = svg_bars(["<script>x</script>", "b"], [0.5, None], hi=1.0)
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    lines = svg_lines(["2026-03-01", "2026-03-02"], {"a&b": [0.2, None], "c": [None, 0.9]}, hi=1.0)
    assert lines.count("<circle") == 2 and "a&amp;b" in lines
    assert sparkline([0.0, 0.5, 1.0, None], 0.0, 1.0) == "▁▅█ "


def test_the_assets_refuse_to_export_without_consent(tiny_source, tmp_path, instance):
    output = tmp_path / "export"
    result = run_pipeline(tiny_source.root, output, instance, consent=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "learning_export"
    assert "learning consent grant --source" in json.dumps(failure.event_specific_data.error.to_string())
    assert not (output / "exports").exists()
    assert not (output / ".staging").exists() or not list((output / ".staging").iterdir())
