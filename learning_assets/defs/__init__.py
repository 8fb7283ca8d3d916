"""The Dagster definitions, one folder per area: `export`, `incremental`, `insights`, `dashboard`.

Each area keeps its assets, checks, jobs, schedules and sensors together and exposes them in its
`definitions.py`; `learning_assets/definitions.py` merges the areas and binds the resources.
"""
