"""Blocking checks on a release: k projects per group, and the privacy budget accounted."""


from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from learning_assets.defs.insights.assets import (
    SharedInsightsConfig,
    latest_release,
    shared_insights,
)
from learning_assets.insights.release import sensitivities
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
             description="Every published group shows a noisy count of at least its dimension's published "
                         "minimum, max(k, c x the count's noise s.d.). Checked on the release alone: a check on "
                         "the true counts would itself depend on them.")
def release_respects_k(insights_store: InsightsStore) -> AssetCheckResult:
    found = _latest_release_and_policy(insights_store)
    if found is None:
        return NO_RELEASE
    doc, policy = found
    least = doc["privacy"]["min_projects"]  # per dimension: its one count decides for all its metrics
    bad = [f"{row['dimension']}={row['group']} ({row['metric']})" for row in doc["insights"]
           if row["projects"] < max(policy.k, least[row["dimension"]])]
    return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.ERROR,
                            metadata={"rows_checked": len(doc["insights"]), "k": policy.k,
                                      "below_minimum": MetadataValue.json(bad[:20])})


@asset_check(asset=shared_insights, blocking=True,
             description="The release's (epsilon, delta) is accounted: the measurements' epsilons and deltas add "
                         "up to at most the budget, and each epsilon equals its declared sensitivity divided by its "
                         "noise scale.")
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
    delta = sum(c["delta"] for c in privacy["charges"])
    if delta > privacy["delta_budget"] * (1 + 1e-9):
        problems.append(f"delta spent {delta} > budget {privacy['delta_budget']}")
    if len(privacy["charges"]) != len(expected):
        problems.append(f"{len(privacy['charges'])} measurements, expected {len(expected)}")
    return AssetCheckResult(passed=not problems, metadata={"epsilon_spent": spent, "delta_spent": delta,
                                                           "epsilon_budget": privacy["epsilon_budget"],
                                                           "problems": MetadataValue.json(problems)})


SHARED_CHECKS = [release_respects_k, privacy_budget_accounted]
