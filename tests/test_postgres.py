"""A Dagster instance on PostgreSQL, configured by the postgres block of the project's dagster.yaml.

Starts a throw-away PostgreSQL server on loopback (initdb + pg_ctl into a temporary directory, as the
`postgres` user when running as root), or uses the one named by DAGSTER_PG_* when those are set
(a fresh database is created there). Materializes the export, runs a two-day backfill of the daily
job, and reads the runs and events back from the database.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
)

from learning_assets.governance.consent import ConsentStore
from tests.conftest import TEST_KEY
from tests.procs import free_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]),
                            reverse=True):
        if os.access(Path(candidate) / "initdb", os.X_OK):
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres_user():
    """preexec for root: drop to the `postgres` user (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam("postgres")

    def drop() -> None:
        os.setgid(user.pw_gid)
        os.initgroups("postgres", user.pw_gid)
        os.setuid(user.pw_uid)
    return drop


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def postgres():
    """Connection settings (the DAGSTER_PG_* variables) of a PostgreSQL with an empty database."""
    if os.environ.get("DAGSTER_PG_HOST"):  # an existing server: use a fresh database on it
        import psycopg2

        settings = {k: os.environ.get(k, "") for k in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                                                        "DAGSTER_PG_PASSWORD")}
        settings["DAGSTER_PG_PORT"] = settings["DAGSTER_PG_PORT"] or "5432"
        db = f"learning_test_{secrets.token_hex(4)}"
        conn = psycopg2.connect(host=settings["DAGSTER_PG_HOST"], port=settings["DAGSTER_PG_PORT"],
                                user=settings["DAGSTER_PG_USER"], password=settings["DAGSTER_PG_PASSWORD"],
                                dbname=os.environ.get("DAGSTER_PG_DB") or "postgres")
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{db}"')
        yield {**settings, "DAGSTER_PG_DB": db}
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.close()
        return

    bindir = _pg_bin()
    if bindir is None:
        why = ("PostgreSQL is not installed (initdb not found); `apt-get install postgresql` "
               "(.ci/run does) or point DAGSTER_PG_* at a server")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # CI installs it: never skip there
            pytest.fail(why)
        pytest.skip(why)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    base = Path(tempfile.mkdtemp(prefix="learning-pg-"))  # not tmp_path: the postgres user must reach it
    data, password = base / "data", secrets.token_hex(16)
    (base / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        os.chown(base / "pwfile", user.pw_uid, user.pw_gid)
    port = free_port()
    as_pg = _as_postgres_user()
    try:
        _run([bindir / "initdb", "-D", data, "-U", "dagster", "--pwfile", base / "pwfile",
              "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C"], preexec_fn=as_pg)
        _run([bindir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-t", "60",
              "-o", f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off", "start"], preexec_fn=as_pg)
        try:
            _run([bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "dagster", "learning"],
                 env={**os.environ, "PGPASSWORD": password})
            yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": "dagster",
                   "DAGSTER_PG_PASSWORD": password, "DAGSTER_PG_DB": "learning"}
        finally:
            subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           preexec_fn=as_pg, capture_output=True, timeout=60)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def postgres_dagster_yaml() -> str:
    """The project's dagster.yaml with its commented postgres storage block switched on."""
    text = (REPO / "dagster.yaml").read_text()
    block = re.search(r"(?m)^# storage:\n(?:#   .*\n)+", text)
    assert block, "dagster.yaml has no commented `# storage: postgres` block"
    enabled = "".join(line[2:] + "\n" for line in block.group(0).splitlines())
    return text.replace(block.group(0), enabled)


def test_documented_postgres_block_is_valid_config():
    import yaml

    config = yaml.safe_load(postgres_dagster_yaml())
    assert set(config["storage"]) == {"postgres"}
    db = config["storage"]["postgres"]["postgres_db"]
    assert {db[k]["env"] for k in ("hostname", "port", "username", "password", "db_name")} == {
        "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}


def test_instance_on_postgres_runs_export_and_backfill(postgres, tiny_source, tmp_path, monkeypatch):
    import psycopg2

    from learning_assets.defs.export.run import run_export
    from learning_assets.defs.incremental.run import run_backfill

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(postgres_dagster_yaml())
    for name, value in {**postgres, "DAGSTER_HOME": str(home), "LEARNING_ANONYMIZATION_KEY": TEST_KEY}.items():
        monkeypatch.setenv(name, value)
    ConsentStore(home / "learning").grant(tiny_source.root)
    output = tmp_path / "export"

    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"

        export = run_export(str(tiny_source.root), str(output), instance=instance)
        assert (export.path / "manifest.json").is_file()

        days = sorted(tiny_source.agent_events_per_day)[:2]  # two days that hold data
        backfill = run_backfill(days[0], days[1], str(tiny_source.root), str(output), instance=instance)
        assert backfill.days == days

    # Read everything back through a fresh instance: it all lives in the database.
    with DagsterInstance.get() as instance:
        runs = {r.run_id: r for r in instance.get_runs()}
        assert {export.run_id, backfill.run_id} <= set(runs)
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs.values())
        assert runs[export.run_id].job_name == "learning_export_job"
        assert runs[backfill.run_id].job_name == "daily_export_job"

        published = instance.fetch_materializations(AssetRecordsFilter(AssetKey("published_export")),
                                                    limit=10).records
        assert [r.event_log_entry.run_id for r in published] == [export.run_id]
        assert published[0].asset_materialization.metadata["export_id"].value == export.export_id

        daily_keys = [k for k in instance.get_asset_keys() if k.path[0] == "daily"]
        assert daily_keys, "the backfill materialized no daily assets"
        for key in daily_keys:
            assert set(days) <= instance.get_materialized_partitions(key), key
        checks = [e for e in instance.all_logs(export.run_id)
                  if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert checks and all(e.dagster_event.event_specific_data.passed for e in checks)

    conn = psycopg2.connect(host=postgres["DAGSTER_PG_HOST"], port=postgres["DAGSTER_PG_PORT"],
                            user=postgres["DAGSTER_PG_USER"], password=postgres["DAGSTER_PG_PASSWORD"],
                            dbname=postgres["DAGSTER_PG_DB"])
    try:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM runs")
        assert cur.fetchone()[0] == len(runs)
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (export.run_id,))
        assert cur.fetchone()[0] > 50
    finally:
        conn.close()
    assert not list(home.glob("**/*.db")), "an SQLite database was created next to the postgres instance"
