"""Shared fixtures: generated sources and real in-process Dagster runs against a temporary instance."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from benchmarks.generator import SCALES, generate
from learning_assets.defs.dashboard.assets import DASHBOARD_ASSETS
from learning_assets.defs.export import definitions as export_area
from learning_assets.governance.consent import ConsentStore
from resources import (
    Anonymization,
    ExportStore,
    Governance,
    SourceDirectory,
    TableIOManager,
)

warnings.filterwarnings("ignore")
# What `learning_export_job` runs: the export area and the owner's dashboard.
ASSETS = [*export_area.defs.assets, *DASHBOARD_ASSETS]
CHECKS = list(export_area.defs.asset_checks)
TEST_KEY = "test-key-" + "0" * 40


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster_home")) as inst:
        yield inst


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory):
    """A small generated `.tapps-agents/` directory, with planted sensitive values and damaged lines."""
    return generate(tmp_path_factory.mktemp("tiny") / ".tapps-agents", SCALES["tiny"], seed=11)


@pytest.fixture(scope="session")
def sample_source(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("sample") / ".tapps-agents", SCALES["sample"], seed=7)


def resources_for(source: Path, output: Path, storage: Path, key: str = TEST_KEY, k: int = 5,
                  consent: bool = True) -> dict:
    """Resources over temporary dirs; consent (and the audit trail) live in `<storage>_home`.

    `consent=True` grants export consent for `source` there first, as `learning consent grant` would.
    """
    home = Path(storage).parent / f"{Path(storage).name}_home"
    if consent:
        ConsentStore(home).grant(source)
    return {
        "source": SourceDirectory(path=str(source)),
        "export_store": ExportStore(path=str(output)),
        "anonymization": Anonymization(key=key, k=k),
        "io_manager": TableIOManager(base_dir=str(storage)),
        "governance": Governance(home=str(home)),
    }


def run_pipeline(source: Path, output: Path, instance: DagsterInstance, **kw):
    """Materialize every asset and check once; returns the Dagster result."""
    return materialize([*ASSETS, *CHECKS], instance=instance, raise_on_error=False,
                       resources=resources_for(source, output, output.parent / f"{output.name}_storage", **kw))


def exported_bytes(export_dir: Path) -> bytes:
    """Every byte of an export, with Parquet also decoded to text so compressed pages hide nothing."""
    blob = bytearray()
    for path in sorted(export_dir.rglob("*")):
        if path.is_file():
            blob += path.read_bytes()
            if path.suffix == ".parquet":
                blob += json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
                blob += json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False).encode()
    return bytes(blob)
