"""Anonymized tables, one per raw table, and the vocabulary of names learned from the source."""

from collections.abc import Iterable
from pathlib import Path

import json

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetKey, MetadataValue, Output, asset

from learning_assets.anonymize import Anonymizer, anonymize_table
from learning_assets.quality import table_dagster_type
from learning_assets.leaks import json_strings
from learning_assets.metadata import table_metadata
from learning_assets.pseudonyms import Pseudonymizer
from learning_assets.scrub import ROLES, Scrubber, Vocabulary, learn_vocabulary
from resources import Anonymization, SourceDirectory
from schemas.tables import ANONYMIZED, TABLE_NAMES

# Shape (columns, order, dtypes) as the Dagster type; value rules run as `pandera_schema` asset checks.
ANONYMIZED_TYPES = {name: table_dagster_type(schema) for name, schema in ANONYMIZED.items()}


def text_values(df: pd.DataFrame):
    """Every distinct string in a frame: list elements, and JSON columns decoded to their leaves."""
    for col in df.columns:
        values = df[col].dropna()
        if df[col].dtype != object or values.empty:
            continue
        if isinstance(values.iloc[0], list):
            yield from {str(v) for items in values for v in items}
        elif str(values.iloc[0]).startswith("{"):
            for doc in values.unique():
                try:
                    yield from json_strings(json.loads(doc))
                except ValueError:
                    yield str(doc)
        else:
            yield from map(str, values.unique())


def learn_source_vocabulary(root: Path, raw_tables: Iterable[pd.DataFrame]) -> Vocabulary:
    """User, host and project names from the source directory's own path and every string of the raw tables."""
    values = [str(root.resolve())]
    agent_ids = set()
    for df in raw_tables:
        values.extend(text_values(df))
        if "agent_id" in df:
            agent_ids.update(df["agent_id"].dropna().unique())
    return learn_vocabulary(values, agent_ids, roles=ROLES)


@asset(
    group_name="anonymized",
    ins={name: AssetIn(AssetKey(["raw", name])) for name in TABLE_NAMES},
    description="User, host and project names found in the source; scrubbed wherever they appear. Never exported.",
)
def anonymization_vocabulary(context: AssetExecutionContext, source: SourceDirectory, **raw_tables) -> dict:
    vocab = learn_source_vocabulary(source.root(), raw_tables.values())
    context.add_output_metadata({"users": len(vocab.users), "hosts": len(vocab.hosts),
                                 "projects": len(vocab.projects)})
    return vocab.as_dict()


def make_anonymizer(settings: Anonymization, vocabulary: dict) -> Anonymizer:
    pseudonymize = Pseudonymizer(settings.secret())
    return Anonymizer(pseudonymize, Scrubber(pseudonymize, Vocabulary(*(set(vocabulary[k]) for k in
                                                                        ("users", "hosts", "projects")))),
                      k=settings.k)


def _anonymized_asset(table: str):
    @asset(
        key=AssetKey(["anonymized", table]),
        group_name="anonymized",
        ins={"raw": AssetIn(AssetKey(["raw", table])), "vocabulary": AssetIn("anonymization_vocabulary")},
        dagster_type=ANONYMIZED_TYPES[table],
        description=f"The {table.replace('_', ' ')} with every anonymization rule applied.",
    )
    def _anonymized(context: AssetExecutionContext, raw: pd.DataFrame, vocabulary: dict,
                    anonymization: Anonymization):
        anonymizer = make_anonymizer(anonymization, vocabulary)
        df, achieved = anonymize_table(table, raw, anonymizer)
        return Output(df, metadata={
            **table_metadata(df, preview=True),
            "rows_in": len(raw),
            "achieved_k": achieved if achieved is not None else MetadataValue.null(),
            "anonymization_stats": MetadataValue.json(dict(sorted(anonymizer.stats.items()))),
        })
    return _anonymized


ANONYMIZED_ASSETS = [anonymization_vocabulary] + [_anonymized_asset(t) for t in TABLE_NAMES]
