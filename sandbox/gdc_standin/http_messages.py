"""Requests and answers of the stand-in as plain values (sandbox.gdc_standin.server): the parameters of a
request, the `Response` an endpoint returns (bytes, a file range to stream, or a chunked writer), JSON, TSV
and error bodies.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class HttpError(Exception):
    """An application error answered as JSON `{"message": ...}` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int
    content_type: str = "application/json"
    body: bytes | None = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Streamed bodies: `file_length` bytes of a file from `file_offset` (whole file or one Range), or a
    # generator-writer for chunked transfer (tarballs).
    file_path: Path | None = None
    file_length: int = 0
    file_offset: int = 0
    chunked_writer: Callable[[Any], None] | None = None


# One reusable compact encoder; documents from JSON files cannot be circular, so skip that check.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def compact_json(payload: Any) -> str:
    return _ENCODER.encode(payload)


def json_response(payload: Any, status: int = 200, pretty: bool = False) -> Response:
    text = json.dumps(payload, indent=2) if pretty else compact_json(payload)
    return Response(status, "application/json", text.encode("utf-8"))


def error_response(status: int, message: str) -> Response:
    return json_response({"message": message}, status)


class Params:
    """Request parameters from the query string and the body (JSON or form), last value wins."""

    def __init__(self, query: dict[str, list[str]], body: dict[str, Any], raw_body: bytes = b"") -> None:
        self.raw_body = raw_body  # for bodies that are not parameters (a manifest posted to /files/versions/manifest)
        self.values: dict[str, Any] = {k: v[-1] for k, v in query.items()}
        self.multi: dict[str, list[Any]] = {k: list(v) for k, v in query.items()}
        for key, value in body.items():
            self.values[key] = value
            self.multi[key] = value if isinstance(value, list) else [value]

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def has(self, key: str) -> bool:
        return key in self.values

    def text(self, key: str, default: str = "") -> str:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def tsv_response(text: str, endpoint: str) -> Response:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return Response(
        200,
        "text/tab-separated-values; charset=utf-8",
        text.encode("utf-8"),
        {"Content-Disposition": f"attachment; filename={endpoint}.{stamp}.tsv"},
    )


def is_true(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def ids_from(path_parts: list[str], params: Params) -> list[str]:
    raw: list[Any] = []
    if path_parts:
        raw.append("/".join(path_parts))
    raw.extend(params.multi.get("ids", []))
    ids: list[str] = []
    for entry in raw:
        if isinstance(entry, list):
            entries = entry
        else:
            entries = [entry]
        for item in entries:
            if not isinstance(item, str):
                raise HttpError(400, f"ids must be strings, got {item!r}")
            ids.extend(s.strip() for s in item.split(",") if s.strip())
    return ids
