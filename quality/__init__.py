"""Data quality: Great Expectations 1.x suites as code (`quality.suites`) and the runner the Dagster asset
checks call (`quality.runner.validate_table`). No Dagster. Nothing is imported here, so importing a submodule that does
not need Great Expectations (`quality.tables`, `quality.runner` until it validates) stays fast."""
