"""Reading a GDC release bundle (layout: GDC_BUNDLE.md): lazily, once per release, with an id index.

A bundle root is either `<root>/CURRENT` + `<root>/releases/<label>/`, or a single release directory
(one holding `status.json`). Documents are parsed on the first request that needs an endpoint and kept;
per-query results (filtered + sorted lists) are cached by `ReleaseStore.matching`.
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.gdc_standin.query import (
    JsonDoc,
    SortKey,
    canonical_json,
    compile_filter,
    sort_documents,
)

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


class BundleError(RuntimeError):
    """The bundle on disk does not follow GDC_BUNDLE.md; the message names the file and line."""


class UnknownReleaseError(LookupError):
    pass


@dataclass
class EndpointDocs:
    docs: list[JsonDoc]
    by_id: dict[str, JsonDoc]


class Release:
    """One release directory; each endpoint's documents are parsed once, on first use."""

    def __init__(self, label: str, directory: Path) -> None:
        self.label = label
        self.directory = directory
        self._lock = threading.RLock()  # re-entrant: deriving projects loads cases and files
        self._endpoints: dict[str, EndpointDocs] = {}
        self._status: JsonDoc | None = None
        # (endpoint, projection key) -> {doc id: serialised projected hit}; lives and dies with the release.
        self._fragments: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()

    def hit_fragments(self, endpoint: str, projection_key: str, kept: int = 4) -> dict[str, str]:
        """Cache of serialised hits for one field selection, so re-paging costs a string join per hit."""
        key = (endpoint, projection_key)
        with self._lock:
            cache = self._fragments.get(key)
            if cache is None:
                cache = self._fragments[key] = {}
                while len(self._fragments) > kept:
                    self._fragments.popitem(last=False)
            else:
                self._fragments.move_to_end(key)
            return cache

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

    def endpoint(self, name: str) -> EndpointDocs:
        loaded = self._endpoints.get(name)
        if loaded is not None:
            return loaded
        with self._lock:  # concurrent first requests parse the file once
            loaded = self._endpoints.get(name)
            if loaded is None:
                # Hundreds of thousands of long-lived dicts: without this the cyclic GC re-traverses them on
                # every full collection, during the parse and afterwards in every allocating thread (a
                # client in the same process slowed ~3x). Frozen objects are never collected, which is
                # what a loaded release is; an evicted release's memory is then not given back.
                was_enabled = gc.isenabled()
                gc.disable()
                try:
                    loaded = self._derive_projects() if name == "projects" else self._load(name)
                finally:
                    if was_enabled:
                        gc.enable()
                gc.freeze()
                self._endpoints[name] = loaded
        return loaded

    def _load(self, name: str) -> EndpointDocs:
        file_name, id_field = DOC_ENDPOINTS[name]
        path = self.directory / file_name
        docs: list[JsonDoc] = []
        by_id: dict[str, JsonDoc] = {}
        if not path.exists():  # an optional file: the endpoint has no hits in this release
            return EndpointDocs(docs, by_id)
        with path.open("rb") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BundleError(f"{path} line {line_number}: invalid JSON ({exc.msg})") from exc
                doc_id = doc.get("id") or doc.get(id_field) if isinstance(doc, dict) else None
                if not isinstance(doc_id, str):
                    raise BundleError(f"{path} line {line_number}: document without 'id' or {id_field!r}")
                if doc_id in by_id:
                    raise BundleError(f"{path} line {line_number}: duplicate id {doc_id}")
                docs.append(doc)
                by_id[doc_id] = doc
        return EndpointDocs(docs, by_id)

    def _derive_projects(self) -> EndpointDocs:
        """Project documents from the cases (and files): id, name, program, primary_site, disease_type, summary."""
        projects: dict[str, JsonDoc] = {}
        site_sets: dict[str, list[str]] = {}
        disease_sets: dict[str, list[str]] = {}
        for case in self.endpoint("cases").docs:
            project = case.get("project") or {}
            project_id = project.get("project_id")
            if not project_id:
                continue
            doc = projects.get(project_id)
            if doc is None:
                program = project.get("program") or {"name": project_id.split("-", 1)[0]}
                doc = projects[project_id] = {
                    "id": project_id,
                    "project_id": project_id,
                    "name": project.get("name") or KNOWN_PROJECT_NAMES.get(project_id, project_id),
                    "program": dict(program),
                    "summary": {"case_count": 0, "file_count": 0, "file_size": 0,
                                "data_categories": [], "experimental_strategies": []},
                }
                site_sets[project_id], disease_sets[project_id] = [], []
            doc["summary"]["case_count"] += 1
            for key, bucket in (("primary_site", site_sets[project_id]), ("disease_type", disease_sets[project_id])):
                value = case.get(key)
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and item not in bucket:
                        bucket.append(item)
        for project_id, doc in projects.items():
            doc["primary_site"] = sorted(site_sets[project_id])
            doc["disease_type"] = sorted(disease_sets[project_id])
        self._add_file_summaries(projects)
        ordered = [projects[k] for k in sorted(projects)]
        return EndpointDocs(ordered, {d["project_id"]: d for d in ordered})

    def _add_file_summaries(self, projects: dict[str, JsonDoc]) -> None:
        per_category: dict[tuple[str, str, str], dict[str, Any]] = {}
        for file_doc in self.endpoint("files").docs:
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
                for kind, key in (("data_category", "data_categories"), ("experimental_strategy", "experimental_strategies")):
                    value = file_doc.get(kind)
                    if not value:
                        continue
                    entry = per_category.setdefault((project_id, key, value), {"cases": set(), "files": 0})
                    entry["cases"] |= case_ids
                    entry["files"] += 1
        for (project_id, key, value), entry in sorted(per_category.items()):
            kind = "data_category" if key == "data_categories" else "experimental_strategy"
            projects[project_id]["summary"][key].append(
                {kind: value, "case_count": len(entry["cases"]), "file_count": entry["files"]}
            )


