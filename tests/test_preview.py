"""What leaves the machine, shown before it leaves; the owner's dashboard by the owner's names.

On the framework-written fixtures (`../shared/fixtures`, each with a `planted.json` of values that must
never leave): the preview shows every planted value on the "before" side only; an export, its dashboard,
its preview and its submission package leave no name the export pseudonymized under the export
directory; the owner's dashboard names `reviewer.code-review`; a real browser draws the HTML dashboard.
"""

from __future__ import annotations

import gzip
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from datetime import timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.reports import preview as pv
from learning_assets.sources.readers import resolve_source_root
from learning_assets.tables import SPECS, anonymize_table, read_tables
from tests.conftest import CLI, TEST_KEY

REPO = Path(__file__).resolve().parent.parent
# `../shared/fixtures` beside the repository (the framework-written directories), unless named
FIXTURES = Path(os.environ.get("LEARNING_FRAMEWORK_FIXTURES") or REPO.parent / "shared" / "fixtures")
SMALL, MEDIUM = FIXTURES / "framework-small", FIXTURES / "framework-medium"
ARTIFACTS = REPO / "tests" / "artifacts" / "dashboard"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
KEY = TEST_KEY.encode()

pytestmark = pytest.mark.skipif(not SMALL.is_dir(), reason=f"framework fixtures not found at {FIXTURES}")


def _planted(fixture: Path) -> dict[str, str]:
    return json.loads((fixture / "planted.json").read_text())


def _found(text: str, value: str) -> bool:
    """Whether `value` is in `text` (any case); a Windows path also as its JSON-escaped form."""
    low = text.casefold()
    return any(v.casefold() in low for v in {value, value.replace("\\", "\\\\")})


def _sides(view: pv.Preview) -> tuple[str, str]:
    cells = [cell for table in view.tables for row in table.samples for cell in row]
    return "\n".join(c.before for c in cells), "\n".join(c.after for c in cells)


# --- the preview ---------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", [SMALL, MEDIUM], ids=["framework-small", "framework-medium"])
def test_preview_shows_each_planted_value_on_the_before_side_only(fixture):
    planted = _planted(fixture)
    root = resolve_source_root(fixture)
    view = pv.build(root, timezone.utc, KEY)
    before, after = _sides(view)
    page = pv.render_html(view)
    html_after = "\n".join(html.unescape(c) for c in re.findall(r"<td class=after>(.*?)</td>", page, re.S))
    for value, kind in planted.items():
        assert not _found(after, value) and not _found(html_after, value), (kind, value)
        if kind != "task_id":  # a few rows per table: each kind of value, not every task id
            assert _found(before, value) and _found(page, value), (kind, value)
    # every change is named by its rule, and the rows shown cover the kinds of change found
    shown = {k for t in view.tables for row in t.samples for c in row for k in c.changes}
    assert {"pseudonym", "path pattern", "token not on the allow-list", "rounded to the UTC day"} <= shown
    assert any(k.startswith("placeholder <") for k in shown)
    assert view.rules["ids_pseudonymized"] > 0 and view.changes()["pseudonym"] > 0
    assert [f["path"] for f in view.files][:len(SPECS)] == [f"tables/{t}.parquet" for t in SPECS]

    # every task id the source tables hold: shown before, never after, in any exported value
    view = pv.build(root, timezone.utc, KEY, rows=10_000, find="HCRM-")
    before, after = _sides(view)
    raw = "\n".join(pv.show(v) for read in read_tables(root, timezone.utc).values()
                    for col in read.frame().columns for v in read.frame()[col])
    held = [v for v, kind in planted.items() if kind == "task_id" and _found(raw, v)]
    assert held and all(_found(before, v) and not _found(after, v) for v in held)
    assert sum(t.found for t in view.tables) > 0 and all(t.found_after == 0 for t in view.tables)


def test_rules_say_what_they_did():
    """One mechanism for every table: each rule names the change it made to a value."""
    from learning_assets.privacy import rules as r

    assert r.Keep().change(1.5, 1.5) == ()
    assert r.Pseudonym(kind="cap").change("reviewer.x", "cap_0123456789abcdef") == ("pseudonym",)
    assert r.Category(values=("a",)).change("zzz", "other") == ("generalized to `other`",)
    assert r.Agent().change("implementer-alice", "implementer") == ("generalized to the agent role",)
    assert r.FilePattern().change("/home/a/x.py", "**/*.py") == ("path pattern",)
    assert r.Text().change("mail bob@x.example re Zork", "mail <EMAIL> re <NAME>") == \
        ("placeholder <EMAIL>", "token not on the allow-list")
    assert r.Mapping().change('{"file": "/home/a/b.py", "who": "me"}', '{"file": "src/*.py"}') == \
        ("keys dropped", "path pattern")
    assert r.LineCount().change("def f():\n    pass", 2) == ("code removed, line count kept",)
    assert r.FrameworkName(kind="wf").pseudonym_kind == "wf" and r.Keep().pseudonym_kind is None


