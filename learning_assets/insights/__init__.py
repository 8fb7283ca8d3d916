"""The receiving side of cross-project learning: intake of submission packages, pooled tables, and
differentially private shared insights (`package`, `pool`, `dp`, `release`); the Dagster assets live
in `learning_assets/defs/insights/assets.py`. `compare` is the project's side: its own metrics beside a
release, by the release's own SQL."""
