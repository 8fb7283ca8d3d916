"""`insights_comparison`: the project's latest export beside a shared-insights release, on the project's side.

Run by hand (from the UI, with the release's path in the run config), never by the export job or a
schedule: a release arrives from elsewhere, now and then. Logic in `learning_assets/insights/compare.py`
and `learning_assets/reports/comparison.py`. The report is local output, written beside the exports
(`<export dir>/insights_comparison.html`), never into `exports/` or `submissions/`.
"""

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from pydantic import Field

from learning_assets.errors import UserError
from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.insights.compare import compare, load_release
from learning_assets.reports.comparison import render_html, render_markdown
from resources import ExportStore

COMPARISON_GROUP = "pool_comparison"
HTML_REPORT = "insights_comparison.html"


class InsightsComparisonConfig(Config):
    release: str = Field(description="The shared-insights release to compare with: its insights.json, its "
                                     "directory (releases/<id>/), or a receiver's store (its releases/LATEST).")


@asset(group_name=COMPARISON_GROUP, deps=["published_export"],
       description="This project's metrics (from its latest published export, computed with the release's own "
                   "definitions) beside the pool's release: per group the project's value, the pool's value, "
                   "interval and noise, where the project is behind, and the best practices that apply. Also "
                   "written as <export dir>/insights_comparison.html.")
def insights_comparison(context: AssetExecutionContext, config: InsightsComparisonConfig,
                        export_store: ExportStore) -> MaterializeResult:
    export_dir = export_store.latest()
    if export_dir is None:
        raise Failure(f"{export_store.root()}: no published export yet; materialize the export first")
    try:
        comparison = compare(export_dir, load_release(config.release))
    except UserError as exc:
        raise Failure(str(exc)) from None
    html_path = export_store.root() / HTML_REPORT
    write_atomic(html_path, render_html(comparison).encode())
    summary = comparison.summary()
    context.log.info(f"export {comparison.export_id} beside release {comparison.release_id}: "
                     f"{summary['behind']} groups behind the pool, {summary['practices']} practices apply")
    return MaterializeResult(metadata={
        **summary,
        "release_path": MetadataValue.path(comparison.release_path),
        "html_report": MetadataValue.path(str(html_path)),
        **{name: MetadataValue.md(text) for name, text in render_markdown(comparison).items()},
    })


COMPARISON_ASSETS = [insights_comparison]
