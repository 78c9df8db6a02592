"""Reading a GDC release bundle (layout: GDC_BUNDLE.md): indexed once per release, documents parsed on demand.

A bundle root is either `<root>/CURRENT` + `<root>/releases/<label>/`, or a single release directory
(one holding `status.json`).

Memory is what bounds the stand-in: a 100,000-case release is ~1.3 GB of JSONL and several GB as Python
dicts. So no document is kept. The first request that needs an endpoint reads its file once, validating
every line (BundleError names file and line), and keeps a compact index: byte offset, length and id hash
per line, ~24 bytes per document. A page, a single entity or a download parses its documents from the
file again. A search's result (`ReleaseStore.matching`) is an array of row numbers in served order,
computed in one streaming pass that evaluates the filter and keeps only the sort keys of the matches.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import re
import threading
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sandbox.gdc_standin.filters import JsonDoc, canonical_json, compile_filter
from sandbox.gdc_standin.hit_cache import HitCache
from sandbox.gdc_standin.query import FacetCounts, SortColumns, SortKey

# Endpoint -> (bundle file, the document's own id field). Projects are derived from the cases.
DOC_ENDPOINTS: dict[str, tuple[str, str]] = {
    "cases": ("cases.jsonl", "case_id"),
    "files": ("files.jsonl", "file_id"),
    "ssm_occurrences": ("ssm_occurrences.jsonl", "ssm_occurrence_id"),
    "cnv_occurrences": ("cnv_occurrences.jsonl", "cnv_occurrence_id"),
}
SEARCH_ENDPOINTS = (*DOC_ENDPOINTS, "projects")

# Used only when the case documents do not carry the project's name.
KNOWN_PROJECT_NAMES = {"TCGA-GBM": "Glioblastoma Multiforme", "TCGA-LGG": "Brain Lower Grade Glioma"}

# Defaults of the per-store caches. Query results are int32 row arrays (4 bytes per match); the hit
# cache holds compressed serialised hits (~1/6 of their JSON: ~220 MB for a 100k-case release's ingest).
# With the indexes (~45 MB per such release) a stand-in serving two of them stays well under 1 GB.
QUERY_CACHE_BYTES = 128 * 1024 * 1024
HIT_CACHE_BYTES = 384 * 1024 * 1024

Visitor = Callable[[int, JsonDoc], None]

# Ids are indexed by their str hash: 8 bytes each, stable within the process (which is all the index
# needs), and every hit is confirmed against the document's own id, so collisions are harmless.
_id_hash: Callable[[str], int] = hash


class BundleError(RuntimeError):
    """The bundle on disk does not follow GDC_BUNDLE.md; the message names the file and line."""


class UnknownReleaseError(LookupError):
    pass


class DocumentSource(Protocol):
    """One endpoint's documents of one release, addressed by row (bundle order, blank lines skipped)."""

    def __len__(self) -> int: ...

    def doc(self, row: int) -> JsonDoc: ...

    def docs(self, rows: Iterable[int]) -> Iterator[JsonDoc]: ...

    def get(self, doc_id: str) -> JsonDoc | None: ...

    def scan(self, visit: Visitor) -> None:
        """`visit(row, doc)` for every document, in bundle order (a sequential read, not one per row)."""


