"""`python -m learning_assets.tables`: rewrite the latest JSON Schema from the table specs."""

from learning_assets.tables import write_json_schema

print(write_json_schema())
