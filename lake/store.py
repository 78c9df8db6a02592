"""The Parquet lake: where each table of each release lives, how it is written, and which version is published.

Layout: `<data_dir>/lake/<layer>/<table>/release=<label>/part-<time_ns>-<writer>.parquet`. Every write makes a
*new version* of a partition (a hidden temporary renamed into place, so a file is whole or absent) and never
touches the versions analysts read. Which version of each table of each release is published is recorded in
`lake/_manifest.json`, written atomically by the catalog publish (warehouse.catalog) as the commit: a run that
fails or is killed before its commit leaves versions nobody reads, and a rerun of a published release is
invisible until it commits. The manifest keeps the previous generation's files too (analysts' open
connections may still read them); older superseded versions are deleted at the next commit.

A version is *publishable* when its writer is this Lake's own writer (a Dagster run reads what it wrote),
when the writer finished successfully (a succeeded Dagster run: `finished`, given by
assets.resources.LakeResource from the Dagster instance), when it is the committed version, or when it is a
pre-versioning `part-0.parquet`. A Lake reads, and a publish commits, the newest publishable version. A run
that failed or was killed is never finished, so nothing it wrote is read or published. The writer is the
Dagster run id or, outside Dagster, this process.

The lake lives in `<data_dir>/lake` or, given `lake_url` (`s3://bucket/prefix`), on an S3-compatible object
store (lake.object_store): paths are then `S3Path`s that print as `s3://...`, and the same protocol
holds because an upload appears whole or not at all and the manifest PUT is the commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from lake.integrity import CONTENT_HASH_KEY, LakeCorruptionError, footer_problem, read_verified
from lake.manifest import (
    HISTORY_DIR,
    MANIFEST_FILE,
    Generation,
    ManifestError,
    empty_manifest,
    history_generation,
    history_name,
    kept_generations,
    now_stamp,
    parse_manifest,
    referenced_files,
    releases_from_catalog_paths,
)
from lake.object_store import LakeStorage, LocalStorage, lake_storage
from lake.writes import ParquetPartitionSink, WrittenTable, write_parquet_atomic

LEGACY_PART_FILE = "part-0.parquet"  # written before versioning; still read (and published) when nothing newer is
COMMIT_LOCK_FILE = "_commit.lock"
# Row groups of tables declared with a lookup order (contracts.tables.TableSpec.lookup_order): small enough that
# a lookup of one patient reads ~1/10 of a 100,000-row table, large enough to keep zstd effective.
LOOKUP_ROW_GROUP_ROWS = 8192
_VERSION_FILE = re.compile(r"^part-(?P<time>\d{20})-(?P<writer>[A-Za-z0-9_-]+)\.parquet$")
_WRITER_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


_RELEASE_DIR = re.compile(r"^release=(?P<label>.+)$")


@dataclass(frozen=True)
class PartitionVersion:
    path: PurePath
    written_ns: int  # 0 for a pre-versioning part-0.parquet
    writer: str | None


def release_sort_key(label: str) -> tuple:
    """Order release labels numerically (`9.0` < `10.1` < `45.0`); odd labels like `27.0-fix` sort after."""
    numbers = re.findall(r"\d+", label)
    return tuple(int(n) for n in numbers) + (label,)


def row_groups_by(parquet: pq.ParquetFile, column: str) -> dict[str, list[int]]:
    """value -> row groups of a file written one key per row group (e.g. raw/expression_counts: one row group per
    file), from the footer's min/max statistics alone; a row group holding several values is listed under none."""
    metadata = parquet.metadata
    index = metadata.schema.names.index(column)
    groups: dict[str, list[int]] = {}
    for number in range(metadata.num_row_groups):
        statistics = metadata.row_group(number).column(index).statistics
        if statistics is not None and statistics.has_min_max and statistics.min == statistics.max:
            value = statistics.min
            groups.setdefault(value.decode() if isinstance(value, bytes) else str(value), []).append(number)
    return groups


def process_writer() -> str:
    return f"process{os.getpid()}"


