"""What each free-text detector catches, what it costs, and what its RE2 pre-filter saves.

    python -m benchmarks.detectors [--scale sample|typical]

Collects every distinct free-text value of a generated source (the fields the scrubber sees), then
runs each detector on its own over all of them: the Python regex (values per second, values it fires
on) and its RE2 trigger over the whole Arrow array (values per second, values it flags: the hit rate,
which must be at least what the detector fires on). The last rows are the whole scrubber and the leak
rescan with and without the pre-filters, and detect-secrets with and without its own pre-filter.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings
from datetime import timezone

warnings.filterwarnings("ignore")

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from benchmarks.run import source_for  # noqa: E402
from learning_assets.defs.export.anonymized import text_values  # noqa: E402
from learning_assets.privacy.leaks import check_strings  # noqa: E402
from learning_assets.privacy.prefilter import Trigger, any_of, flag_mask  # noqa: E402
from learning_assets.privacy.pseudonyms import Pseudonymizer  # noqa: E402
from learning_assets.privacy.scrub import (  # noqa: E402
    CODE_INLINE,
    CODE_LINE,
    DETECTOR_TRIGGERS,
    ID_RULES,
    PATH_RULE,
    PII_RULES,
    SECRET_CANDIDATE,
    SECRET_RULES,
    TOKEN,
    Scrubber,
    _detect_secrets_scanner,
    detect_secrets_tokens,
    is_high_entropy,
)
from learning_assets.tables import read_tables  # noqa: E402


def corpus(scale: str) -> list[str]:
    root = source_for(scale)
    values: set[str] = set()
    frames = [read.frame() for read in read_tables(root, timezone.utc).values()]
    for df in frames:
        values.update(text_values(df))
    return sorted(values)


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(texts: list[str], fires) -> tuple[int, float]:
    """(values `fires` is true for, values per second)."""
    hits, seconds = timed(lambda: sum(1 for t in texts if fires(t)))
    return hits, len(texts) / seconds if seconds else float("inf")


def measure_trigger(array: pa.Array, trigger: Trigger) -> tuple[int, float]:
    """(values the RE2 trigger flags, values per second) over the whole array at once."""
    mask, seconds = timed(lambda: flag_mask(array, trigger))
    return pc.sum(mask).as_py() or 0, len(array) / seconds if seconds else float("inf")


def detector_rows(texts: list[str], array: pa.Array) -> list[tuple]:
    named = [(f"regex {rule}", rx) for rule, _, rx in SECRET_RULES + PII_RULES]
    named += [("regex path", PATH_RULE)] + [(f"regex id.{kind}", rx) for kind, rx in ID_RULES]
    rows = [(name, *measure(texts, rx.search), *measure_trigger(array, DETECTOR_TRIGGERS[rx])) for name, rx in named]
    rows.append(("code (line + inline)",
                 *measure(texts, lambda t: any(CODE_LINE.match(x) for x in t.split("\n")) or CODE_INLINE.search(t)),
                 *measure_trigger(array, any_of(CODE_LINE, CODE_INLINE))))
    rows.append(("high entropy tokens", *measure(texts, lambda t: any(is_high_entropy(x) for x in TOKEN.findall(t))),
                 *measure_trigger(array, DETECTOR_TRIGGERS[TOKEN])))
    rows.append(("detect-secrets pre-filter", *measure(texts, SECRET_CANDIDATE.search),
                 *measure_trigger(array, DETECTOR_TRIGGERS[SECRET_CANDIDATE])))
    scrubber = Scrubber(PSEUDONYMIZE)
    rows.append(("any rule (scrubber; union of triggers)", *measure(texts, lambda t: scrubber.scrub(t)[1]),
                 *measure_trigger(array, any_trigger)))
    return rows


def any_trigger(array: pa.Array) -> pa.Array:
    """Whether any detector's trigger flags each value."""
    masks = [flag_mask(array, trigger) for trigger in DETECTOR_TRIGGERS.values()]
    return functools.reduce(pc.or_, masks)


def whole_rows(texts: list[str]) -> list[tuple]:
    """Each pass cold: detect-secrets' memo is cleared first."""
    scan_line = _detect_secrets_scanner()
    passes = [
        ("detect-secrets, every value", lambda: measure(texts, lambda t: any(True for x in t.split("\n")
                                                                          for _ in scan_line(x)))),
        ("detect-secrets behind its pre-filter", lambda: measure(texts, detect_secrets_tokens)),
        ("scrubber, every rule on every value", lambda: measure(texts, lambda t: scrubber._scrub(t)[1])),
        ("scrubber, rules only where triggers fire",
         lambda: batch(texts, lambda: [c for _, c in Scrubber(PSEUDONYMIZE).scrub_many(texts).values()])),
        ("invariant check (Arrow, all values at once)",
         lambda: batch(texts, lambda: check_strings({t: [("benchmark", "text")] for t in texts}))),
    ]
    scrubber = Scrubber(PSEUDONYMIZE)
    rows = []
    for name, run in passes:
        detect_secrets_tokens.cache_clear()
        rows.append((name, *run()))
    return rows


def batch(texts: list[str], run) -> tuple[int, float]:
    """(values with a non-empty result, values per second) of a pass over all texts at once."""
    results, seconds = timed(run)
    return sum(1 for r in results if r), len(texts) / seconds


PSEUDONYMIZE = Pseudonymizer(b"b" * 32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="sample")
    texts = corpus(parser.parse_args().scale)
    array = pa.array(texts, pa.large_string())
    _detect_secrets_scanner()
    print(f"{len(texts):,} distinct free-text values")
    print(f"| {'detector':<40} | {'fires on':>8} | {'values/s':>10} | {'RE2 flags':>9} | {'hit rate':>8} | "
          f"{'RE2 values/s':>12} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 12}|{'-' * 11}|{'-' * 10}|{'-' * 14}|")
    for name, hits, rate, flagged, trigger_rate in detector_rows(texts, array):
        print(f"| {name:<40} | {hits:>8,} | {rate:>10,.0f} | {flagged:>9,} | {flagged / len(texts):>8.1%} | "
              f"{trigger_rate:>12,.0f} |")
    print()
    print(f"| {'whole pass':<48} | {'fires on':>8} | {'values/s':>10} |")
    print(f"|{'-' * 50}|{'-' * 10}|{'-' * 12}|")
    for name, hits, rate in whole_rows(texts):
        print(f"| {name:<48} | {hits:>8,} | {rate:>10,.0f} |")


if __name__ == "__main__":
    main()
