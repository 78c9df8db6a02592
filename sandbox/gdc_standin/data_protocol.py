"""What NCI's gdc-client (and other download clients) need from `/data` and `/files/versions`.

GDC_API_FACTS.md section 1.7 "Download endpoints" is the source for every behaviour here:
* "`GET /data/<uuid>` also sends **`Content-MD5`** (the file's md5, hex) ... and honours **`Range: bytes=a-b`**
  with `206 Partial Content`, `Content-Range: bytes a-b/<total>`" -> `parse_range`, `single_file_headers`;
* "NCI's gdc-client calls **`POST /files/versions` with `{"ids": [...]}`** ... the answer is the bare list above,
  one entry per known id (`latest_id` = `id` when current)" -> `version_entry`.

Range semantics beyond what the facts state follow RFC 9110 section 14 (the facts only require `bytes=a-b`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JsonDoc = dict[str, Any]

_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")
_RELEASE_KEY = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True)
class ByteRange:
    """One satisfiable byte range, `end` inclusive (as in `Content-Range: bytes start-end/total`)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end}/{total}"


class RangeNotSatisfiable(Exception):
    """The Range header is valid but selects no byte of the file: 416 with `Content-Range: bytes */total`."""

    def __init__(self, header: str, total: int) -> None:
        super().__init__(f"Range {header!r} is not satisfiable for a file of {total} bytes")
        self.total = total


def parse_range(header: str | None, total: int) -> ByteRange | None:
    """The byte range a `Range` header asks for; None = answer 200 with the whole file.

    * `bytes=a-b` (b clamped to the last byte), `bytes=a-`, suffix `bytes=-n` (the last n bytes) -> a range;
    * a unit other than `bytes`, or a syntactically invalid set (`bytes=5-2`, `bytes=x`) -> None: RFC 9110
      14.2 says a server MUST ignore a Range it cannot parse;
    * several ranges (`bytes=0-1,5-9`) -> None: the whole file with 200, which RFC 9110 14.2 permits
      (a server MAY ignore Range); multipart/byteranges is not produced — no GDC client asks for it;
    * valid but unsatisfiable (`a >= total`, `bytes=-0`, any range of an empty file) -> `RangeNotSatisfiable`.
    """
    if header is None or not header.strip():
        return None
    unit, sep, spec_set = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec_set.split(",") if s.strip()]
    if len(specs) != 1:
        return None  # several ranges (or none at all): served whole, see the docstring
    match = _RANGE_SPEC.match(specs[0])
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # suffix range: the last n bytes
        suffix = int(last)
        if suffix == 0 or total == 0:
            raise RangeNotSatisfiable(header, total)
        return ByteRange(max(0, total - suffix), total - 1)
    start = int(first)
    end = int(last) if last else total - 1
    if last and end < start:
        return None  # invalid range-spec: ignored, not 416
    if start >= total:
        raise RangeNotSatisfiable(header, total)
    return ByteRange(start, min(end, total - 1))


def release_sort_key(label: str) -> tuple[Any, ...]:
    """`9.0` < `10.1` < `45.0` < `46.0`; labels without `N.M` sort after numbered ones, by text."""
    match = _RELEASE_KEY.match(label)
    if match is None:
        return (1, 0, 0, label)
    return (0, int(match.group(1)), int(match.group(2)), label)


def version_entry(doc: JsonDoc, releases: list[str]) -> JsonDoc:
    """One `/files/versions` entry for a file that is the current version of itself.

    Keys as in GDC_API_FACTS.md 1.7 and the documented example: `id, filename, version, md5, size, state,
    release, latest_id, latest_filename, latest_version, latest_md5, latest_size, latest_state,
    latest_release` (the docs' example for a current file carries `latest_md5`; the entry of a superseded
    one does not). Bundles hold no version history, so every served file is its own latest version:
    `latest_* == *`. `releases` are the bundle releases carrying this file (oldest first); `release` is
    the first of them — the release this version appeared in, as far as the bundle can tell.
    """
    file_id = doc.get("file_id") or doc.get("id")
    state = doc.get("state", "released")
    version = doc.get("version")
    return {
        "id": file_id,
        "filename": doc.get("file_name"),
        "version": version,
        "md5": doc.get("md5sum"),
        "size": doc.get("file_size"),
        "state": state,
        "release": releases[0] if releases else None,
        "latest_id": file_id,
        "latest_filename": doc.get("file_name"),
        "latest_version": version,
        "latest_md5": doc.get("md5sum"),
        "latest_size": doc.get("file_size"),
        "latest_state": state,
        "latest_release": list(releases),
    }


def manifest_ids(text: str) -> list[str]:
    """File ids from a download manifest (`id<TAB>filename<TAB>md5<TAB>size<TAB>state`, header first)."""
    ids: list[str] = []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ids
    header = lines[0].split("\t")
    column = header.index("id") if "id" in header else None
    body = lines[1:] if column is not None else lines
    for line in body:
        cells = line.split("\t")
        value = cells[column or 0].strip()
        if value:
            ids.append(value)
    return ids
