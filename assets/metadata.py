"""Small helpers the asset modules share: the metadata assets show in the Dagster UI, and the inputs key a table's
Parquet footer records so that a step whose inputs did not change is not recomputed."""

from pathlib import PurePath

import polars as pl

from contracts.table_spec import TableSpec
from lake.store import Lake

# Footer key: a content hash of everything a table was computed from (data, recipe, CV plan, code).
INPUTS_KEY = "glioma.inputs"


def markdown_table(frame: pl.DataFrame, float_digits: int = 3) -> str:
    """A polars frame as a markdown table (floats rounded), for MetadataValue.md."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| "
        + " | ".join(f"{v:.{float_digits}f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row)
        + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])


def written_from(lake: Lake, table: TableSpec, release: str, key: str) -> PurePath | None:
    """The version of `table` this lake reads for `release` when its footer records these inputs, else None."""
    path = lake.resolve(table.layer, table.name, release)
    if path is not None and lake.footer_metadata(path).get(INPUTS_KEY) == key:
        return path
    return None
