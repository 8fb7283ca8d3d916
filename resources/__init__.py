"""Dagster resources: where the learning data comes from, where exports go, the anonymization key, the
consent and audit trail, and the receiving side's inbox and store."""

from resources.anonymization import Anonymization
from resources.export_store import ExportStore
from resources.governance import Governance
from resources.io_manager import TableIOManager
from resources.shared_insights import InsightsStore, SubmissionInbox
from resources.source import SourceDirectory

__all__ = ["Anonymization", "ExportStore", "Governance", "InsightsStore", "SourceDirectory", "SubmissionInbox",
           "TableIOManager"]
