"""The lake's commit record: `lake/_manifest.json` names the published version of every table and release; a copy of
each generation is kept in `lake/_manifests/` for the readers still on it and to repair a lost or corrupted
manifest (`python -m warehouse.catalog --data-dir DIR --rebuild-manifest`).

Which versions readers may still use: an analyst's connection reads the catalog it opened, whose views name the
files of one generation. A version is kept while any of the newest `READER_GENERATIONS` generations names it, or a
generation superseded less than `READER_GRACE_SECONDS` ago; so a connection held across three publishes keeps
answering, and a burst of publishes does not remove what an hour-old connection reads.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

MANIFEST_FILE = "_manifest.json"
HISTORY_DIR = "_manifests"
READER_GENERATIONS = 4  # the current one and the three before it
READER_GRACE_SECONDS = 3600.0
_HISTORY_FILE = re.compile(r"^manifest-(?P<generation>\d{10})\.json$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def repair_command(data_dir: PurePath) -> str:
    return f"python -m warehouse.catalog --data-dir {data_dir} --rebuild-manifest"


class ManifestError(RuntimeError):
    """The manifest cannot be read, or is missing where the lake was committed before."""


def empty_manifest() -> dict[str, Any]:
    return {"generation": 0, "releases": {}, "retained": {}}


def parse_manifest(data: bytes, path: PurePath, data_dir: PurePath) -> dict[str, Any]:
    """A manifest's JSON, checked for the shape every reader relies on; a ManifestError names the file and the
    repair command otherwise."""
    try:
        manifest = json.loads(data)
        ok = (
            isinstance(manifest, dict)
            and isinstance(manifest.get("generation"), int)
            and isinstance(manifest.get("releases"), dict)
            and all(isinstance(files, dict) for files in manifest["releases"].values())
        )
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestError(
            f"lake manifest {path} is not readable JSON ({error}); repair with: {repair_command(data_dir)}"
        ) from error
    if not ok:
        raise ManifestError(f"lake manifest {path} lacks generation/releases; repair with: {repair_command(data_dir)}")
    return manifest


def history_name(generation: int) -> str:
    return f"manifest-{generation:010d}.json"


def history_generation(name: str) -> int | None:
    match = _HISTORY_FILE.match(name)
    return int(match["generation"]) if match else None


def committed_seconds(manifest: dict[str, Any]) -> float | None:
    stamp = manifest.get("committed_at")
    try:
        return float(calendar.timegm(time.strptime(stamp, _TIME_FORMAT))) if stamp else None
    except (TypeError, ValueError):
        return None


def now_stamp() -> str:
    return time.strftime(_TIME_FORMAT, time.gmtime())


@dataclass(frozen=True)
class Generation:
    generation: int
    manifest: dict[str, Any]


def kept_generations(generations: Iterable[Generation], now: float | None = None) -> list[Generation]:
    """The generations whose files readers may still use (module docstring), newest first. A generation is
    superseded when its successor was committed."""
    unique = {g.generation: g for g in generations}  # the current manifest is also among its copies
    ordered = sorted(unique.values(), key=lambda g: g.generation, reverse=True)
    now = time.time() if now is None else now
    kept = []
    for position, generation in enumerate(ordered):
        successor = ordered[position - 1] if position else None
        superseded_at = committed_seconds(successor.manifest) if successor is not None else None
        recent = superseded_at is None or now - superseded_at < READER_GRACE_SECONDS
        if position < READER_GENERATIONS or recent:
            kept.append(generation)
    return kept


def referenced_files(generations: Iterable[Generation]) -> dict[tuple[str, str], set[str]]:
    """(layer/table, release) -> the version file names the given generations name."""
    names: dict[tuple[str, str], set[str]] = {}
    for generation in generations:
        for release, files in generation.manifest.get("releases", {}).items():
            for table, name in files.items():
                names.setdefault((table, release), set()).add(name)
    return names


_LAKE_FILE = re.compile(r"/lake/(?P<layer>[^/]+)/(?P<table>[^/]+)/release=(?P<release>[^/]+)/(?P<name>part-[^/]+)$")


def releases_from_catalog_paths(paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """{release: {"layer/table": file name}} from the partition file paths a published catalog's views name."""
    releases: dict[str, dict[str, str]] = {}
    for path in paths:
        match = _LAKE_FILE.search(path)
        if match:
            releases.setdefault(match["release"], {})[f"{match['layer']}/{match['table']}"] = match["name"]
    return releases