def partition_versions(partition_dir: PurePath, storage: LakeStorage | None = None) -> list[PartitionVersion]:
    """Every whole version file of one partition, oldest first (temporaries are not versions)."""
    storage = storage or LocalStorage(Path(partition_dir))
    versions = []
    for name in storage.child_names(partition_dir):
        match = _VERSION_FILE.match(name)
        if match:
            versions.append(PartitionVersion(partition_dir / name, int(match["time"]), match["writer"]))
        elif name == LEGACY_PART_FILE:
            versions.append(PartitionVersion(partition_dir / name, 0, None))
    return sorted(versions, key=lambda v: (v.written_ns, v.path.name))


class Lake:
    def __init__(
        self,
        data_dir: Path | str,
        writer: str | None = None,
        finished: Callable[[str], bool] | None = None,
        lake_url: str | None = None,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.storage: LakeStorage = lake_storage(self.data_dir, lake_url)
        self.root: PurePath = self.storage.root
        self.writer = _WRITER_UNSAFE.sub("", writer) if writer else process_writer()
        self._finished = finished
        self._finished_writers: set[str] = set()  # success is final, so only "yes" is cached
        self._manifest_cache: tuple[tuple[int, int], dict[str, Any]] | None = None
        self._readable_footers: set[PurePath] = set()

    def writer_finished(self, writer: str) -> bool:
        if writer == self.writer or writer in self._finished_writers:
            return True
        if self._finished is not None and self._finished(writer):
            self._finished_writers.add(writer)
            return True
        return False

    def table_dir(self, layer: str, table: str) -> PurePath:
        return self.root / layer / table

    def partition_dir(self, layer: str, table: str, release: str) -> PurePath:
        return self.table_dir(layer, table) / f"release={release}"

    def versions(self, layer: str, table: str, release: str) -> list[PartitionVersion]:
        return partition_versions(self.partition_dir(layer, table, release), self.storage)

    def table_files(self, layer: str, table: str) -> list[PurePath]:
        """The Parquet files of an unpartitioned table (one per record, e.g. ops/run_failures), by name."""
        directory = self.table_dir(layer, table)
        return sorted(
            directory / n
            for n in self.storage.child_names(directory)
            if n.endswith(".parquet") and not n.startswith(".")
        )

    # -- the commit record (lake.manifest) ----------------------------------------------------------------
    @property
    def manifest_path(self) -> PurePath:
        return self.root / MANIFEST_FILE

    @property
    def history_dir(self) -> PurePath:
        return self.root / HISTORY_DIR

    def manifest(self) -> dict[str, Any]:
        """The last commit: {"generation", "committed_at", "writer", "releases": {release: {"layer/table": file}},
        "retained": {...the previous generation's releases...}}; empty before the first commit. A ManifestError
        names an unreadable manifest and the repair command."""
        try:
            key = self.storage.change_stamp(self.manifest_path)
        except FileNotFoundError:
            return empty_manifest()
        if key is None or self._manifest_cache is None or self._manifest_cache[0] != key:
            manifest = parse_manifest(self.storage.read_bytes(self.manifest_path), self.manifest_path, self.data_dir)
            if key is None:
                return manifest
            self._manifest_cache = (key, manifest)
        return self._manifest_cache[1]

    def manifest_history(self) -> list[Generation]:
        """The kept copies of earlier (and the current) generations, oldest first; unreadable copies are skipped."""
        generations = []
        for name in self.storage.child_names(self.history_dir):
            generation = history_generation(name)
            if generation is None:
                continue
            try:
                data = self.storage.read_bytes(self.history_dir / name)
                generations.append(Generation(generation, parse_manifest(data, self.history_dir / name, self.data_dir)))
            except (ManifestError, FileNotFoundError):
                continue
        return sorted(generations, key=lambda g: g.generation)

    def manifest_lost(self) -> bool:
        """The manifest is gone but earlier commits are on record: publishing now would show analysts a lake
        without its committed releases, so the publish refuses and names the repair command."""
        return self.manifest().get("generation", 0) == 0 and bool(self.manifest_history())

    def committed_path(self, layer: str, table: str, release: str) -> PurePath | None:
        name = self.manifest().get("releases", {}).get(release, {}).get(f"{layer}/{table}")
        if name is None:
            return None
        path = self.partition_dir(layer, table, release) / name
        return path if self.storage.exists(path) else None

    @contextlib.contextmanager
    def commit_lock(self) -> Iterator[None]:
        """Held from choosing the versions to renaming the catalog: two runs publishing at once (a refresh
        and a training run) commit one after the other, the second seeing the first's commit (flock: one
        host or a POSIX-locking shared filesystem; for an object-store lake the lock file is in the data
        directory, and publishes from several hosts are serialised by the Dagster pool `catalog_publish`)."""
        lock_dir = Path(self.root) if self.storage.is_local else self.data_dir
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / COMMIT_LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._manifest_cache = None
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def commit(
        self,
        releases: dict[str, dict[str, PurePath]],
        *,
        writer: str | None = None,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record `releases` ({release: {"layer/table": version path}}) as the published state, atomically.
        Returns the new manifest. The previous generation (`previous`: the current manifest unless a rebuild
        replaces an unreadable one) is kept as `retained`, and a copy of every generation readers may still use
        stays in `_manifests/` (lake.manifest)."""
        previous = self.manifest() if previous is None else previous
        generation = max([int(previous.get("generation", 0))] + [g.generation for g in self.manifest_history()]) + 1
        manifest = {
            "generation": generation,
            "committed_at": now_stamp(),
            "writer": writer or self.writer,
            "releases": {
                release: {table: PurePath(path).name for table, path in sorted(files.items())}
                for release, files in sorted(releases.items(), key=lambda item: release_sort_key(item[0]))
            },
            "retained": previous.get("releases", {}),
        }
        data = json.dumps(manifest, indent=1).encode()
        # The copy first: a kill between the two leaves a copy of a generation never committed, which the next
        # commit's number supersedes; the other order could lose the record of a committed generation.
        self.write_object(data, self.history_dir / history_name(generation))
        self.write_object(data, self.manifest_path)
        self._manifest_cache = None
        kept = {g.generation for g in kept_generations(self.manifest_history())}
        for name in self.storage.child_names(self.history_dir):
            number = history_generation(name)
            if number is not None and number not in kept:
                self.storage.delete(self.history_dir / name)
        return manifest

    def rebuild_manifest(self, catalog_paths: list[str] | None = None) -> dict[str, Any]:
        """Commit again what was last committed, after the manifest was lost or corrupted: the newest kept copy
        whose files are all still there, else the files the last published catalog's views name
        (`catalog_paths`). Raises ManifestError when neither is there."""
        for candidate in reversed(self.manifest_history()):
            releases = candidate.manifest.get("releases", {})
            if all(
                self.storage.exists(self.partition_dir(*table.split("/", 1), release) / name)
                for release, files in releases.items()
                for table, name in files.items()
            ):
                return self._recommit(releases, f"rebuilt from generation {candidate.generation}")
        from_catalog = releases_from_catalog_paths(catalog_paths or [])
        if from_catalog:
            return self._recommit(from_catalog, "rebuilt from the published catalog")
        raise ManifestError(
            f"cannot rebuild {self.manifest_path}: no kept copy in {self.history_dir} names files that all exist, "
            "and no published catalog names lake files"
        )

    def _recommit(self, releases: dict[str, dict[str, str]], how: str) -> dict[str, Any]:
        paths = {
            release: {table: self.partition_dir(*table.split("/", 1), release) / name for table, name in files.items()}
            for release, files in releases.items()
        }
        history = self.manifest_history()
        with self.commit_lock():
            manifest = self.commit(
                paths, writer=f"rebuild{os.getpid()}", previous=history[-1].manifest if history else empty_manifest()
            )
        manifest["rebuilt"] = how
        return manifest

    def catalog_object(self) -> PurePath | None:
        """Where an object-store lake's catalog file is uploaded (beside `lake/`); None for a local lake."""
        return None if self.storage.is_local else self.root.parent / "warehouse.duckdb"

    def write_object(self, data: bytes, target: PurePath) -> PurePath:
        """Write a small file (status.json, the manifest) of the lake whole or not at all."""
        staged = self.storage.staging_file(target)
        try:
            staged.write_bytes(data)
            self.storage.install(staged, target)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return target

    def remove_superseded(self, tables: list[tuple[str, str]]) -> list[PurePath]:
        """Delete versions older than the committed one of each (layer, table, release) that no generation readers
        may still use names (lake.manifest: the newest few, and any superseded within the grace period).
        Versions newer than the commit (a run in progress, or one that died) are left: the next commit of that
        release supersedes and removes them."""
        manifest = self.manifest()
        kept = kept_generations([*self.manifest_history(), Generation(int(manifest.get("generation", 0)), manifest)])
        referenced = referenced_files(kept)
        removed: list[PurePath] = []
        for layer, table in tables:
            path_key = f"{layer}/{table}"
            for release, files in manifest.get("releases", {}).items():
                committed = files.get(path_key)
                if committed is None:
                    continue
                keep = referenced.get((path_key, release), set()) | {committed}
                versions = self.versions(layer, table, release)
                committed_ns = next((v.written_ns for v in versions if v.path.name == committed), None)
                if committed_ns is None:
                    continue
                for version in versions:
                    if version.path.name not in keep and version.written_ns < committed_ns:
                        self.storage.delete(version.path)
                        removed.append(version.path)
        return removed

    # -- reading -------------------------------------------------------------------------------------------
    def resolve(self, layer: str, table: str, release: str) -> PurePath | None:
        """The version this lake reads and would publish: the newest publishable one (module docstring)."""
        committed = self.committed_path(layer, table, release)
        for version in reversed(self.versions(layer, table, release)):
            if version.writer is None or version.path == committed or self.writer_finished(version.writer):
                return version.path
        return None

    def table_path(self, layer: str, table: str, release: str) -> PurePath:
        path = self.resolve(layer, table, release)
        if path is None:
            raise FileNotFoundError(
                f"{layer}/{table} has no data for release {release} under {self.partition_dir(layer, table, release)} "
                "(materialise that asset for this release first; versions of runs that did not commit are not read)"
            )
        return path

    def new_version_path(self, layer: str, table: str, release: str) -> PurePath:
        directory = self.partition_dir(layer, table, release)
        newest = partition_versions(directory, self.storage)
        stamp = max(time.time_ns(), (newest[-1].written_ns + 1) if newest else 0)  # strictly newer than any
        return directory / f"part-{stamp:020d}-{self.writer}.parquet"

    def exists(self, layer: str, table: str, release: str) -> bool:
        return self.resolve(layer, table, release) is not None

    def write(self, frame: pl.DataFrame, layer: str, table: str, release: str) -> WrittenTable:
        return write_parquet_atomic(frame, self.new_version_path(layer, table, release), self.storage)

    def sink(
        self,
        layer: str,
        table: str,
        release: str,
        schema: dict[str, pl.DataType],
        build: Callable[[list[Any]], pl.DataFrame],
        dictionary_columns: list[str] | None = None,
    ) -> ParquetPartitionSink:
        return ParquetPartitionSink(
            self.new_version_path(layer, table, release), schema, build, self.storage, dictionary_columns
        )

    # Table-declaration forms (contracts.tables.TableSpec, or anything with `layer` and `name`).
    def read_table(self, table: Any, release: str) -> pl.DataFrame:
        return self.read(table.layer, table.name, release)

    def write_table(
        self, table: Any, frame: pl.DataFrame, release: str, *, metadata: Mapping[str, str] | None = None
    ) -> WrittenTable:
        """`metadata`: extra footer key-value pairs that travel with the version (see `footer_metadata`)."""
        missing = [column for column in table.schema if column not in frame.columns]
        if missing:
            raise ValueError(f"{table.layer}/{table.name} release {release}: declared columns missing: {missing}")
        frame = frame.select(list(table.schema))
        order = list(getattr(table, "lookup_order", ()))
        if order:
            frame = frame.sort(order, nulls_last=True, maintain_order=True)
        return write_parquet_atomic(
            frame,
            self.new_version_path(table.layer, table.name, release),
            self.storage,
            row_group_size=LOOKUP_ROW_GROUP_ROWS if order else None,
            metadata=metadata,
        )

    def read(self, layer: str, table: str, release: str) -> pl.DataFrame:
        """The partition's rows, verified against the content hash in its footer (lake.integrity): a damaged file
        raises LakeCorruptionError naming it, the table and the release."""
        path = self.table_path(layer, table, release)
        if not self.storage.is_local:  # an upload is whole or absent; reading it twice would cost two downloads
            return pl.read_parquet(self.storage.open_input(path))
        return read_verified(path, path, f"{layer}/{table}", release)

    def scan(self, layer: str, table: str, release: str) -> pl.LazyFrame:
        """A lazy frame over a partition: projection and predicates push down on a local lake (its footer is checked
        first, so a truncated file is named; the rows are verified by `read` and `glioma verify`); from an object
        store the (zstd, column-compressed) file is fetched whole."""
        path = self.table_path(layer, table, release)
        if self.storage.is_local:
            problem = footer_problem(path)
            if problem is not None:
                raise LakeCorruptionError(path, f"{layer}/{table}", release, problem)
            return pl.scan_parquet(path)
        return pl.read_parquet(self.storage.open_input(path)).lazy()

    def readable(self, layer: str, table: str, release: str) -> bool:
        """The partition this lake reads has a readable footer (a cheap check; `read` verifies the rows). A version
        file never changes once written, so a footer found readable is not read again by this Lake (`releases` asks
        for every release of a table, and a publish asks for every table)."""
        path = self.resolve(layer, table, release)
        if path is None:
            return False
        if not self.storage.is_local or path in self._readable_footers:
            return True
        if footer_problem(path) is not None:
            return False
        self._readable_footers.add(path)
        return True

    def read_file(self, path: PurePath) -> pl.DataFrame:
        return pl.read_parquet(self.storage.open_input(path))

    def open_parquet(self, path: PurePath) -> pq.ParquetFile:
        """A version file opened once for many row-group reads: its footer is parsed once (a partition of 10,000
        RNA-seq files has 10,000 row groups, and reading it per row group would be quadratic)."""
        return pq.ParquetFile(str(path) if self.storage.is_local else self.storage.open_input(path))

    def footer_metadata(self, path: PurePath) -> dict[str, str]:
        """The key-value metadata in a version file's Parquet footer (the content hash and whatever its writer
        added): read from the file alone, so it holds wherever the data directory is and whoever wrote it."""
        metadata = pq.read_metadata(self.storage.open_input(path)).metadata or {}
        return {key.decode(): value.decode("utf-8", "replace") for key, value in metadata.items()}

    def content_hash(self, layer: str, table: str, release: str) -> str | None:
        """The content hash recorded in the partition's footer (None for files written before hashing)."""
        metadata = pq.read_metadata(self.storage.open_input(self.table_path(layer, table, release))).metadata or {}
        value = metadata.get(CONTENT_HASH_KEY.encode())
        return value.decode() if value else None

    def row_count(self, layer: str, table: str, release: str) -> int:
        """Rows of a partition from the Parquet footer, without reading the data."""
        return pq.read_metadata(self.storage.open_input(self.table_path(layer, table, release))).num_rows

    def releases(self, layer: str, table: str) -> list[str]:
        """Release labels with a readable partition of this table this lake reads, oldest first. A partition whose
        file is damaged (named by `glioma verify`) is left out: the catalog withholds its release rather than
        publish views that fail, and comparisons with the past skip it rather than fail every later refresh."""
        labels = []
        for name in self.storage.child_names(self.table_dir(layer, table)):
            match = _RELEASE_DIR.match(name)
            if match and self.readable(layer, table, match["label"]):
                labels.append(match["label"])
        return sorted(labels, key=release_sort_key)

    def previous_release(self, layer: str, table: str, release: str) -> str | None:
        earlier = [r for r in self.releases(layer, table) if release_sort_key(r) < release_sort_key(release)]
        return earlier[-1] if earlier else None
