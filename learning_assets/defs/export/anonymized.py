"""Anonymized tables, one per raw table, and the vocabulary of names learned from the source."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from learning_assets.defs.export.schema_checks import (
    schema_check_selected,
    schema_check_spec,
    schema_report,
    with_schema_check,
)
from learning_assets.defs.metadata import table_metadata
from learning_assets.defs.types import table_dagster_type
from learning_assets.privacy.anonymize import Anonymizer
from learning_assets.privacy.learned import learn_source_vocabulary
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import Scrubber
from learning_assets.tables import ANONYMIZED, TABLE_NAMES, anonymize_table
from resources import Anonymization, SourceDirectory
from resources.io_manager import ON_DEMAND, StoredTable

ANONYMIZED_GROUP = "anonymized"

# Shape (columns, order, dtypes) as the Dagster type; value rules run as the blocking `pandera_schema` check.
ANONYMIZED_TYPES = {name: table_dagster_type(schema) for name, schema in ANONYMIZED.items()}


@dataclass
class AnonymizedTable:
    name: str
    frame: pd.DataFrame
    rows_in: int
    stats: dict
    seconds: float
    report: dict | None  # the Pandera report, when the run checks the table


def anonymize_tables(raw_table: Callable[[str], pd.DataFrame], tables: list[str], pseudonymize: Pseudonymizer,
                     scrubber: Scrubber, checked: set[str]) -> Iterator[AnonymizedTable]:
    """Each of `tables` read by `raw_table`, anonymized (its own counts, the shared scrubber) and checked if in
    `checked`, one table at a time."""
    for table in tables:
        started = time.perf_counter()
        raw = raw_table(table)
        anonymizer = Anonymizer(pseudonymize, scrubber)
        df = anonymize_table(table, raw, anonymizer)
        rows_in = len(raw)
        del raw
        report = schema_report("anonymized", table, df) if table in checked else None
        yield AnonymizedTable(table, df, rows_in, dict(sorted(anonymizer.stats.items())),
                              time.perf_counter() - started, report)


def anonymized_output(table: AnonymizedTable) -> Output:
    return Output(table.frame, output_name=table.name, metadata={
        **table_metadata(table.frame, preview=True),
        "rows_in": table.rows_in,
        "anonymization_stats": MetadataValue.json(table.stats),
        "seconds": round(table.seconds, 3),
    })


VOCABULARY = "anonymization_vocabulary"


@multi_asset(
    name="anonymized_tables",
    group_name=ANONYMIZED_GROUP,
    ins={table: AssetIn(AssetKey(["raw", table]), metadata=ON_DEMAND) for table in TABLE_NAMES},
    outs={VOCABULARY: AssetOut(key=AssetKey(VOCABULARY), is_required=False,
                               description="User, host and project names found in the source; scrubbed wherever "
                                           "they appear. Never exported."),
          **{table: AssetOut(key=AssetKey(["anonymized", table]), dagster_type=ANONYMIZED_TYPES[table],
                             description=f"The {table.replace('_', ' ')} with every anonymization rule applied.",
                             is_required=False)
             for table in TABLE_NAMES}},
    check_specs=[schema_check_spec("anonymized", table) for table in TABLE_NAMES],
    can_subset=True,
)
def anonymized_tables(context: AssetExecutionContext, source: SourceDirectory, anonymization: Anonymization,
                      **raw_tables: StoredTable):
    """The vocabulary learned from every raw table, then every selected table anonymized with one scrubber,
    in one step, so that text that several tables share (expert queries and confidence previews, say) is
    scrubbed once; each table keeps its own counts. The raw tables are read when each pass reaches them,
    so the step holds one at a time."""
    vocabulary = learn_source_vocabulary(source.root(), (stored.load() for stored in raw_tables.values()))
    if VOCABULARY in context.selected_output_names:
        yield Output(vocabulary.as_dict(), output_name=VOCABULARY, metadata={
            "users": len(vocabulary.users), "hosts": len(vocabulary.hosts), "projects": len(vocabulary.projects)})
    pseudonymize = Pseudonymizer(anonymization.secret())
    scrubber = Scrubber(pseudonymize, vocabulary)
    selected = [table for table in TABLE_NAMES if table in context.selected_output_names]
    checked = {table for table in selected if schema_check_selected(context, "anonymized", table)}
    for table in anonymize_tables(lambda name: raw_tables[name].load(), selected, pseudonymize, scrubber, checked):
        yield from with_schema_check(anonymized_output(table), "anonymized", table.report)


ANONYMIZED_ASSETS = [anonymized_tables]
