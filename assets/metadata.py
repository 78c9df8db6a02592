"""Small helpers for the metadata assets show in the Dagster UI."""

import polars as pl


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
