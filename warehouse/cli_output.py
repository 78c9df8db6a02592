"""How the `glioma` command (warehouse.cli) writes a result: an aligned plain-text table, CSV, or JSON.

Values are made JSON-ready (`plain`: non-finite floats -> null, dates -> ISO text, decimals -> float); the
table right-aligns numeric columns, prints NULL for missing values and cuts long cells at `max_width`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO


def plain(value: Any) -> Any:
    """A JSON-ready value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = "NaN" if math.isnan(value) else f"{value:.6g}"
    elif isinstance(value, (datetime, date)):
        text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(plain(value), default=str)
    else:
        text = str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    if max_width and len(text) > max_width:
        text = text[: max(max_width - 1, 1)] + "…"
    return text


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, list, tuple, dict)):
        return _cell(value, 0)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """An aligned plain-text table: numbers right-aligned, NULL for missing, long cells cut at max_width."""
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]
    right = [_numeric([row[i] for row in rows]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def write_result(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, out: TextIO, *, max_width: int = 60
) -> None:
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(v) for v in row])
    elif fmt == "json":
        records = [{name: plain(value) for name, value in zip(columns, row, strict=True)} for row in rows]
        json.dump(records, out, indent=2, default=str, allow_nan=False)
        out.write("\n")
    else:
        out.write(format_table(columns, rows, max_width=max_width) + "\n")
