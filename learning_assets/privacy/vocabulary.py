"""The closed vocabularies: the framework's own names, the project's own fixed strings, and the allowed words.

These are data, shared by the scrubber (which keeps only what they allow) and by the independent invariant
check (which verifies that an export holds nothing else). Neither side's code is shared.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pyarrow as pa

from learning_assets.privacy.rules import OTHER, UNKNOWN
from learning_assets.privacy.wordlists import (
    COMMON,
    NAME_WORDS,
    read_words,
    split_words,
)
from learning_assets.tables import ANONYMIZED, RAW

HERE = Path(__file__).parent
SCHEMAS = HERE.parent.parent / "schemas"
# Kinds of keyed pseudonym (`<kind>_<16 hex>`); nothing else of that shape may leave the machine.
PSEUDONYM_KINDS = ("agent", "cap", "exec", "expert", "fb", "name", "pat", "project", "prompt", "task", "wf")
# The typed placeholders the scrubber writes; text shaped like one (`<OKONKWO>`) is not one.
PLACEHOLDERS = ("ADDRESS", "API_KEY", "AWS_KEY", "CODE", "CREDENTIALS", "EMAIL", "GITHUB_TOKEN", "HANDLE", "HOST",
                "ID", "IP", "JWT", "MAC", "NAME", "NATIONAL_ID", "NUMBER", "PHONE", "PRIVATE_KEY", "PROJECT",
                "SECRET", "SLACK_TOKEN", "URL", "URL_WITH_PASSWORD", "USER", "WORD")
PRIVACY_NOTICE = (
    "This export contains only anonymized learning data. Names the agent framework defines are kept; "
    "identifiers and other names are keyed pseudonyms (HMAC-SHA256 under a key that never leaves the "
    "installation), file paths are generalized to patterns, source code is removed, and free text keeps "
    "only common words: secrets, personal data and every other word become typed placeholders. Timestamps "
    "are rounded to the day. A group is shared only once k projects have it. "
    "Anonymization cannot be switched off."
)


@functools.cache
def framework() -> dict[str, tuple[str, ...]]:
    """`framework_vocabulary.json` (tapps-agents 3.6.3, read from its source): category -> names."""
    data = json.loads((HERE / "framework_vocabulary.json").read_text(encoding="utf-8"))
    return {category: tuple(names) for category, names in data.items() if category != "sources"}


def framework_names(*categories: str) -> frozenset[str]:
    """The framework's names in `categories` (commands also without their leading `*`)."""
    vocab = framework()
    return frozenset(n.lstrip("*") for c in categories for n in vocab[c])


@functools.cache
def fixed_strings() -> frozenset[str]:
    """Strings the project itself writes: JSON Schema property names, enumerations and constants, table and
    column names, and every framework name. An export may hold them whole."""
    out: set[str] = {OTHER, UNKNOWN, PRIVACY_NOTICE}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        _schema_strings(json.loads(path.read_text(encoding="utf-8")), out)
    for tables in (RAW, ANONYMIZED):
        out.update(tables)
        out.update(c for schema in tables.values() for c in schema.columns)
    out.update(n for names in framework().values() for n in names)
    out.update(f"tables/{t}.parquet" for t in ANONYMIZED)  # the export's own files
    out.update(("learning_export.json", "learning_export.json.gz", "export_metadata.json",
                "anonymization_report.json", "manifest.json"))
    return frozenset(out)


def _schema_strings(node, out: set[str]) -> None:
    """Property names, `enum` and `const` values of a JSON Schema (descriptions and patterns are not data)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "$defs", "patternProperties"):
                out.update(value)
            if key == "enum" and isinstance(value, list):
                out.update(v for v in value if isinstance(v, str))
            elif key == "const" and isinstance(value, str):
                out.add(value)
            if key not in ("description", "pattern", "$comment", "title"):
                _schema_strings(value, out)
    elif isinstance(node, list):
        for item in node:
            _schema_strings(item, out)


@functools.cache
def fixed_words() -> frozenset[str]:
    """The words of the fixed strings: every export holds them."""
    return frozenset(w for s in fixed_strings() for w in split_words(s))


@functools.cache
def allowed_words() -> frozenset[str]:
    """Words allowed in any case: common English and programming terms, and the words of the fixed strings."""
    return read_words(COMMON) | fixed_words()


@functools.cache
def name_words() -> frozenset[str]:
    """Words allowed only in lower case (`will`, `mark`): capitalized, they are most likely a person's name."""
    return read_words(NAME_WORDS) - allowed_words()


@functools.cache
def as_arrow(words: frozenset[str]) -> pa.Array:
    """A word set as an Arrow array, for `pyarrow.compute.is_in` (built once per set)."""
    return pa.array(sorted(words), pa.large_string())
