"""The learning dashboard of the newest export, as asset metadata (logic in `learning_assets/reports/dashboard.py`)."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from learning_assets.defs.export.publish import EXPORT_GROUP
from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.reports.dashboard import (
    NoExport,
    build,
    render_html,
    render_markdown,
)
from resources import ExportStore

HTML_REPORT = "dashboard.html"


@asset(group_name=EXPORT_GROUP, ins={"published": AssetIn("published_export")},
       description="Learning metrics of the published export: capability success rates and trends, top "
                   "patterns, agent success and duration per day. Also written as <export dir>/dashboard.html.")
def learning_dashboard(context: AssetExecutionContext, published: dict, export_store: ExportStore) -> Output:
    try:
        dash = build(Path(published["path"]))
    except NoExport as exc:
        context.log.warning(str(exc))
        return Output({"export_id": published["export_id"], "html": None},
                      metadata={"export_id": published["export_id"], "note": str(exc)})
    html_path = export_store.root() / HTML_REPORT
    write_atomic(html_path, render_html(dash).encode())
    sections = render_markdown(dash)
    return Output({"export_id": dash.export_id, "html": str(html_path)}, metadata={
        "export_id": dash.export_id,
        "html_report": MetadataValue.path(str(html_path)),
        **{name: MetadataValue.md(text) for name, text in sections.items()},
    })


DASHBOARD_ASSETS = [learning_dashboard]
