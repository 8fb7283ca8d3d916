"""Reading `.tapps-agents/` robustly: files, records, fields, and the Arrow path for flat JSON Lines.

Plain logic, no dagster; the table specs in `learning_assets/tables/` build their readers from it.
"""
