"""The export's JSON document (schema 1.x shape) and its metadata block."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from learning_assets import __version__
from learning_assets.privacy.vocabulary import PRIVACY_NOTICE

SCHEMA_VERSION = "1.1"
EXPORT_VERSION = "1.1"
# Columns that hold a JSON object as text; decoded in the JSON document.
JSON_COLUMNS = ("metadata", "context", "initial_scores", "final_scores")


def export_metadata(project_pseudonym: str, framework_version: str, k: int,
                    now: datetime | None = None) -> dict:
    return {
        "export_timestamp": (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat(),
        "framework_version": framework_version,
        "exporter_version": __version__,
        "export_version": EXPORT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "project_hash": project_pseudonym,
        "anonymization_applied": True,
        "k_anonymity": k,
        "privacy_notice": PRIVACY_NOTICE,
    }


def _records(df: pd.DataFrame, limit: int | None = None) -> list[dict]:
    """JSON-safe records: days as YYYY-MM-DD, JSON-string columns decoded, missing values as null."""
    if limit is not None:
        df = df.head(limit)
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    records = json.loads(out.to_json(orient="records", date_format="iso"))
    json_columns = [c for c in JSON_COLUMNS if c in df.columns and df[c].astype(str).str.startswith("{").all()]
    for rec in records:
        for key in json_columns:
            rec[key] = json.loads(rec[key])
    return records


def _rate(series: pd.Series) -> float | None:
    s = series.dropna()
    return None if s.empty else round(float(s.astype(float).mean()), 4)


def _mean(series: pd.Series) -> float | None:
    s = series.dropna()
    return None if s.empty else round(float(s.mean()), 4)


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}


def _per_day(df: pd.DataFrame, key: str) -> list[dict]:
    """Executions, success rate and mean duration per day and `key` (timestamps are already days)."""
    if df.empty:
        return []
    agg = (df.assign(success=df["success"].astype("Float64"))
           .groupby(["timestamp", key], dropna=False, sort=True)
           .agg(executions=("duration", "size"), success_rate=("success", "mean"),
                average_duration=("duration", "mean"))
           .reset_index())
    agg.insert(0, "date", agg.pop("timestamp").dt.strftime("%Y-%m-%d"))
    agg[["success_rate", "average_duration"]] = agg[["success_rate", "average_duration"]].astype(float).round(4)
    return json.loads(agg.to_json(orient="records"))


def build_document(tables: dict[str, pd.DataFrame], metadata: dict, report: dict) -> dict:
    """The JSON document: the framework's four sections (schema 1.0 shape), filled from our tables."""
    caps, refs = tables["capabilities"], tables["capability_refinements"]
    pats, mems = tables["patterns"], tables["task_memories"]
    outcomes = tables["code_outcomes"]
    agents, workflows = tables["agent_executions"], tables["workflow_executions"]
    experts, confidence = tables["expert_performance"], tables["confidence_metrics"]
    feedback, steps, prompts = tables["feedback"], tables["step_executions"], tables["learned_prompts"]
    return {
        "export_metadata": metadata,
        "capability_metrics": {
            "total_capabilities": int(len(caps)),
            "average_success_rate": _rate(caps["success_rate"]),
            "average_quality_score": _mean(caps["quality_score"]),
            "capabilities": _records(caps),
        },
        "pattern_statistics": {
            "total_patterns": int(len(pats)),
            "patterns_by_type": _counts(pats["pattern_type"]),
            "anti_patterns": int(pats["is_anti_pattern"].fillna(False).sum()),
            "average_quality_score": _mean(pats["quality_score"]),
            "average_success_rate": _rate(pats["success_rate"]),
            "top_patterns": _records(pats.sort_values(["usage_count", "pattern_id"], ascending=[False, True],
                                                      na_position="last"), limit=100),
        },
        "learning_effectiveness": {
            "total_refinements": int(len(refs)),
            "refinements_by_type": {
                str(t): {"count": int(len(g)), "average_improvement_percent": _mean(g["improvement_percent"])}
                for t, g in refs.groupby("improvement_type")},
            "task_outcomes": _counts(mems["outcome"]),
            "average_task_quality": _mean(mems["quality_score"]),
            "code_outcomes": {
                "total": int(len(outcomes)),
                "first_pass_success_rate": _rate(outcomes["first_pass_success"]),
                "average_iterations": _mean(outcomes["iterations"]),
                "average_time_to_correctness": _mean(outcomes["time_to_correctness"]),
            },
            "feedback": {
                "total": int(len(feedback)),
                "acceptance_rate": _rate(feedback["accepted"]),
                "average_quality_score": _mean(feedback["quality_score"]),
            },
            "learned_prompts": {
                "total": int(len(prompts)),
                "by_type": _counts(prompts["prompt_type"]),
            },
        },
        "analytics_data": {
            "agent_executions": int(len(agents)),
            "workflow_executions": int(len(workflows)),
            "agents_per_day": _per_day(agents, "agent_id"),
            "workflows_per_day": _per_day(workflows, "workflow_name"),
            "expert_consultations": {
                str(d): {"count": int(len(g)), "average_confidence": _mean(g["confidence"])}
                for d, g in experts.groupby("domain")},
            "confidence": {"total": int(len(confidence)),
                           "meets_threshold_rate": _rate(confidence["meets_threshold"])},
            "step_executions": {"total": int(len(steps)), "by_status": _counts(steps["status"])},
        },
        "anonymization_report": report,
    }
