"""The export preview as asset metadata (logic in `learning_assets/reports/preview.py`).

It reads the source and anonymizes it as the export does, and returns only metadata: no output is stored
and nothing is written under the export directory. Its metadata holds raw values (the "before" side), so
it stays in this instance's event log; the asset is in no export job and no schedule."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from learning_assets.reports.preview import build, render_markdown
from resources import Anonymization, ExportStore, SourceDirectory

PREVIEW_GROUP = "preview"


@asset(group_name=PREVIEW_GROUP,
       description="What an export of the source would hold, never exported: a few rows of each table before and "
                   "after anonymization, what each rule changed, counts per rule, the files and rows. Its metadata "
                   "holds raw source values and stays on this instance.")
def export_preview(context: AssetExecutionContext, source: SourceDirectory, anonymization: Anonymization,
                   export_store: ExportStore) -> MaterializeResult:
    view = build(source.root(), source.tz(), anonymization.secret(), export_dir=export_store.root())
    sections = render_markdown(view)
    context.log.info(f"preview of {view.source}: {len(view.tables)} tables in {view.seconds:.1f} s")
    return MaterializeResult(metadata={
        "source": view.source,
        "rows_exported": sum(t.rows_exported for t in view.tables),
        "seconds": round(view.seconds, 3),
        **{name: MetadataValue.md(text) for name, text in sections.items()},
    })


PREVIEW_ASSETS = [export_preview]
