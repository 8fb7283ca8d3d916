"""Group `shared_insights`: the receiving side, where submissions from many projects become shared insights.

    inbox/*.tar.gz --learning_submission_sensor--> one dynamic partition per submission
      submission_intake  (verify the package, stage its tables)       partitioned by submission
      pooled_submission  (replace the project's rows in the pooled tables)
    inbox/learning-withdrawal-*.json --the same sensor--> one dynamic partition per request
      submission_withdrawal (verify the request, erase the project)   partitioned by request
    pool_retention       (erase projects received longer ago than the store's retention_days)
    shared_insights      (differentially private release over all pooled projects; checks: k, budget)
      best_practices     (ranked rules, JSON for agents: <store>/best_practices.json)

Releases are not triggered by the sensor: every release spends privacy budget, so they are run
deliberately (`shared_insights_job`), and the privacy ledger sums what all releases spent.
"""


import json

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from learning_assets.exportfiles.atomic import new_export_id, write_atomic
from learning_assets.insights.erasure import purge_expired, withdraw
from learning_assets.insights.intake import commit, receive
from learning_assets.insights.ledger import Budget, BudgetExceeded, LedgerError
from learning_assets.insights.release import Policy, build_release
from resources.shared_insights import InsightsStore, SubmissionInbox

SHARED_GROUP = "shared_insights"
SUBMISSIONS = DynamicPartitionsDefinition(name="learning_submissions")
WITHDRAWALS = DynamicPartitionsDefinition(name="learning_withdrawals")
RELEASES = "releases"


def _verdict_metadata(verdict: dict) -> dict:
    meta = {"status": verdict.get("status", "rejected"), "submission": verdict.get("submission", "")}
    for key in ("code", "reason", "file", "project", "export_id", "export_created_at", "schema_version",
                "migrated_from", "replaced", "superseded_by", "erased_rows"):
        if verdict.get(key) is not None:
            meta[key] = str(verdict[key])
    if verdict.get("rows"):
        meta["rows"] = MetadataValue.json(verdict["rows"])
        meta["dagster/row_count"] = int(sum(verdict["rows"].values()))
    if verdict.get("warnings"):
        meta["warnings"] = MetadataValue.json(verdict["warnings"])
    return meta


def _decided(context: AssetExecutionContext, verdict: dict, what: str, refused: str) -> MaterializeResult:
    """A partition's verdict as the asset's metadata, with a warning when it was refused."""
    if verdict["status"] == "rejected":
        context.log.warning(f"{what} {context.partition_key} {refused}: {verdict['code']}: {verdict['reason']}")
    return MaterializeResult(metadata=_verdict_metadata(verdict))


@asset(group_name=SHARED_GROUP, partitions_def=SUBMISSIONS,
       description="One received submission package, verified: safe unpacking (size limits, tarfile data "
                   "filter), checksums, manifest, JSON Schema version (1.0 migrated to 1.1), a clean "
                   "anonymization report, a leak rescan and every table against its schema. A bad package "
                   "is recorded as rejected (metadata `status`/`code`/`reason`, rejections.jsonl), not raised.")
def submission_intake(context: AssetExecutionContext, inbox: SubmissionInbox,
                      insights_store: InsightsStore) -> MaterializeResult:
    return _decided(context, receive(context.partition_key, inbox, insights_store), "submission", "rejected")


@asset(group_name=SHARED_GROUP, partitions_def=SUBMISSIONS, deps=[submission_intake],
       description="The submission's rows in the pooled cross-project tables (pooled/<table>/project=<p>/). "
                   "A newer export of the same project replaces that project's rows; the same export again or "
                   "an older one is rejected.")
def pooled_submission(context: AssetExecutionContext, insights_store: InsightsStore) -> MaterializeResult:
    return _decided(context, commit(context.partition_key, insights_store), "submission", "not pooled")


@asset(group_name=SHARED_GROUP, partitions_def=WITHDRAWALS,
       description="One withdrawal request (`learning withdraw`), verified: its secret must hash, with the "
                   "project it names, to the withdrawal commitment of that project's pooled submission. Then "
                   "the project's pooled rows and received packages are deleted and the erasure is logged to "
                   "erasures.jsonl without any data. A request that proves nothing is recorded as rejected and "
                   "changes nothing.")
def submission_withdrawal(context: AssetExecutionContext, inbox: SubmissionInbox,
                          insights_store: InsightsStore) -> MaterializeResult:
    return _decided(context, withdraw(context.partition_key, inbox, insights_store), "withdrawal", "refused")


@asset(group_name=SHARED_GROUP, deps=[pooled_submission],
       description="Storage limitation: every project whose pooled submission was received more than the "
                   "store's retention_days ago (by the receiver's clock, recorded at intake) is erased from the "
                   "pool like a withdrawal (logged to erasures.jsonl as expired). Runs before every release.")
def pool_retention(context: AssetExecutionContext, insights_store: InsightsStore) -> MaterializeResult:
    expired = purge_expired(insights_store)
    return MaterializeResult(metadata={"retention_days": insights_store.retention_days,
                                       "projects_expired": len(expired)})


