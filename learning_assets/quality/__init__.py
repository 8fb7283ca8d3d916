"""Data quality of an export: Pandera reports and the Great Expectations suites. Plain logic, no dagster.
"""