class ReleaseStore:
    """Resolves the served release (CURRENT or the admin override) and caches releases and query results."""

    def __init__(self, bundle_root: Path, *, query_cache_entries: int = 64, releases_kept: int = 2,
                 missing_parent_quirk: bool = True) -> None:
        self.root = Path(bundle_root).resolve()
        self.missing_parent_quirk = missing_parent_quirk
        self._lock = threading.Lock()
        self._releases: OrderedDict[str, Release] = OrderedDict()
        self._releases_kept = releases_kept
        self._query_cache: OrderedDict[tuple[Any, ...], list[JsonDoc]] = OrderedDict()
        self._query_cache_entries = query_cache_entries
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
                while len(self._releases) > self._releases_kept:  # bound memory: big releases are ~1 GB parsed
                    self._releases.popitem(last=False)
            return cached

    # -- query results ---------------------------------------------------------------------------------

    def matching(self, release: Release, endpoint: str, filters: JsonDoc | None, sort: tuple[SortKey, ...]) -> list[JsonDoc]:
        """Filtered + sorted documents, cached so that each further page costs O(page size)."""
        key = (release.label, id(release), endpoint, canonical_json(filters), sort)
        with self._lock:
            cached = self._query_cache.get(key)
            if cached is not None:
                self._query_cache.move_to_end(key)
                return cached
        docs = release.endpoint(endpoint).docs
        if filters is not None:
            predicate = compile_filter(filters, endpoint, missing_parent_quirk=self.missing_parent_quirk)
            docs = [doc for doc in docs if predicate(doc)]
        if sort:
            docs = sort_documents(docs, sort)
        with self._lock:
            self._query_cache[key] = docs
            while len(self._query_cache) > self._query_cache_entries:
                self._query_cache.popitem(last=False)
        return docs


_RELEASE_RE = re.compile(r"Data Release (\d+\.\d+)")


def _label_from_status(directory: Path) -> str:
    try:
        status = json.loads((directory / "status.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {directory / 'status.json'}: {exc}") from exc
    match = _RELEASE_RE.search(str(status.get("data_release", "")))
    return match.group(1) if match else directory.name
