"""The imports baseline: start Python and import what `learning export` needs, then stop.

    python -m benchmarks.imports

The `learning` command, the code location (Dagster, pandas, Pandera, pyarrow) and Great Expectations:
the part of an export's time and memory that does not depend on the data.
"""

import warnings

warnings.filterwarnings("ignore")

import great_expectations  # noqa: E402, F401
import great_expectations.expectations  # noqa: E402, F401

import learning_assets.cli  # noqa: E402, F401
import learning_assets.defs.export.run  # noqa: E402, F401
