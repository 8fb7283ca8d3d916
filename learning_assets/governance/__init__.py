"""Consent, the audit trail and submission packages: who agreed to what leaving the machine, and when.

Plain logic, no dagster.
"""
