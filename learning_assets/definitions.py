"""The `learning_export` code location: the five areas under `defs/`, bound to their resources."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar, in_process_executor

from learning_assets.defs.dashboard import definitions as dashboard
from learning_assets.defs.export import definitions as export
from learning_assets.defs.incremental import definitions as incremental
from learning_assets.defs.insights import definitions as insights
from learning_assets.defs.preview import definitions as preview
from resources import (
    Anonymization,
    ExportStore,
    Governance,
    InsightsStore,
    SourceDirectory,
    SubmissionInbox,
    TableIOManager,
)

# Every job runs its steps in the run's own process: they run one after another anyway (raw, anonymized,
# staged export, its checks), and a process per step would import Dagster, pandas, Pandera and Great
# Expectations again for each of them. A launch can still pick the multiprocess executor in its config.
EXECUTOR = in_process_executor


def _from_env(field: str, name: str) -> dict:
    """Bind a resource field to an environment variable when it is set, else keep the default."""
    return {field: EnvVar(name)} if os.environ.get(name) else {}


def _receiver_settings() -> dict:
    """The receiver's instance settings (never a run's): the lifetime privacy cap from
    LEARNING_MAX_LIFETIME_EPSILON/_DELTA, and LEARNING_REQUIRE_SIGNATURE (0/false: pool unsigned packages too);
    read here because Dagster's EnvVar binds text, and the fields are numbers and a flag."""
    names = {"max_lifetime_epsilon": "LEARNING_MAX_LIFETIME_EPSILON", "max_lifetime_delta": "LEARNING_MAX_LIFETIME_DELTA"}
    out: dict = {field: float(os.environ[name]) for field, name in names.items() if os.environ.get(name)}
    flag = os.environ.get("LEARNING_REQUIRE_SIGNATURE", "").strip().lower()
    if flag:
        out["require_signature"] = flag not in ("0", "false", "no", "off")
    return out


def build_resources(source: str | None = None, output: str | None = None, inbox: str | None = None,
                    state: str | None = None) -> dict:
    """Resources from explicit paths, else from LEARNING_* environment variables, else defaults."""
    return {
        "source": SourceDirectory(path=source) if source else SourceDirectory(**_from_env("path", "LEARNING_SOURCE_DIR")),
        "export_store": ExportStore(path=output) if output else ExportStore(**_from_env("path", "LEARNING_EXPORT_DIR")),
        "anonymization": Anonymization(**_from_env("key", "LEARNING_ANONYMIZATION_KEY")),
        "io_manager": TableIOManager(),
        "governance": Governance(),  # consent and audit trail under $DAGSTER_HOME/learning
        # the receiving side; defaults ./inbox and ./shared_insights
        "inbox": SubmissionInbox(path=inbox) if inbox else SubmissionInbox(**_from_env("path", "LEARNING_INBOX_DIR")),
        "insights_store": InsightsStore(**({"path": state} if state else _from_env("path", "LEARNING_INSIGHTS_DIR")),
                                        **_receiver_settings()),
    }


def build_definitions(**resource_args) -> Definitions:
    return Definitions.merge(export.defs, incremental.defs, insights.defs, dashboard.defs, preview.defs,
                             Definitions(resources=build_resources(**resource_args), executor=EXECUTOR))


defs = build_definitions()
