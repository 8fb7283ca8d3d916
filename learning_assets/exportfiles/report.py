"""The anonymization report: what every rule did and what was skipped."""

from __future__ import annotations

from collections import Counter


def build_report(table_stats: dict[str, dict], k: int) -> dict:
    """Combine per-table anonymization results (stats, rows, skips, warnings) into one report.

    `k` is the number of projects a group needs before the receiving side pools it: no row of an export is
    suppressed, since every row belongs to the same project."""
    totals: Counter = Counter()
    warnings, skipped = [], {}
    for name, info in sorted(table_stats.items()):
        totals.update(info.get("stats", {}))
        warnings += info.get("warnings", [])
        skipped[name] = info.get("skipped", 0)
    secrets = {r.split(".", 1)[1]: n for r, n in sorted(totals.items()) if r.startswith("secret.")}
    pii = {r.split(".", 1)[1]: n for r, n in sorted(totals.items()) if r.startswith("pii.")}
    return {
        "k": k,
        "rules": {
            "ids_pseudonymized": totals["ids_pseudonymized"] + sum(v for r, v in totals.items() if r.startswith("id.")),
            "paths_generalized": totals["path"],
            "code_blocks_removed": totals["code.block"] + totals["code.inline"] + totals["code.snippet_removed"],
            "secrets": secrets,
            "pii": pii,
            "context_keys_dropped": totals["context_keys_dropped"],
            "agent_ids_generalized": totals["agent_ids_generalized"],
            "values_generalized": totals["values_generalized"],
            "tokens_not_allowed": sum(v for r, v in totals.items() if r.startswith("allowlist.")),
        },
        "tables": {name: {"rows_in": info.get("rows_in", 0), "rows_out": info.get("rows_out", 0),
                          "skipped_source_records": skipped[name]}
                   for name, info in sorted(table_stats.items())},
        "warnings": warnings,
    }