def test_preview_cli_writes_only_the_asked_for_file(cli, tmp_path):
    output = tmp_path / "out"
    text = cli("preview", "--source", SMALL, "--output", output, "--table", "feedback", check=0).stdout
    assert "before (source)" in text and "after (exported)" in text and "tables/feedback.parquet" in text
    report = tmp_path / "private" / "preview.html"
    proc = cli("preview", "--source", SMALL, "--output", output, "--html", report, check=0)
    assert Path(proc.stdout.strip().splitlines()[-1]) == report.resolve()
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    page = report.read_text()
    assert "<script" not in page and "src=" not in page and "://" not in page  # self-contained
    assert not output.exists()  # nothing under the export directory
    inside = cli("preview", "--source", SMALL, "--output", output, "--html", output / "p.html")
    assert inside.returncode != 0 and "outside the export directory" in inside.stderr and not output.exists()
    assert "no table nope" in cli("preview", "--source", SMALL, "--table", "nope").stderr


def test_preview_asset_metadata_and_no_stored_output(tmp_path):
    from dagster import DagsterInstance, materialize

    from learning_assets.defs.preview.assets import export_preview
    from tests.conftest import resources_for

    output = tmp_path / "out"
    with DagsterInstance.ephemeral() as instance:
        result = materialize([export_preview], instance=instance,
                             resources=resources_for(SMALL, output, tmp_path / "storage"))
        assert result.success
        meta = result.asset_materializations_for_node("export_preview")[0].metadata
    assert {"summary", "feedback", "capabilities", "rows_exported"} <= set(meta)
    assert "before (source)" in meta["feedback"].value and "okonkwo" in meta["feedback"].value  # raw, before
    assert not output.exists() and not (tmp_path / "storage").exists()  # no output stored, nothing exported


# --- an export, its dashboard, preview and package ------------------------------------------

def _run(env: dict, *args, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """framework-small exported through the CLI in a fresh DAGSTER_HOME, then its dashboard (terminal and
    HTML outside the export directory), a preview pointed at the same output, and a submission package."""
    tmp = tmp_path_factory.mktemp("exported")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNING_")}
    env.update(DAGSTER_HOME=str(tmp / "home"), LEARNING_ANONYMIZATION_KEY=TEST_KEY, PYTHONWARNINGS="ignore")
    out = tmp / "out"
    _run(env, "consent", "grant", "--source", SMALL, cwd=tmp)
    export_dir = Path(_run(env, "export", "--source", SMALL, "--output", out, "--quiet", cwd=tmp).stdout.split()[-1])
    dashboard = _run(env, "dashboard", "--output", out, cwd=tmp).stdout
    html = tmp / "private" / "dashboard.html"
    _run(env, "dashboard", "--output", out, "--html", html, cwd=tmp)
    dagster = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "learning_assets.definitions",
               "--select", "learning_dashboard"]  # the asset, as the UI or its automation sensor runs it
    subprocess.run(dagster, env={**env, "LEARNING_SOURCE_DIR": str(SMALL), "LEARNING_EXPORT_DIR": str(out)}, cwd=tmp,
                   check=True, capture_output=True, timeout=300)
    _run(env, "preview", "--source", SMALL, "--output", out, cwd=tmp)
    _run(env, "submit", "--output", out, "--yes", cwd=tmp)
    return {"out": out, "export": export_dir, "dashboard": dashboard, "html": html, "home": tmp / "home"}


