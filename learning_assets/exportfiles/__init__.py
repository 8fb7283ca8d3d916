"""The files of an export: Parquet tables, the JSON document and its versions, manifest, report, atomic
writes and the incremental (daily and snapshot) layout. Plain logic, no dagster.
"""
