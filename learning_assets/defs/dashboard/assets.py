"""The owner's learning dashboard of the newest export, as asset metadata (logic in
`learning_assets/reports/dashboard.py`; names mapped back by `learning_assets/reports/names.py`).

It shows the owner's names, so its HTML report is written to the instance home
(`$DAGSTER_HOME/learning/dashboard.html`, mode 0600), never into the export directory."""

from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AutomationCondition,
    MetadataValue,
    Output,
    asset,
)

from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.reports.dashboard import (
    NoExport,
    build,
    render_html,
    render_markdown,
)
from learning_assets.reports.names import NAME_TABLES, owner_names
from resources import Anonymization, Governance

HTML_REPORT = "dashboard.html"
DASHBOARD_GROUP = "dashboard"


@asset(group_name=DASHBOARD_GROUP,
       # not a step of the export job (it is no part of an export); refreshed after each export
       automation_condition=AutomationCondition.eager(),
       ins={"published": AssetIn("published_export"),
            **{f"raw_{name}": AssetIn(AssetKey(["raw", name])) for name in NAME_TABLES}},
       description="The owner's learning metrics of the published export, by the owner's names: capability, "
                   "agent, workflow and step success and duration per day, failure reasons. Stays local: its HTML "
                   "is written to $DAGSTER_HOME/learning/dashboard.html, never into an export.")
def learning_dashboard(context: AssetExecutionContext, published: dict, anonymization: Anonymization,
                       governance: Governance, **raw: pd.DataFrame) -> Output:
    names = owner_names({name: raw[f"raw_{name}"] for name in NAME_TABLES}, Pseudonymizer(anonymization.secret()))
    try:
        dash = build(Path(published["path"]), names=names)
    except NoExport as exc:
        context.log.warning(str(exc))
        return Output({"export_id": published["export_id"], "html": None},
                      metadata={"export_id": published["export_id"], "note": str(exc)})
    home = governance.directory(context.instance)
    home.mkdir(parents=True, exist_ok=True)
    html_path = home / HTML_REPORT
    write_atomic(html_path, render_html(dash).encode(), mode=0o600)
    html_path.chmod(0o600)
    sections = render_markdown(dash)
    return Output({"export_id": dash.export_id, "html": str(html_path)}, metadata={
        "export_id": dash.export_id,
        "html_report": MetadataValue.path(str(html_path)),
        **{name: MetadataValue.md(text) for name, text in sections.items()},
    })


DASHBOARD_ASSETS = [learning_dashboard]
