"""RE2 pre-filters derived from the Python detectors, run over whole Arrow arrays at C speed.

`re2_superset(rx)` rewrites a compiled Python pattern into an RE2 pattern (the engine of
`pyarrow.compute.match_substring_regex`) that matches somewhere in every string the original matches
somewhere, so a value it does not flag provably cannot match the detector and may skip Python:
- lookarounds, anchors and word boundaries are dropped: RE2 has none of the first, and an assertion
  consumes nothing, so dropping it only lets more strings through;
- every character set (literal, class, `.`, `\\w`, `\\d`, `\\s`) becomes exactly Python's own set on
  ASCII, asked of Python itself (flags such as IGNORECASE included), plus every non-ASCII character
  (so Unicode `\\w`, `\\d` and `\\s` can never differ between the two engines); only sets built of
  ASCII characters alone get no more of non-ASCII than what IGNORECASE folds onto ASCII letters;
- a back-reference becomes "anything".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from re import (
    _constants as sre,  # the parser's node types; no public API exposes a parsed pattern
)
from re import _parser

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NON_ASCII = r"\x{80}-\x{10FFFF}"
# The only non-ASCII characters Python's IGNORECASE matches to an ASCII letter (İ ı ſ K).
ASCII_CASE_FOLDS = r"\x{130}\x{131}\x{17f}\x{212a}"
_CATEGORIES = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_SPACE: r"\s",
               sre.CATEGORY_NOT_SPACE: r"\S", sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W"}
_CHAR_FLAGS = re.IGNORECASE | re.DOTALL | re.ASCII
RE2_MAX_REPEAT = 1000
Trigger = str | Callable[[pa.Array], pa.Array]  # an RE2 pattern, or what flags an array's values at once


def _ascii_only(op, av) -> bool:
    """Whether a one-character node is built of ASCII characters alone (no category, negation or `.`)."""
    if op is sre.LITERAL:
        return av < 128
    return op is sre.IN and all(item_op is sre.LITERAL and item_av < 128
                                or item_op is sre.RANGE and item_av[1] < 128 for item_op, item_av in av)


def _python_class(op, av) -> str:
    """A one-character node as Python pattern text."""
    if op is sre.LITERAL:
        return re.escape(chr(av))
    if op is sre.NOT_LITERAL:
        return "[^%s]" % re.escape(chr(av))
    if op is sre.ANY:
        return "."
    items = []
    for item_op, item_av in av:
        if item_op is sre.NEGATE:
            items.append("^")
        elif item_op is sre.LITERAL:
            items.append(re.escape(chr(item_av)))
        elif item_op is sre.RANGE:
            items.append("%s-%s" % (re.escape(chr(item_av[0])), re.escape(chr(item_av[1]))))
        elif item_op is sre.CATEGORY:
            items.append(_CATEGORIES[item_av])
        else:
            raise ValueError(f"unsupported class item {item_op}")
    return "[%s]" % "".join(items)


@functools.lru_cache(maxsize=None)
def _re2_class(python_class: str, flags: int, ascii_only: bool) -> str:
    """Python's own set on ASCII, as ranges, plus all of non-ASCII (or just its case folds)."""
    rx = re.compile(python_class, flags & _CHAR_FLAGS)
    codes = [i for i in range(128) if rx.fullmatch(chr(i))]
    ranges, start = [], None
    for i, code in enumerate(codes):
        start = code if start is None else start
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            ranges.append(r"\x{%x}" % start + (r"-\x{%x}" % code if code != start else ""))
            start = None
    extra = NON_ASCII if not ascii_only else ASCII_CASE_FOLDS if flags & re.IGNORECASE else ""
    return "[%s%s]" % ("".join(ranges), extra)


def _re2(nodes, flags: int) -> str:
    out = []
    for op, av in nodes:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            out.append(_re2_class(_python_class(op, av), flags, _ascii_only(op, av)))
        elif op is sre.BRANCH:
            out.append("(?:%s)" % "|".join(_re2(alt, flags) for alt in av[1]))
        elif op is sre.SUBPATTERN:
            _, add, remove, sub = av
            out.append("(?:%s)" % _re2(sub, (flags | add) & ~remove))
        elif op is sre.ATOMIC_GROUP:
            out.append("(?:%s)" % _re2(av, flags))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = av
            # RE2 caps counts at 1000; a smaller minimum or no maximum only widens the pattern.
            high = "" if high is sre.MAXREPEAT or high > RE2_MAX_REPEAT else high
            out.append("(?:%s){%d,%s}" % (_re2(sub, flags), min(low, RE2_MAX_REPEAT), high))
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue
        elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            out.append(r"[\x{0}-\x{10FFFF}]*")
        else:
            raise ValueError(f"no RE2 superset for {op}")
    return "".join(out)


@functools.lru_cache(maxsize=256)
def re2_superset(rx: re.Pattern) -> str:
    """An RE2 pattern matching (somewhere) every string `rx` matches (somewhere)."""
    parsed = _parser.parse(rx.pattern, rx.flags)
    return _re2(parsed, parsed.state.flags)


def any_of(*patterns: re.Pattern) -> str:
    """One RE2 trigger for several detectors."""
    return "|".join("(?:%s)" % re2_superset(rx) for rx in patterns)


def to_arrow(values: list[str]) -> pa.Array | None:
    """The values as an Arrow array, or None when one cannot be UTF-8 (a lone surrogate from JSON)."""
    try:
        return pa.array(values, pa.large_string())
    except (pa.ArrowException, UnicodeError):
        return None


def flag_mask(array: pa.Array, trigger: Trigger) -> pa.Array:
    """Whether `trigger` flags each value."""
    return trigger(array) if callable(trigger) else pc.match_substring_regex(array, trigger)


def flagged(array: pa.Array, trigger: Trigger) -> np.ndarray:
    """Positions of the values `trigger` flags."""
    return np.flatnonzero(flag_mask(array, trigger).to_numpy(zero_copy_only=False))
