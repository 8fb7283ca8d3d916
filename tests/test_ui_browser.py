"""The Dagster UI end to end in a real browser: `dagster dev` on loopback, driven by headless Chromium.

Opens the export job's asset graph, launches a materialization of all its assets from the launchpad,
waits for the run to succeed, and opens the asset checks tab. Screenshots go to the test's tmp_path
and are copied to tests/artifacts/ui/ (git-ignored).

The run is launched with the in-process executor (`execution: {config: {in_process: {}}}` in the
launchpad), as `docs/operations.md` recommends on a small machine: one process instead of a process
start per step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from learning_assets.governance.consent import ConsentStore
from tests.conftest import TEST_KEY
from tests.procs import free_port, start_group, stop_group, tail

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCATION = "learning_export"  # workspace.yaml's location_name
JOB = "learning_export_job"

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # CI installs Chromium: never skip there
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not IN_CI, reason=f"Chromium not installed ({CHROMIUM}); "
                       "`apt-get install chromium` (.ci/run does) to run the browser test"),
]


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def _location_loaded(base: str) -> bool:
    query = '{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus ' \
            'locationOrLoadError { __typename } } } } }'
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        entries = json.loads(resp.read())["data"]["workspaceOrError"]["locationEntries"]
    for entry in entries:
        if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
            if entry["locationOrLoadError"]["__typename"] != "RepositoryLocation":
                raise AssertionError(f"code location failed to load: {entry}")
            return True
    return False


@pytest.fixture
def dagster_dev(tmp_path, tiny_source):
    """`dagster dev` (webserver + daemon) on a free loopback port, over a temporary instance."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    ConsentStore(home / "learning").grant(tiny_source.root)  # as `learning consent grant` would
    export_dir = tmp_path / "export"
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "LEARNING_SOURCE_DIR": str(tiny_source.root),
           "LEARNING_EXPORT_DIR": str(export_dir), "LEARNING_ANONYMIZATION_KEY": TEST_KEY,
           "PYTHONWARNINGS": "ignore"}
    log = tmp_path / "dagster_dev.log"
    dagster = Path(sys.executable).parent / "dagster"
    proc = start_group([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
                       cwd=REPO, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"dagster dev exited with {proc.returncode}:\n{tail(log)}")
            try:
                if _location_loaded(base):
                    break
            except (urllib.error.URLError, ConnectionError, OSError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dagster dev did not load the code location in time:\n{tail(log)}")
            time.sleep(1)
        yield {"base": base, "export_dir": export_dir, "home": home, "log": log}
    finally:
        stop_group(proc)


def test_materialize_everything_from_the_ui_and_see_the_checks(dagster_dev, tmp_path):
    from playwright.sync_api import sync_playwright

    base, shots = dagster_dev["base"], tmp_path / "screenshots"
    shots.mkdir()
    taken: list[Path] = []

    def shot(page, name: str) -> None:
        path = shots / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        taken.append(path)

    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path), executable_path=CHROMIUM,
                headless=True, args=CHROMIUM_ARGS, viewport={"width": 1600, "height": 1000})
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60_000)
                # (dagster.yaml turns off the community sign-up dialog that would cover the page)

                # 1. the asset graph of the full export job
                page.goto(f"{base}/locations/{LOCATION}/jobs/{JOB}")
                page.get_by_role("button", name="Materialize all").wait_for()
                page.get_by_text("anonymized", exact=True).first.wait_for()
                shot(page, "asset-graph")

                # 2. launch every asset of the job from the launchpad, in one process
                page.locator("button:has([aria-label='arrow_drop_down'])").first.click()
                page.get_by_role("menuitem", name="Open launchpad").click()
                editor = page.locator(".CodeMirror", has_text="resources")
                editor.wait_for()
                editor.evaluate("e => { const cm = e.CodeMirror;"
                                " cm.setValue(cm.getValue() + '\\nexecution: {config: {in_process: {}}}\\n'); }")
                page.get_by_text("No errors").wait_for()
                shot(page, "launchpad")
                page.get_by_role("dialog").get_by_role("button", name=re.compile(r"Materialize$")).click()

                # 3. follow the "Launched run" toast to the run and wait for it to finish
                run_link = page.locator("a[href*='/runs/']").first
                run_link.wait_for()
                href = run_link.get_attribute("href")
                page.goto(base + href[href.index("/runs/"):])
                status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
                status.wait_for(timeout=300_000)
                shot(page, "run")
                assert status.inner_text() == "Success", f"run ended {status.inner_text()}"

                # 4. the asset checks tab of the staged export: both blocking checks passed
                page.goto(f"{base}/assets/learning_export?view=checks")
                for check in ("manifest_intact", "no_sensitive_values"):
                    page.get_by_text(check, exact=True).first.wait_for()
                page.get_by_text("Passed").first.wait_for()
                body = page.inner_text("body")
                shot(page, "asset-checks")
                assert "Failed" not in body

                # 5. the export group's lineage after the run: everything materialized
                page.goto(f"{base}/locations/{LOCATION}/asset-groups/export")
                page.get_by_text("published_export").first.wait_for()
                page.wait_for_timeout(2000)  # let the graph finish its zoom-to-fit
                shot(page, "export-group-after")
            except Exception:
                try:
                    shot(page, "failure")
                finally:
                    raise
            finally:
                context.close()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for path in taken:
            shutil.copy(path, ARTIFACTS / path.name)

    exports = sorted((dagster_dev["export_dir"] / "exports").iterdir())
    assert len(exports) == 1 and (exports[0] / "manifest.json").is_file()
