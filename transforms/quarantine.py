"""The quarantine record: one row per rejected raw record, with the reason. Shared by every layer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from contracts.schemas import QUARANTINE_SCHEMA

# A rejected value can be anything GDC sent, a megabyte included. The whole document stays in `record` (stored
# once per quarantine row); `value` and the `detail` sentence carry at most this many characters of it.
MAX_VALUE_CHARS = 500


def truncated_text(column: str, limit: int = MAX_VALUE_CHARS) -> pl.Expr:
    """`column` cut to `limit` characters, saying how long it was and where the whole value is."""
    text = pl.col(column)
    return (
        pl.when(text.str.len_chars() > limit)
        .then(
            pl.format(
                "{}… [{} characters in all; the whole document is in `record`]",
                text.str.slice(0, limit),
                text.str.len_chars(),
            )
        )
        .otherwise(text)
        .alias(column)
    )


def quarantine_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a quarantine table from dict rows (missing keys become null; non-str values are JSON-encoded)."""
    normalised = []
    for row in rows:
        out = {}
        for column in QUARANTINE_SCHEMA:
            value = row.get(column)
            if value is not None and not isinstance(value, str):
                value = json.dumps(value, sort_keys=True, default=str)
            out[column] = value
        normalised.append(out)
    return pl.DataFrame(normalised, schema=QUARANTINE_SCHEMA)


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)
