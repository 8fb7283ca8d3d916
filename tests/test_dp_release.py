"""The DP release, simulated: group selection stays within its delta."""

from __future__ import annotations

import math

import pandas as pd

from learning_assets.insights.release import MEAN_KINDS, Policy, exact_aggregates, mean_slots, release_from
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

