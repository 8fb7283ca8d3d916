"""What each free-text detector catches, and what it costs.

    python benchmarks/detectors.py [--scale sample|typical]

Collects every distinct free-text value of a generated source (the fields the scrubber sees), then
runs each detector on its own over all of them: values per second and values it fires on. The last
rows are the whole scrubber (all rules in order, memoized as in the pipeline) and detect-secrets
with and without the pre-filter that keeps it off the hot path.
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.filterwarnings("ignore")

from benchmarks.run import source_for  # noqa: E402
from learning_assets.assets.anonymized import text_values  # noqa: E402
from learning_assets.pseudonyms import Pseudonymizer  # noqa: E402
from learning_assets.scrub import (CODE_INLINE, CODE_LINE, ID_RULES, PATH_RULE, PII_RULES,  # noqa: E402
                                   SECRET_CANDIDATE, SECRET_RULES, TOKEN, Scrubber, _detect_secrets_scanner,
                                   detect_secrets_tokens, is_high_entropy)
from learning_assets.sources import (read_capabilities, read_code_outcomes, read_confidence_metrics,  # noqa: E402
                                     read_expert_performance, read_feedback, read_patterns,
                                     read_step_executions, read_task_memories, read_workflow_executions)

FREE_TEXT_READERS = (read_task_memories, read_patterns, read_code_outcomes, read_workflow_executions,
                     read_expert_performance, read_confidence_metrics, read_feedback, read_step_executions)


def corpus(scale: str) -> list[str]:
    root = source_for(scale)
    values: set[str] = set()
    frames = [r(root).frame() for r in FREE_TEXT_READERS] + [t.frame() for t in read_capabilities(root)]
    for df in frames:
        values.update(text_values(df))
    return sorted(values)


def measure(name: str, texts: list[str], fires) -> tuple[str, int, float, float]:
    start = time.perf_counter()
    hits = sum(1 for t in texts if fires(t))
    seconds = time.perf_counter() - start
    return name, hits, seconds, len(texts) / seconds if seconds else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="sample")
    texts = corpus(parser.parse_args().scale)
    rows = []
    for rule, _, rx in SECRET_RULES + PII_RULES:
        rows.append(measure(f"regex {rule}", texts, rx.search))
    rows.append(measure("regex path", texts, PATH_RULE.search))
    for kind, rx in ID_RULES:
        rows.append(measure(f"regex id.{kind}", texts, rx.search))
    rows.append(measure("code (line + inline)", texts,
                        lambda t: any(CODE_LINE.match(line) for line in t.split("\n")) or CODE_INLINE.search(t)))
    rows.append(measure("high entropy tokens", texts, lambda t: any(is_high_entropy(x) for x in TOKEN.findall(t))))
    _detect_secrets_scanner()
    scan_line = _detect_secrets_scanner()
    rows.append(measure("detect-secrets, every value", texts,
                        lambda t: any(True for line in t.split("\n") for _ in scan_line(line))))
    rows.append(measure("detect-secrets pre-filter only", texts, SECRET_CANDIDATE.search))
    rows.append(measure("detect-secrets behind pre-filter", texts, detect_secrets_tokens))
    scrubber = Scrubber(Pseudonymizer(b"b" * 32))
    rows.append(measure("detect-secrets, only what regexes miss", texts,
                        lambda t: any(k.startswith("secret.detect_secrets") for k in scrubber.scrub(t)[1])))
    scrubber = Scrubber(Pseudonymizer(b"b" * 32))
    rows.append(measure("whole scrubber (first pass)", texts, lambda t: scrubber.scrub(t)[1]))
    rows.append(measure("whole scrubber (memoized repeat)", texts, lambda t: scrubber.scrub(t)[1]))
    print(f"{len(texts):,} distinct free-text values")
    print(f"| {'detector':<40} | {'fires on':>8} | {'seconds':>8} | {'values/s':>10} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    for name, hits, seconds, rate in rows:
        print(f"| {name:<40} | {hits:>8,} | {seconds:>8.3f} | {rate:>10,.0f} |")


if __name__ == "__main__":
    main()
