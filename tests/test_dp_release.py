"""The DP release, simulated: group selection stays within its delta, intervals cover at their level, the
budget is split by the weights table, and a dimension's metrics share one noisy count."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from learning_assets.insights.dp import Accountant, laplace_variance
from learning_assets.insights.release import (
    OUTCOME_DIMENSION,
    OUTCOME_SLOT,
    OUTCOME_VOCABULARY,
    UNITS,
    WEIGHTS,
    Policy,
    dimensions,
    exact_aggregates,
    planned_selections,
    release_from,
    sensitivities,
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
    assert with_victim["failure_reason"]["count"][VICTIM_REASONS[0]] == 1

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
    assert len(by_slot) == len(doc["privacy"]["charges"])  # each measurement once
    for dim in dimensions(policy):
        count = by_slot[(dim.name, "count")]
        assert not any((dim.slot(m), "count") in by_slot for m in dim.metrics)  # no count of a metric's own
        if dim.vocabulary:  # every group of the vocabulary, whatever the data hold
            assert count["groups"] == len(dim.vocabulary) and count["threshold"] is None
        else:
            assert count["threshold"] >= policy.k
        for m in dim.metrics:  # each sum over exactly the groups of the dimension's count
            assert by_slot[(dim.slot(m), "sum")]["groups"] == count["groups"]
    assert {"step", "workflow"} <= {d.name for d in dimensions(policy) if d.vocabulary}


def test_the_budget_follows_the_weights_table_and_adds_up_to_epsilon():
    policy = Policy(epsilon=4.0)
    assert set(WEIGHTS) == set(sensitivities(policy))
    for dim in dimensions(policy):  # a shared count, published and dividing m metrics, weighs (m + 1)^(1/3)
        assert WEIGHTS[(dim.name, "count")] == pytest.approx((len(dim.metrics) + 1) ** (1 / 3))
        assert all(WEIGHTS[(dim.slot(m), "sum")] == 1 for m in dim.metrics)
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(6)}
    release = release_from(exact_aggregates(_frames(projects), policy), policy, release_id="x")
    privacy, acct = release.document["privacy"], release.accountant
    assert math.fsum(acct.allocation.values()) == pytest.approx(policy.epsilon, rel=1e-12)
    assert len(privacy["charges"]) == privacy["measurements"] == len(WEIGHTS)
    total = sum(WEIGHTS.values())
    for c in privacy["charges"]:
        planned = policy.epsilon * WEIGHTS[(c["slot"], c["kind"])] / total
        assert c["weight"] == WEIGHTS[(c["slot"], c["kind"])]
        assert planned * (1 - 1e-9) <= c["epsilon"] <= planned * (1 + 1e-9)  # spent what was planned, no more
        assert c["noise_sd"] == pytest.approx(math.sqrt(laplace_variance(c["scale"])))
    assert privacy["epsilon_spent"] == pytest.approx(policy.epsilon) and privacy["epsilon_spent"] <= policy.epsilon * (
        1 + 1e-9)
    assert privacy["delta_spent"] <= policy.delta and planned_selections(policy) == 2
    # a count of two metrics gets 3^(1/3) times a sum's epsilon (its sensitivity is G, the sum's G * UNITS)
    by_slot = {(c["slot"], c["kind"]): c for c in privacy["charges"]}
    count, total_sum = by_slot[("agent", "count")], by_slot[("agent.success_rate", "sum")]
    assert count["noise_sd"] / count["sensitivity"] == pytest.approx(
        total_sum["noise_sd"] / total_sum["sensitivity"] / 3 ** (1 / 3), rel=1e-3)


def test_the_accountant_refuses_a_measurement_it_did_not_plan_or_makes_twice():
    acct = Accountant(1.0, {("a", "count"): 3, ("a.x", "sum"): 1})
    assert acct.allocation == {("a", "count"): 0.75, ("a.x", "sum"): 0.25}
    acct.measure("a", "count", [1, 2], 1)
    with pytest.raises(RuntimeError, match="measured twice"):
        acct.measure("a", "count", [1, 2], 1)
    with pytest.raises(RuntimeError, match="not a planned measurement"):
        acct.measure("b", "count", [1], 1)
    assert acct.spent <= 0.75 * (1 + 1e-9)


def test_a_dimensions_metrics_are_published_over_one_noisy_count():
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(20)}
    policy = Policy(epsilon=200.0)
    doc = release_from(exact_aggregates(_frames(projects), policy), policy, release_id="x").document
    counts = {}
    for row in doc["insights"]:
        counts.setdefault((row["dimension"], row["group"]), set()).add((row["projects"], row["projects_noise_sd"]))
    means = {key for key in counts if key[0] in {d.name for d in dimensions(policy)}}
    assert len(means) >= 15
    assert all(len(counts[key]) == 1 for key in means)


def test_intervals_cover_the_pooled_mean_at_least_at_the_nominal_level():
    """Many releases of one pooled dataset: each published mean's interval holds the true mean over the
    pooled projects at least as often as its confidence level says."""
    projects = {synth.project_hash(i): synth.project_tables(i) for i in range(30)}
    policy = Policy(epsilon=20.0, confidence=0.9)
    exact = exact_aggregates(_frames(projects), policy)
    truth = {}
    for dim in dimensions(policy):
        for m in dim.metrics:
            for g, n in exact[dim.name]["count"].items():
                truth[(dim.name, m.name, g)] = m.center + exact[dim.slot(m)]["sum"][g] * m.half / UNITS / n
    for g in OUTCOME_VOCABULARY:
        truth[(OUTCOME_DIMENSION, "share", g)] = (exact[OUTCOME_SLOT]["sum"][g] / UNITS
                                                  / exact[OUTCOME_DIMENSION]["count"]["*"])
    covered = total = 0
    for i in range(100):
        for row in release_from(exact, policy, release_id=str(i)).document["insights"]:
            key = (row["dimension"], row["metric"], row["group"])
            if key in truth:
                total += 1
                covered += row["ci_low"] - 1e-4 <= truth[key] <= row["ci_high"] + 1e-4  # rounded to 4 digits
    assert total >= 1000
    assert covered / total >= policy.confidence, (covered, total)