def _pseudonymized_names(source: Path) -> set[str]:
    """The raw values the export replaced by a pseudonym (from the raw side, under the same key), except
    framework names it passes as they are in another column (`code-review`: a command here, a capability
    type there)."""
    from learning_assets.privacy.anonymize import Anonymizer
    from learning_assets.privacy.learned import learn_source_vocabulary
    from learning_assets.privacy.scrub import Scrubber

    root = resolve_source_root(source)
    raw = {name: read.frame() for name, read in read_tables(root, timezone.utc).items()}
    pseudonymize = Pseudonymizer(KEY)
    scrubber = Scrubber(pseudonymize, learn_source_vocabulary(root, raw.values()))
    names, verbatim = set(), set()
    for name, spec in SPECS.items():
        anonymized = anonymize_table(name, raw[name], Anonymizer(pseudonymize, scrubber))
        for column, rule in spec.rules.items():
            if rule.pseudonym_kind is None:
                continue
            kept = raw[name][raw[name][spec.event_time].notna()] if spec.dated else raw[name]
            before = rule.column(column, kept.reset_index(drop=True))
            for b, a in zip(before.tolist(), anonymized[column].tolist()):
                pairs = zip(b, a) if isinstance(b, (list, tuple)) or hasattr(b, "tolist") and not isinstance(b, str) \
                    else [(b, a)]
                for one, made in pairs:
                    if isinstance(one, str) and one == made:
                        verbatim.add(one)
                    elif isinstance(one, str) and isinstance(made, str) and re.fullmatch(r"[a-z]+_[0-9a-f]{16}", made):
                        names.add(one)
    return names - verbatim


def _readable(path: Path) -> bytes:
    """A file's bytes, with Parquet decoded and gzip/tar opened, so compression hides nothing."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        table = pq.read_table(path).to_pylist()
        return data + json.dumps(table, default=str, ensure_ascii=False).encode()
    if path.name.endswith(".tar.gz"):
        blob = bytearray(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    inner = tar.extractfile(member).read()
                    blob += inner
                    if member.name.endswith(".parquet"):
                        blob += json.dumps(pq.read_table(io.BytesIO(inner)).to_pylist(), default=str,
                                           ensure_ascii=False).encode()
        return bytes(blob)
    if path.suffix == ".gz":
        return data + gzip.decompress(data)
    return data


def test_no_file_under_the_export_directory_holds_a_name_the_export_pseudonymized(exported):
    names = _pseudonymized_names(SMALL)
    assert "reviewer.code-review" in names  # a capability id: pseudonymized
    files = [p for p in exported["out"].rglob("*") if p.is_file()]
    assert any(p.name.endswith(".tar.gz") for p in files) and any(p.suffix == ".parquet" for p in files)
    assert not (exported["out"] / "dashboard.html").exists()
    for path in files:
        blob = _readable(path).decode("utf-8", errors="replace").casefold()
        leaked = sorted(n for n in names if n.casefold() in blob)
        assert not leaked, (str(path.relative_to(exported["out"])), leaked[:5])


def test_owner_dashboard_shows_the_owners_names(exported):
    text = exported["dashboard"]
    assert "reviewer.code-review" in text and "cap_" not in text
    assert "Rapid Development" in text  # a workflow name the export pseudonymized
    assert "Failure reasons" in text and "never part of an export" in text
    page = exported["html"].read_text()
    assert oct(exported["html"].stat().st_mode & 0o777) == "0o600"
    assert "reviewer.code-review" in page and "never part of an export or a submission package" in page
    # the asset's report: in the instance home, 0600, by the owner's names
    asset_html = exported["home"] / "learning" / "dashboard.html"
    assert oct(asset_html.stat().st_mode & 0o777) == "0o600" and "reviewer.code-review" in asset_html.read_text()
    # the package holds no dashboard
    package = next((exported["out"] / "submissions").glob("*.tar.gz"))
    with tarfile.open(package) as tar:
        assert not [m.name for m in tar.getmembers() if "dashboard" in m.name]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed ({CHROMIUM})")
def test_dashboard_html_in_a_real_browser_draws_its_charts(exported, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "dashboard.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(exported["html"].as_uri())
            charts = page.locator("svg[role=img]")
            titles = [t.strip() for t in charts.locator("title").all_text_contents()]
            for wanted in ("Capability success rates", "Agent success rate per day", "Agent duration per day",
                           "Workflow success rates", "Step success rates", "Capability success rate per day"):
                assert any(t.startswith(wanted) for t in titles), (wanted, titles[:20])
            drawn = [box for box in (charts.nth(i).bounding_box() for i in range(charts.count()))
                     if box and box["width"] > 200 and box["height"] > 20]
            assert len(drawn) >= 6
            assert page.locator("svg polyline").count() >= 2 and page.locator("svg rect").count() >= 10
            assert page.get_by_text("reviewer.code-review").first.is_visible()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [exported["html"].as_uri()]  # nothing fetched but the file itself
    image = shot.read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 20_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
