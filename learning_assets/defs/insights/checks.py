"""Blocking checks on a release: k projects per group, and the privacy budget accounted."""


from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from learning_assets.defs.insights.assets import (
    SharedInsightsConfig,
    latest_release,
    shared_insights,
)
from learning_assets.insights.release import (
    OUTCOME_SLOT,
    REASON_SLOT,
    exact_aggregates,
    mean_slots,
    sensitivities,
)
from resources.shared_insights import InsightsStore

NO_RELEASE = AssetCheckResult(passed=False, metadata={"problem": "no release"})


def _latest_release_and_policy(store: InsightsStore):
    """The newest release document and the policy it was made under; None before the first release."""
    found = latest_release(store)
    if found is None:
        return None
    _, doc = found
    return doc, SharedInsightsConfig(**doc["privacy"]["policy"]).policy()


@asset_check(asset=shared_insights, blocking=True,
             description="Every published group has at least k contributing projects in the pooled tables "
                         "(recounted from the data) and shows a count of at least k.")
def release_respects_k(insights_store: InsightsStore) -> AssetCheckResult:
    found = _latest_release_and_policy(insights_store)
    if found is None:
        return NO_RELEASE
    doc, policy = found
    with insights_store.lock():
        exact = exact_aggregates(insights_store.root(), policy, insights_store.engine())
    slot_of = {(s.dimension, s.metric): s.name for s in mean_slots(policy)}
    slot_of[("task_outcome", "share")] = OUTCOME_SLOT
    slot_of[("failure_reason", "projects")] = REASON_SLOT
    bad = []
    for row in doc["insights"]:
        slot = slot_of[(row["dimension"], row["metric"])]
        if slot == OUTCOME_SLOT:
            true_n = min(exact[slot]["count"]["*"], exact[slot]["support"].get(row["group"], 0))
        else:
            true_n = exact[slot]["count"].get(row["group"], 0)
        if true_n < policy.k or row["projects"] < policy.k:
            bad.append(f"{row['dimension']}={row['group']} ({row['metric']})")
    return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.ERROR,
                            metadata={"rows_checked": len(doc["insights"]), "k": policy.k,
                                      "below_k": MetadataValue.json(bad[:20])})


@asset_check(asset=shared_insights, blocking=True,
             description="The release's epsilon is accounted: the measurements' epsilons add up to at most the "
                         "budget, and each equals its declared sensitivity divided by its noise scale.")
def privacy_budget_accounted(insights_store: InsightsStore) -> AssetCheckResult:
    found = _latest_release_and_policy(insights_store)
    if found is None:
        return NO_RELEASE
    doc, policy = found
    privacy = doc["privacy"]
    expected = sensitivities(policy)
    problems = []
    for c in privacy["charges"]:
        if expected.get((c["slot"], c["kind"])) != c["sensitivity"]:
            problems.append(f"{c['slot']}/{c['kind']}: sensitivity {c['sensitivity']} is not the policy's")
        if c["epsilon"] > c["sensitivity"] / c["scale"] * (1 + 1e-9):
            problems.append(f"{c['slot']}/{c['kind']}: epsilon above sensitivity/scale")
    spent = sum(c["epsilon"] for c in privacy["charges"])
    if spent > privacy["epsilon_budget"] * (1 + 1e-9):
        problems.append(f"spent {spent} > budget {privacy['epsilon_budget']}")
    if len(privacy["charges"]) != len(expected):
        problems.append(f"{len(privacy['charges'])} measurements, expected {len(expected)}")
    return AssetCheckResult(passed=not problems, metadata={"epsilon_spent": spent,
                                                           "epsilon_budget": privacy["epsilon_budget"],
                                                           "problems": MetadataValue.json(problems)})


SHARED_CHECKS = [release_respects_k, privacy_budget_accounted]
