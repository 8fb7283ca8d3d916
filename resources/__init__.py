"""Dagster resources: where the learning data comes from, where exports go, and the anonymization key."""

from resources.anonymization import Anonymization
from resources.export_store import ExportStore
from resources.governance import Governance
from resources.io_manager import TableIOManager
from resources.source import SourceDirectory

__all__ = ["Anonymization", "ExportStore", "Governance", "SourceDirectory", "TableIOManager"]