_DECODER = json.JSONDecoder()
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def pause_cyclic_gc() -> Iterator[None]:
    """No cyclic GC while documents are parsed in bulk (nestable, across threads).

    Parsed documents hold no cycles and are freed by reference counting as soon as they are done with,
    but each collection would still re-traverse every young container of the parse (~15% of a pass).
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def parse_line(line: bytes) -> Any:
    """`json.loads(line)`, minus its per-call overhead (encoding detection, whitespace regexes) on UTF-8 lines.

    Every document is parsed again whenever it is served, so this is on the hot path. Anything unusual (a
    BOM, other encodings, leading or trailing garbage, invalid JSON) goes to `json.loads` itself, so the
    result and the error message are exactly json.loads's.
    """
    try:
        text = line.decode("utf-8")
        value, end = _DECODER.raw_decode(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return json.loads(line)
    if end != len(text) and not text[end:].isspace():
        return json.loads(line)
    return value


def _doc_id(doc: Any, id_field: str) -> Any:
    return (doc.get("id") or doc.get(id_field)) if isinstance(doc, dict) else None


class InMemoryDocs:
    """A few documents held as dicts: the derived projects, and endpoints whose file is absent."""

    def __init__(self, docs: list[JsonDoc], id_field: str) -> None:
        self._docs = docs
        self._by_id = {_doc_id(d, id_field): d for d in docs}

    def __len__(self) -> int:
        return len(self._docs)

    def doc(self, row: int) -> JsonDoc:
        return self._docs[row]

    def docs(self, rows: Iterable[int]) -> Iterator[JsonDoc]:
        return (self._docs[row] for row in rows)

    def get(self, doc_id: str) -> JsonDoc | None:
        return self._by_id.get(doc_id)

    def scan(self, visit: Visitor) -> None:
        for row, doc in enumerate(self._docs):
            visit(row, doc)


class JsonlDocs:
    """One endpoint's JSONL file: where each document's line is, and its id's hash; no document is kept.

    Ids are looked up by their hash in a sorted int64 array and confirmed against the parsed document, so
    a hash collision costs a parse, never a wrong answer. Lines are read with `os.pread` on a descriptor
    opened at indexing time (not mmap: mapped pages would count as the process's resident memory).
    """

    def __init__(
        self,
        path: Path,
        id_field: str,
        fd: int,
        starts: np.ndarray,
        lengths: np.ndarray,
        hashes: np.ndarray,
        hash_order: np.ndarray,
    ) -> None:
        self.path = path
        self.id_field = id_field
        self._fd = fd
        self._starts = starts
        self._lengths = lengths
        self._sorted_hashes = hashes[hash_order]
        self._hash_rows = hash_order.astype(np.int32)
        self._identity = _identity(os.fstat(fd))
        weakref.finalize(self, os.close, fd)

    @classmethod
    def build(cls, path: Path, id_field: str, visit: Visitor | None = None) -> JsonlDocs:
        """Index the file in one pass, validating every line; `visit(row, doc)` sees each document meanwhile.

        Errors are raised for the first bad line in file order, as a reader keeping every line would:
        a duplicate id is only known once the ids are sorted, so it is looked for before raising another
        error, and at the end.
        """
        starts, lengths, hashes = array("q"), array("q"), array("q")
        with path.open("rb") as handle, pause_cyclic_gc():
            fd = os.dup(handle.fileno())  # used with pread only, so sharing the file offset is harmless
            try:
                offset = 0
                for line_number, line in enumerate(handle, start=1):
                    start = offset
                    offset += len(line)
                    if line.isspace():
                        continue
                    try:
                        doc = parse_line(line)
                    except json.JSONDecodeError as exc:
                        _raise_duplicate(path, id_field, fd, starts, lengths, hashes)
                        raise BundleError(f"{path} line {line_number}: invalid JSON ({exc.msg})") from exc
                    doc_id = _doc_id(doc, id_field)
                    if not isinstance(doc_id, str):
                        _raise_duplicate(path, id_field, fd, starts, lengths, hashes)
                        raise BundleError(f"{path} line {line_number}: document without 'id' or {id_field!r}")
                    row = len(starts)
                    starts.append(start)
                    lengths.append(len(line))
                    hashes.append(_id_hash(doc_id))
                    if visit is not None:
                        visit(row, doc)
                order = _raise_duplicate(path, id_field, fd, starts, lengths, hashes)
                return cls(path, id_field, fd, _int64(starts), _int64(lengths), _int64(hashes), order)
            except BaseException:
                os.close(fd)
                raise

    def __len__(self) -> int:
        return len(self._starts)

    def doc(self, row: int) -> JsonDoc:
        return next(self.docs([row]))

    def docs(self, rows: Iterable[int]) -> Iterator[JsonDoc]:
        selected = np.asarray(rows if isinstance(rows, np.ndarray) else list(rows), dtype=np.intp)
        fd = self._fd
        for start, length in zip(self._starts[selected].tolist(), self._lengths[selected].tolist(), strict=True):
            try:
                doc: JsonDoc = parse_line(os.pread(fd, length, start))
            except json.JSONDecodeError as exc:
                raise self._changed() from exc
            yield doc

    def get(self, doc_id: str) -> JsonDoc | None:
        key = _id_hash(doc_id)
        first = int(np.searchsorted(self._sorted_hashes, key, side="left"))
        last = int(np.searchsorted(self._sorted_hashes, key, side="right"))
        for position in range(first, last):
            doc = self.doc(int(self._hash_rows[position]))
            if _doc_id(doc, self.id_field) == doc_id:
                return doc
        return None

    def scan(self, visit: Visitor) -> None:
        with self.path.open("rb") as handle, pause_cyclic_gc():  # buffered lines: far faster than pread per row
            if _identity(os.fstat(handle.fileno())) != self._identity:
                raise self._changed()
            row = 0
            for line in handle:
                if line.isspace():
                    continue
                try:
                    doc = parse_line(line)
                except json.JSONDecodeError as exc:
                    raise self._changed() from exc
                visit(row, doc)
                row += 1
        if row != len(self):
            raise self._changed()

    def _changed(self) -> BundleError:
        return BundleError(
            f"{self.path} changed on disk after the stand-in indexed it; "
            "a served release must not be rewritten (publish a new release instead)"
        )


def _int64(values: array) -> np.ndarray:
    return np.frombuffer(values, np.int64).copy()  # a copy: no growth slack of the array kept


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _raise_duplicate(
    path: Path, id_field: str, fd: int, starts: Sequence[int], lengths: Sequence[int], hashes: array
) -> np.ndarray:
    """The rows in id-hash order; raises BundleError for the first line (in file order) repeating an id."""
    hash_array = np.frombuffer(hashes, np.int64)
    order = np.argsort(hash_array, kind="stable")  # equal hashes stay in row order
    ordered = hash_array[order]
    tied = np.flatnonzero(ordered[1:] == ordered[:-1])
    first_duplicate: tuple[int, str] | None = None
    index = 0
    while index < len(tied):  # runs of equal hashes: true duplicates, or (rarely) a hash collision
        begin = end = int(tied[index])
        while index < len(tied) and int(tied[index]) == end:
            index += 1
            end += 1
        seen: set[str] = set()
        for row in sorted(int(r) for r in order[begin : end + 1]):
            doc_id = _doc_id(json.loads(os.pread(fd, lengths[row], starts[row])), id_field)
            if doc_id in seen:
                if first_duplicate is None or row < first_duplicate[0]:
                    first_duplicate = (row, doc_id)
                break
            seen.add(doc_id)
    if first_duplicate is not None:
        row, doc_id = first_duplicate
        line_number = _line_number(fd, starts[row])
        raise BundleError(f"{path} line {line_number}: duplicate id {doc_id}")
    return order


def _line_number(fd: int, offset: int) -> int:
    """1-based line number of the line starting at byte `offset` (error messages only)."""
    newlines, position = 0, 0
    while position < offset:
        block = os.pread(fd, min(1 << 20, offset - position), position)
        if not block:
            break
        newlines += block.count(b"\n")
        position += len(block)
    return newlines + 1


class Release:
    """One release directory; each endpoint is indexed once, on first use (see the module docstring)."""

    _serials = itertools.count(1)

    def __init__(self, label: str, directory: Path) -> None:
        self.label = label
        self.directory = directory
        # Identifies this reading of the release in cache keys: a label evicted and read again is new.
        self.serial = next(Release._serials)
        self._locks = {name: threading.Lock() for name in SEARCH_ENDPOINTS}  # one file indexed at a time
        self._sources: dict[str, DocumentSource] = {}
        self._status: JsonDoc | None = None
        self._generated: GeneratedFiles | None = None

    @property
    def status(self) -> JsonDoc:
        if self._status is None:
            path = self.directory / "status.json"
            try:
                self._status = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise BundleError(f"cannot read {path}: {exc}") from exc
        return self._status

    def data_path(self, file_id: str) -> Path:
        return self.directory / "data" / file_id

    def generated_data(self, file_id: str) -> bytes | None:
        """The bytes of a file the bundle does not store but can generate (synthetic expression files written with
        `expression_on_demand`: sandbox.synthetic.expression), or None."""
        if self._generated is None:
            self._generated = GeneratedFiles(self.directory)
        return self._generated.get(file_id)

    def source(self, name: str) -> DocumentSource:
        """The endpoint's documents (indexing the file on first use)."""
        loaded = self._sources.get(name)
        return loaded if loaded is not None else self._load(name, None)

    def scan(self, name: str, visit: Visitor) -> None:
        """`visit(row, doc)` for every document of the endpoint; on first use this pass also indexes it."""
        loaded = self._sources.get(name)
        if loaded is None:
            self._load(name, visit)
        else:
            loaded.scan(visit)

    def _load(self, name: str, visit: Visitor | None) -> DocumentSource:
        with self._locks[name]:  # concurrent first requests read the file once
            loaded = self._sources.get(name)
            if loaded is None:
                if name == "projects":
                    loaded = self._derive_projects()
                    if visit is not None:
                        loaded.scan(visit)
                else:
                    file_name, id_field = DOC_ENDPOINTS[name]
                    path = self.directory / file_name
                    if path.exists():
                        loaded = JsonlDocs.build(path, id_field, visit)
                    else:  # an optional file: the endpoint has no hits in this release
                        loaded = InMemoryDocs([], id_field)
                self._sources[name] = loaded
                return loaded
        if visit is not None:  # another request indexed it meanwhile
            loaded.scan(visit)
        return loaded

    def _derive_projects(self) -> InMemoryDocs:
        """Project documents from the cases (and files): id, name, program, primary_site, disease_type, summary."""
        projects: dict[str, JsonDoc] = {}
        site_sets: dict[str, list[str]] = {}
        disease_sets: dict[str, list[str]] = {}

        def add_case(_row: int, case: JsonDoc) -> None:
            project = case.get("project") or {}
            project_id = project.get("project_id")
            if not project_id:
                return
            doc = projects.get(project_id)
            if doc is None:
                program = project.get("program") or {"name": project_id.split("-", 1)[0]}
                doc = projects[project_id] = {
                    "id": project_id,
                    "project_id": project_id,
                    "name": project.get("name") or KNOWN_PROJECT_NAMES.get(project_id, project_id),
                    "program": dict(program),
                    "summary": {
                        "case_count": 0,
                        "file_count": 0,
                        "file_size": 0,
                        "data_categories": [],
                        "experimental_strategies": [],
                    },
                }
                site_sets[project_id], disease_sets[project_id] = [], []
            doc["summary"]["case_count"] += 1
            for key, bucket in (("primary_site", site_sets[project_id]), ("disease_type", disease_sets[project_id])):
                value = case.get(key)
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and item not in bucket:
                        bucket.append(item)

        self.scan("cases", add_case)
        for project_id, doc in projects.items():
            doc["primary_site"] = sorted(site_sets[project_id])
            doc["disease_type"] = sorted(disease_sets[project_id])
        self._add_file_summaries(projects)
        return InMemoryDocs([projects[k] for k in sorted(projects)], "project_id")

    def _add_file_summaries(self, projects: dict[str, JsonDoc]) -> None:
        per_category: dict[tuple[str, str, str], dict[str, Any]] = {}

        def add_file(_row: int, file_doc: JsonDoc) -> None:
            project_ids = {
                (c.get("project") or {}).get("project_id") for c in file_doc.get("cases") or [] if isinstance(c, dict)
            }
            case_ids = {c.get("case_id") for c in file_doc.get("cases") or [] if isinstance(c, dict)}
            for project_id in project_ids:
                doc = projects.get(project_id)  # type: ignore[arg-type]
                if doc is None:
                    continue
                doc["summary"]["file_count"] += 1
                doc["summary"]["file_size"] += int(file_doc.get("file_size") or 0)
                for kind, key in (
                    ("data_category", "data_categories"),
                    ("experimental_strategy", "experimental_strategies"),
                ):
                    value = file_doc.get(kind)
                    if not value:
                        continue
                    entry = per_category.setdefault((project_id, key, value), {"cases": set(), "files": 0})
                    entry["cases"] |= case_ids
                    entry["files"] += 1

        self.scan("files", add_file)
        for (project_id, key, value), entry in sorted(per_category.items()):
            kind = "data_category" if key == "data_categories" else "experimental_strategy"
            projects[project_id]["summary"][key].append(
                {kind: value, "case_count": len(entry["cases"]), "file_count": entry["files"]}
            )


class GeneratedFiles:
    """Files generated on request from a release's `_expression_sources.parquet`: the same bytes every time (the
    md5 in files.jsonl was computed from them). The last few are kept, so a resumed download (Range) or a retry
    does not generate the file again."""

    KEPT = 8

    def __init__(self, directory: Path) -> None:
        from sandbox.synthetic.expression import EXPRESSION_SOURCES_FILE

        path = directory / EXPRESSION_SOURCES_FILE
        self._rows: dict[str, dict[str, Any]] = {}
        if path.is_file():
            import polars as pl

            self._rows = {row["file_id"]: row for row in pl.read_parquet(path).iter_rows(named=True)}
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, file_id: str) -> bytes | None:
        row = self._rows.get(file_id)
        if row is None:
            return None
        with self._lock:
            if file_id in self._kept:
                self._kept.move_to_end(file_id)
                return self._kept[file_id]
        from sandbox.synthetic.expression import expression_file_bytes, source_of

        data = expression_file_bytes(source_of(row))
        with self._lock:
            self._kept[file_id] = data
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return data


