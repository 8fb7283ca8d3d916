"""The scrubber's last step: text leaves only as allowed words, numbers, punctuation and placeholders.

Detectors run before this step and choose typed placeholders (`<EMAIL>`, `<SECRET>` …) for what they
recognise. This step makes safety independent of them: every token that is not an allowed word becomes a
placeholder, whatever it is. What it keeps, the independent check in `learning_assets.privacy.leaks` accepts.

Tokens are runs of characters other than ASCII whitespace and punctuation, so a name written with a
combining accent or in another script is one token, and never an allowed word (they are ASCII).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from learning_assets.privacy.vocabulary import (
    PLACEHOLDERS,
    PSEUDONYM_KINDS,
    allowed_words,
    as_arrow,
    name_words,
)

PLACEHOLDER = rf"<(?:{'|'.join(PLACEHOLDERS)})>"
ISO_TIME = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
# Units kept whole when no letter or digit touches them: placeholders, keyed pseudonyms (if this run issued
# them), dates and times.
_TYPED = re.compile(rf"(?<![A-Za-z0-9])(?:{PLACEHOLDER}|(?:{'|'.join(PSEUDONYM_KINDS)})_[0-9a-f]{{16}}|{ISO_TIME})"
                    r"(?![A-Za-z0-9])")
_PSEUDONYM = re.compile(rf"(?:{'|'.join(PSEUDONYM_KINDS)})_[0-9a-f]{{16}}")
# A run of seven or more digits with at most two other characters between them: phone, account and id numbers.
_LONG_NUMBER = re.compile(r"[0-9](?:[^A-Za-z0-9]{0,2}[0-9]){6,}")
_SENTINEL = 0xE000  # private-use characters stand in for typed units while numbers and words are looked at
_STAND_IN = re.compile("[\x00\ue000-\uf8ff]")  # what `clean` put in place of typed units and long numbers
_WORD = re.compile(r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\ue000-\uf8ff]+")
_AT_CHUNK = re.compile(r"[^\s<>()\[\]{},;\"']*@[^\s<>()\[\]{},;\"']*")  # placeholders stay outside
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_ASCII_PUNCT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                              "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u2192": "->"})


def normalize(text: str) -> str:
    """NFC, common typographic punctuation as ASCII, other non-letter symbols and control characters as spaces."""
    text = unicodedata.normalize("NFC", text).translate(_ASCII_PUNCT)
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch if (ch.isascii() and (ch.isprintable() or ch in "\n\t"))
                   or unicodedata.category(ch)[0] in "LMN" else " " for ch in text)


class AllowList:
    """Rewrites text so that it holds only allowed words, short numbers, punctuation and typed units."""

    def __init__(self, issued: Callable[[str], bool] = lambda token: False):
        self._issued = issued  # whether a pseudonym-shaped token was made by this run's pseudonymizer
        self._words = allowed_words()
        self._lower_only = name_words()

    def clean(self, text: str, counts: Counter) -> str:
        text = normalize(text)
        if "@" in text:  # nothing joined by `@` leaves: an address or a handle of allowed words is still one
            text = _AT_CHUNK.sub(lambda m: self._at(m.group(0), counts), text)
        typed: list[str] = []

        def hide(m: re.Match) -> str:
            unit = m.group(0)
            if _PSEUDONYM.fullmatch(unit) and not self._issued(unit):
                unit = self._count(counts, "allowlist.id", "<ID>")
            typed.append(unit)
            return chr(_SENTINEL + len(typed) - 1)

        view = _TYPED.sub(hide, text)
        view = _LONG_NUMBER.sub(lambda m: self._count(counts, "allowlist.number", "\x00"), view)
        view = _WORD.sub(lambda m: self._word(m.group(0), counts), view)
        if not typed and "\x00" not in view:
            return view
        return _STAND_IN.sub(lambda m: "<NUMBER>" if m.group(0) == "\x00" else typed[ord(m.group(0)) - _SENTINEL], view)

    def _at(self, chunk: str, counts: Counter) -> str:
        if _EMAIL.fullmatch(chunk):
            return self._count(counts, "pii.email", "<EMAIL>")
        return self._count(counts, "pii.handle", "<HANDLE>")

    def _word(self, token: str, counts: Counter) -> str:
        if not token.isascii():
            return self._count(counts, *(("allowlist.name", "<NAME>") if token[0].isupper() else
                                         ("allowlist.word", "<WORD>")))
        low = token.lower()
        if token.isdigit() or low in self._words or (token == low and low in self._lower_only):
            return token
        if any(ch.isdigit() for ch in token):
            return self._count(counts, "allowlist.id", "<ID>")
        if token[0].isupper() or low in self._lower_only:
            return self._count(counts, "allowlist.name", "<NAME>")
        return self._count(counts, "allowlist.word", "<WORD>")

    @staticmethod
    def _count(counts: Counter, rule: str, placeholder: str) -> str:
        counts[rule] += 1
        return placeholder


# Texts `clean` may change: anything but printable ASCII, `@`, digits, `<`, `_`, or a token not allowed in any case.
_MAY_CHANGE = r"[^\t\n\r\x20-\x7e]|[@<_0-9]"


def may_change(array: pa.Array) -> pa.Array:
    """Flags, for a whole array of texts at once, every text `AllowList.clean` could rewrite.

    The others are plain words and punctuation, every word allowed in any case: they pass as they are.
    """
    flags = pc.match_substring_regex(array, _MAY_CHANGE)
    tokens = pc.split_pattern_regex(array, "[^A-Za-z]+")
    flat, parents = pc.list_flatten(tokens), pc.list_parent_indices(tokens)
    unknown = pc.invert(pc.or_(pc.equal(flat, ""), pc.is_in(pc.utf8_lower(flat), as_arrow(allowed_words()))))
    bad = pc.unique(pc.filter(parents, unknown))
    mask = pc.is_in(pa.array(range(len(array)), pa.int64()), pc.cast(bad, pa.int64()))
    return pc.or_(pc.fill_null(flags, True), mask)
