"""The DP release, simulated: group selection stays within its delta, intervals cover at their level."""

from __future__ import annotations

import math

import pandas as pd

from learning_assets.insights.release import (
    MEAN_KINDS,
    OUTCOME_SLOT,
    OUTCOME_VOCABULARY,
    UNITS,
    Policy,
    exact_aggregates,
    mean_slots,
    release_from,
)
from learning_assets.tables import TABLE_NAMES
from tests import insights_synth as synth

RELEASES = 200
VICTIM_KIND, VICTIM_REASONS = "victim-only-kind", ["victim only reason a", "victim only reason b"]


def _frames(projects: dict[str, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return {t: pd.concat([tables[t].assign(project=p) for p, tables in projects.items()], ignore_index=True)
            for t in TABLE_NAMES}


def _victim() -> dict[str, pd.DataFrame]:
    tables = synth.project_tables(40)
    tables["capabilities"] = tables["capabilities"].assign(capability_type=VICTIM_KIND)
    pats = tables["patterns"].copy()
    pats["failure_reasons"] = [list(VICTIM_REASONS) for _ in range(len(pats))]
    tables["patterns"] = pats
    return tables


def _victim_groups(document: dict) -> set[str]:
    return {r["group"] for r in document["insights"]} & {VICTIM_KIND, *VICTIM_REASONS}


def test_a_group_only_one_project_has_appears_within_the_accounted_delta():
    """Neighbouring datasets, with and without one project whose capability type and failure reasons no
    other project has. Without it those groups cannot appear; with it, they may appear only with
    probability at most the release's delta. A large delta (and no s.d. margin) makes the rate measurable."""
    others = {synth.project_hash(i): synth.project_tables(i) for i in range(12)}
    policy = Policy(epsilon=3.0, delta=0.3, min_support_sds=0.0, k=2)
    with_victim = exact_aggregates(_frames({**others, "victim": _victim()}), policy)
    without = exact_aggregates(_frames(others), policy)
    assert with_victim["failure_reason.projects"]["count"][VICTIM_REASONS[0]] == 1

    appeared, deltas = 0, set()
    for i in range(RELEASES):
        out = release_from(with_victim, policy, release_id=str(i)).document
        appeared += bool(_victim_groups(out))
        deltas.add(round(out["privacy"]["delta_spent"], 12))
        assert not _victim_groups(release_from(without, policy, release_id=str(i)).document)
    delta, = deltas
    assert delta <= policy.delta
    rate = appeared / RELEASES
    assert rate <= delta + 3 * math.sqrt(delta * (1 - delta) / RELEASES), (rate, delta)


def test_closed_vocabularies_are_released_as_full_vectors_in_a_fixed_order():
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(3)}
    policy = Policy()
    doc = release_from(exact_aggregates(_frames(projects), policy), policy, release_id="x").document
    by_slot = {(c["slot"], c["kind"]): c for c in doc["privacy"]["charges"]}
    for slot in mean_slots(policy):
        for kind in MEAN_KINDS:
            charge = by_slot[(slot.name, kind)]
            if slot.vocabulary:  # every group of the vocabulary, whatever the data hold
                assert charge["groups"] == len(slot.vocabulary) and charge["threshold"] is None
        if not slot.vocabulary:
            assert by_slot[(slot.name, "count")]["threshold"] >= policy.k


def test_intervals_cover_the_pooled_mean_at_least_at_the_nominal_level():
    """Many releases of one pooled dataset: each published mean's interval holds the true mean over the
    pooled projects at least as often as its confidence level says."""
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(30)}
    policy = Policy(epsilon=20.0, confidence=0.9)
    exact = exact_aggregates(_frames(projects), policy)
    truth = {}
    for slot in mean_slots(policy):
        for g, n in exact[slot.name]["count"].items():
            truth[(slot.dimension, slot.metric, g)] = slot.center + exact[slot.name]["sum"][g] * slot.half / UNITS / n
    for g in OUTCOME_VOCABULARY:
        truth[("task_outcome", "share", g)] = exact[OUTCOME_SLOT]["sum"][g] / UNITS / exact[OUTCOME_SLOT]["count"]["*"]
    covered = total = 0
    for i in range(100):
        for row in release_from(exact, policy, release_id=str(i)).document["insights"]:
            key = (row["dimension"], row["metric"], row["group"])
            if key in truth:
                total += 1
                covered += row["ci_low"] - 1e-4 <= truth[key] <= row["ci_high"] + 1e-4  # rounded to 4 digits
    assert total >= 1000
    assert covered / total >= policy.confidence, (covered, total)