class ReleaseStore:
    """Resolves the served release (CURRENT or the admin override) and caches releases and query results."""

    def __init__(
        self,
        bundle_root: Path,
        *,
        query_cache_entries: int = 64,
        releases_kept: int = 2,
        missing_parent_quirk: bool = True,
        query_cache_bytes: int = QUERY_CACHE_BYTES,
        hit_cache_bytes: int = HIT_CACHE_BYTES,
    ) -> None:
        self.root = Path(bundle_root).resolve()
        self.missing_parent_quirk = missing_parent_quirk
        self._lock = threading.Lock()
        self._releases: OrderedDict[str, Release] = OrderedDict()
        self._releases_kept = releases_kept
        # (release serial, endpoint, canonical filters, sort) -> row numbers in served order; and
        # (release serial, endpoint, canonical filters, field path) -> facet buckets.
        self._query_cache: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._query_cache_nbytes = 0
        self._query_cache_entries = query_cache_entries
        self._query_cache_bytes = query_cache_bytes
        self._facet_cache: OrderedDict[tuple[Any, ...], JsonDoc] = OrderedDict()
        # Serialised hits per (release serial, query, field selection); see hit_cache.py.
        self.hits = HitCache(hit_cache_bytes)
        # (label set by set_release, CURRENT text at that moment): a later CURRENT rewrite wins over it.
        self._override: tuple[str, str | None] | None = None
        if (self.root / "status.json").exists():
            self.single_release_label: str | None = _label_from_status(self.root)
        elif (self.root / "releases").is_dir():
            self.single_release_label = None
            if not (self.root / "CURRENT").exists():
                raise BundleError(f"{self.root} has releases/ but no CURRENT file")
        else:
            raise BundleError(
                f"{self.root} is not a GDC bundle: expected CURRENT + releases/<label>/ or a release dir with status.json"
            )

    # -- which release ---------------------------------------------------------------------------------

    def labels(self) -> list[str]:
        if self.single_release_label is not None:
            return [self.single_release_label]
        return sorted(p.name for p in (self.root / "releases").iterdir() if p.is_dir())

    def release_directory(self, label: str) -> Path:
        """Where release `label` lives (no parsing; it need not exist)."""
        if self.single_release_label is not None:
            return self.root
        return self.root / "releases" / label

    def _read_current(self) -> str | None:
        if self.single_release_label is not None:
            return None
        try:
            return (self.root / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BundleError(f"cannot read {self.root / 'CURRENT'}: {exc}") from exc

    def current_label(self) -> str:
        current = self._read_current()
        override = self._override
        if override is not None:
            label, current_when_set = override
            if current == current_when_set:
                return label
            with self._lock:
                if self._override is override:
                    self._override = None  # CURRENT was rewritten after set_release: the file wins
        if current is None:
            assert self.single_release_label is not None
            return self.single_release_label
        return current

    def set_release(self, label: str) -> None:
        label = label.strip()
        if label not in self.labels():
            raise UnknownReleaseError(f"release {label!r} not in bundle {self.root} (have {self.labels()})")
        with self._lock:
            self._override = (label, self._read_current())

    def release(self, label: str | None = None) -> Release:
        label = label or self.current_label()
        with self._lock:
            cached = self._releases.get(label)
            if cached is not None:
                self._releases.move_to_end(label)
                return cached
        directory = self.root if self.single_release_label is not None else self.root / "releases" / label
        if not directory.is_dir() or (self.single_release_label is not None and label != self.single_release_label):
            raise BundleError(f"CURRENT names release {label!r} but {directory} does not exist")
        with self._lock:
            cached = self._releases.get(label)
            if cached is None:
                cached = self._releases[label] = Release(label, directory)
                while len(self._releases) > self._releases_kept:
                    _, evicted = self._releases.popitem(last=False)
                    self._forget(evicted.serial)
            return cached

    def _forget(self, serial: int) -> None:
        """Drop an evicted release's cached results (called with the lock held)."""
        for key in [k for k in self._query_cache if k[0] == serial]:
            self._query_cache_nbytes -= self._query_cache.pop(key).nbytes
        for key in [k for k in self._facet_cache if k[0] == serial]:
            del self._facet_cache[key]
        self.hits.forget(serial)

    # -- query results ---------------------------------------------------------------------------------

    def matching(
        self, release: Release, endpoint: str, filters: JsonDoc | None, sort: tuple[SortKey, ...]
    ) -> np.ndarray:
        """Row numbers of the matching documents in served order, cached: each further page is O(page size)."""
        key = (release.serial, endpoint, canonical_json(filters), sort)
        with self._lock:
            cached = self._query_cache.get(key)
            if cached is not None:
                self._query_cache.move_to_end(key)
                return cached
        if filters is None and not sort:  # bundle order: nothing to evaluate
            rows = np.arange(len(release.source(endpoint)), dtype=np.int32)
        else:
            predicate = (
                None
                if filters is None
                else compile_filter(filters, endpoint, missing_parent_quirk=self.missing_parent_quirk)
            )
            columns = SortColumns(sort) if sort else None
            matched = array("i")

            def visit(row: int, doc: JsonDoc) -> None:
                if predicate is None or predicate(doc):
                    matched.append(row)
                    if columns is not None:
                        columns.add(doc)

            release.scan(endpoint, visit)
            rows = np.frombuffer(matched, dtype=np.intc).astype(np.int32, copy=False)
            if columns is not None:
                rows = rows[columns.order()]
        with self._lock:
            if key not in self._query_cache:
                self._query_cache[key] = rows
                self._query_cache_nbytes += rows.nbytes
            while self._query_cache and (
                len(self._query_cache) > self._query_cache_entries or self._query_cache_nbytes > self._query_cache_bytes
            ):
                self._query_cache_nbytes -= self._query_cache.popitem(last=False)[1].nbytes
        return rows

    def facets(self, release: Release, endpoint: str, filters: JsonDoc | None, path: tuple[str, ...]) -> JsonDoc:
        """Terms buckets of `path` over the documents matching `filters`, cached like `matching`."""
        key = (release.serial, endpoint, canonical_json(filters), path)
        with self._lock:
            cached = self._facet_cache.get(key)
            if cached is not None:
                self._facet_cache.move_to_end(key)
                return cached
        predicate = (
            None
            if filters is None
            else compile_filter(filters, endpoint, missing_parent_quirk=self.missing_parent_quirk)
        )
        counts = FacetCounts(path)

        def visit(_row: int, doc: JsonDoc) -> None:
            if predicate is None or predicate(doc):
                counts.add(doc)

        release.scan(endpoint, visit)
        buckets = counts.buckets()
        with self._lock:
            self._facet_cache[key] = buckets
            while len(self._facet_cache) > self._query_cache_entries:
                self._facet_cache.popitem(last=False)
        return buckets


_RELEASE_RE = re.compile(r"Data Release (\d+\.\d+)")


def _label_from_status(directory: Path) -> str:
    try:
        status = json.loads((directory / "status.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {directory / 'status.json'}: {exc}") from exc
    match = _RELEASE_RE.search(str(status.get("data_release", "")))
    return match.group(1) if match else directory.name