class SharedInsightsConfig(Config):
    epsilon: float = Field(default=4.0, gt=0, description="Privacy budget of this release (privacy unit: one "
                                                          "project).")
    delta: float = Field(default=1e-6, gt=0, lt=1, description="The release's delta: the probability bound for "
                                                              "groups chosen from the data (failure reasons, "
                                                              "custom capability types).")
    k: int = Field(default=5, ge=2, description="Publish a group only if its noisy count is at least k.")
    min_support_sds: float = Field(default=2.0, ge=0, description="... and at least this many noise standard "
                                                                  "deviations of that count.")
    max_groups: int = Field(default=8, ge=1, description="Groups of each dimension (capability types, agents, "
                                                         "steps ...) one project contributes to.")
    max_failure_reasons: int = Field(default=3, ge=1, description="Failure reasons one project contributes.")
    duration_cap_seconds: float = Field(default=300.0, gt=0, description="Agent and step durations are clipped "
                                                                        "to this.")
    workflow_duration_cap_seconds: float = Field(default=3600.0, gt=0, description="Workflow durations are "
                                                                                  "clipped to this.")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    top_rules: int = Field(default=10, ge=1, description="Rows in the best-practice table.")

    def policy(self) -> Policy:
        return Policy(**self.model_dump())  # the fields are Policy's, one for one


def latest_release(store: InsightsStore) -> tuple[str, dict] | None:
    pointer = store.root() / RELEASES / "LATEST"
    if not pointer.is_file():
        return None
    release_id = pointer.read_text().strip()
    doc = store.read_json(store.root() / RELEASES / release_id / "insights.json")
    return (release_id, doc) if doc else None


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    return pd.DataFrame(rows)[columns].to_markdown(index=False)


@asset(group_name=SHARED_GROUP, deps=[pooled_submission, submission_withdrawal, pool_retention],
       description="Differentially private insights over every pooled project: per capability type, pattern "
                   "type, agent, step and workflow success, quality and duration; refinement effectiveness; "
                   "task outcome shares; failure reasons many projects share. Laplace noise and DP group selection from OpenDP, "
                   "a per-release (epsilon, delta), reserved in privacy_ledger.jsonl under the instance's lifetime "
                   "cap before it is computed.")
def shared_insights(context: AssetExecutionContext, config: SharedInsightsConfig,
                    insights_store: InsightsStore) -> MaterializeResult:
    policy = config.policy()
    root = insights_store.root()
    release_id = new_export_id()
    try:
        # intake waits while DuckDB reads the pooled Parquet; the ledger's lock spans reserve to commit
        with insights_store.lock(), insights_store.ledger().spend(
                release_id, Budget(policy.epsilon, policy.delta), insights_store.lifetime_cap()) as reservation:
            release = build_release(root, policy, release_id=release_id, engine=insights_store.engine())
            doc = release.document
            doc["privacy"]["policy"] = config.model_dump()
            doc["privacy"]["lifetime_epsilon"] = reservation.lifetime.epsilon
            doc["privacy"]["lifetime_delta"] = reservation.lifetime.delta
            out = insights_store.dir(RELEASES, release_id)
            write_atomic(out / "insights.json", json.dumps(doc, indent=1).encode())
            write_atomic(out / "best_practices.json", json.dumps(release.rules, indent=1).encode())
            write_atomic(root / RELEASES / "LATEST", f"{release_id}\n".encode())
            reservation.spent = Budget(release.accountant.spent, release.accountant.delta_spent)
    except (LedgerError, BudgetExceeded) as exc:
        raise Failure(f"no release: {exc}") from None
    charges = [{**c, "epsilon": round(c["epsilon"], 6), "scale": round(c["scale"], 4),
                "noise_sd": round(c["noise_sd"], 4)} for c in doc["privacy"]["charges"]]
    return MaterializeResult(metadata={
        "release_id": release_id,
        "path": MetadataValue.path(str(out / "insights.json")),
        "rows_published": len(doc["insights"]),
        "epsilon_budget": policy.epsilon,
        "epsilon_spent": release.accountant.spent,
        "delta_spent": release.accountant.delta_spent,
        "lifetime_epsilon": reservation.lifetime.epsilon,
        "lifetime_delta": reservation.lifetime.delta,
        "privacy_unit": "project (add/remove; replacing one project costs 2 x epsilon and 2 x delta)",
        "privacy_accounting": MetadataValue.md(_table(charges, ["slot", "kind", "groups", "sensitivity", "weight",
                                                                "epsilon", "scale", "noise_sd", "delta",
                                                                "threshold"])),
        "insights": MetadataValue.md(_table(doc["insights"], ["dimension", "group", "metric", "projects", "value",
                                                              "ci_low", "ci_high"])),
    })


@asset(group_name=SHARED_GROUP, deps=[shared_insights],
       description="The ranked best-practice rules of the latest release (what goes with higher success, with "
                   "the number of projects and a confidence interval), published as <store>/best_practices.json "
                   "for agents to read.")
def best_practices(context: AssetExecutionContext, insights_store: InsightsStore) -> MaterializeResult:
    found = latest_release(insights_store)
    if found is None:
        raise Failure("no shared insights release to publish rules from")
    release_id, _ = found
    rules_path = insights_store.root() / RELEASES / release_id / "best_practices.json"
    data = rules_path.read_bytes()
    final = insights_store.root() / "best_practices.json"
    write_atomic(final, data)
    rules = json.loads(data)["rules"]
    return MaterializeResult(metadata={
        "release_id": release_id, "path": MetadataValue.path(str(final)), "rules": len(rules),
        "supported": sum(1 for r in rules if r["supported"]),
        "table": MetadataValue.md(_table(rules, ["rank", "dimension", "group", "metric", "effect", "ci_low",
                                                 "ci_high", "projects", "supported"])),
    })


SHARED_ASSETS = [submission_intake, pooled_submission, submission_withdrawal, pool_retention, shared_insights,
                 best_practices]
