"""What analysts can read, as a comparable value: every view and table of the published catalog, its row
count and a hash of its rows with the volatile parts (timestamps, durations, run ids, the data directory's
own path) taken out, so two runs that did the same work compare equal and any other difference shows."""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import multiprocessing.context
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from orchestration.deployment import STEP_PRELOAD_MODULES

REPO = Path(__file__).resolve().parents[2]
FULL = os.environ.get("RELIABILITY_FULL") == "1"  # make reliability: every scenario; make test: a bounded subset
# A scenario only `make reliability` runs; `make test` (CI) keeps one of each kind of scenario within its time budget.
FULL_ONLY = pytest.mark.skipif(not FULL, reason="in `make reliability` (RELIABILITY_FULL=1); CI runs a bounded subset")
REFRESH = ["refresh_gdc_release"]
REFRESH_AND_TRAIN = ["refresh_gdc_release", "train_challengers"]
RUNNER = Path(__file__).with_name("refresh_process.py")
# Volatile by nature: when something ran and how long it took, and who ran it.
VOLATILE_SUFFIXES = ("_at", "_seconds", "seconds", "_duration")
VOLATILE_NAMES = {"run_id", "scored_at", "published_at", "duration_seconds", "code_version"}
SKIPPED_RELATIONS = {"ops.run_failures"}  # one row per failed run: a killed run is expected to differ here
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?")  # inside texts
VOLATILE_TYPES = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "DATE", "TIME")


@dataclass(frozen=True)
class PublishedState:
    relations: dict[str, tuple[int, str]]  # schema.name -> (rows, content hash)
    releases: tuple[str, ...]  # ops.catalog_releases, status published
    current_releases: tuple[str, ...]  # distinct releases over every `_current` view
    rows: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)  # normalised rows

    def differences(self, other: PublishedState) -> list[str]:
        names = sorted(set(self.relations) | set(other.relations))
        lines = []
        for name in names:
            if self.relations.get(name) == other.relations.get(name):
                continue
            lines.append(f"{name}: {self.relations.get(name)} vs {other.relations.get(name)}")
            mine, theirs = set(self.rows.get(name, [])), set(other.rows.get(name, []))
            for here, there in list(zip(sorted(mine - theirs), sorted(theirs - mine), strict=False))[
                :3
            ]:  # lengths differ
                a, b = json.loads(here), json.loads(there)
                changed = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
                lines.append(f"  {str(next(iter(a.values()), ''))[:60]}: {str(changed)[:600]}")
            if len(mine - theirs) != len(theirs - mine):
                lines.append(f"  {len(mine - theirs)} rows only here, {len(theirs - mine)} only there")
        return lines


def published_state(data_dir: Path) -> PublishedState:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return connection_state(connection, str(data_dir.resolve()))


def connection_state(connection: duckdb.DuckDBPyConnection, prefix: str) -> PublishedState:
    """The published state as one connection reads it; `prefix` (where the lake lives) reads as `<data>`."""
    relations = connection.execute(
        "select schema_name, view_name from duckdb_views() where not internal and schema_name <> 'main' "
        "union all select schema_name, table_name from duckdb_tables() where schema_name <> 'main' "
        "order by 1, 2"
    ).fetchall()
    state: dict[str, tuple[int, str]] = {}
    normalised: dict[str, list[str]] = {}
    current: set[str] = set()
    for schema, name in relations:
        qualified = f"{schema}.{name}"
        if qualified in SKIPPED_RELATIONS:
            continue
        columns = connection.execute(f"describe {qualified}").fetchall()
        kept = [c[0] for c in columns if not _volatile(c[0], c[1])]
        select = ", ".join(f'"{c}"' for c in kept) or "1"
        rows = connection.execute(f"select {select} from {qualified}").fetchall()
        digest = hashlib.sha256()
        lines = sorted(
            _TIMESTAMP.sub(
                "<time>", json.dumps(dict(zip(kept, row, strict=True)), default=str).replace(prefix, "<data>")
            )
            for row in rows
        )
        for line in lines:
            digest.update(line.encode())
        normalised[qualified] = lines
        state[qualified] = (len(rows), digest.hexdigest()[:16])
        if name.endswith("_current") and "release" in [c[0] for c in columns]:
            current |= {r[0] for r in connection.execute(f"select distinct release from {qualified}").fetchall()}
    releases = tuple(
        r[0]
        for r in connection.execute(
            "select release from ops.catalog_releases where status = 'published' order by release"
        ).fetchall()
    )
    return PublishedState(state, releases, tuple(sorted(current)), normalised)


def _volatile(name: str, dtype: str) -> bool:
    return name in VOLATILE_NAMES or name.endswith(VOLATILE_SUFFIXES) or dtype.upper() in VOLATILE_TYPES


def leftovers(data_dir: Path) -> list[Path]:
    """Temporaries anywhere under the data directory (none may survive the next run)."""
    return sorted(p for p in data_dir.rglob(".*.tmp*"))


def most_versions_per_partition(data_dir: Path) -> int:
    counts: dict[Path, int] = {}
    for version in (data_dir / "lake").rglob("part-*.parquet"):
        counts[version.parent] = counts.get(version.parent, 0) + 1
    return max(counts.values(), default=0)


def copy_world(source_data: Path, source_home: Path, target: Path) -> tuple[Path, Path]:
    data, home = target / "data", target / "dagster_home"
    shutil.copytree(source_data, data)
    shutil.copytree(source_home, home)
    return data, home


# Imported once by a fork server, then inherited by every refresh it forks (what a parallel step process preloads,
# orchestration.deployment): a new interpreter per refresh spent ~8 CPU-seconds on imports.
REFRESH_PRELOAD = ("refresh_process", *STEP_PRELOAD_MODULES)


@functools.cache
def _fork_server() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(REFRESH_PRELOAD))
    return context


def _refresh_child(argv: list[str], environment: dict[str, str], output: str) -> None:
    """In the forked process: its own session (as a run worker is), the scenario's environment, output to a file."""
    os.setsid()
    os.environ.clear()
    os.environ.update(environment)
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    import refresh_process

    code = refresh_process.main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def run_refresh(
    base_url: str,
    data_dir: Path,
    dagster_home: Path,
    release: str,
    jobs: list[str],
    *,
    crash_at: str | None = None,
    kill_after: float | None = None,
    timeout: float = 600,
) -> tuple[int, str]:
    """Run jobs in a new process (its own session, as a run worker is), forked from a server that imported the
    code once; SIGKILL its whole process group after `kill_after` seconds, or let a crash point kill it. Returns
    (exit code, negative for the signal that killed it; output)."""
    environment = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    environment.pop("GLIOMA_CRASH_AT", None)
    if crash_at:
        environment["GLIOMA_CRASH_AT"] = crash_at
    argv = ["--base-url", base_url, "--data-dir", str(data_dir), "--release", release]
    for job in jobs:
        argv += ["--job", job]
    output = Path(dagster_home).parent / f".refresh-{release}-{time.monotonic_ns()}.log"
    process = _fork_server().Process(target=_refresh_child, args=(argv, environment, str(output)))
    process.start()
    try:
        if kill_after is not None:
            process.join(timeout=kill_after)
            if process.exitcode is None:
                _kill_group(process.pid)
        process.join(timeout=timeout)
        if process.exitcode is None:
            raise TimeoutError(f"refresh of {release} still running after {timeout} s")
    finally:
        _kill_group(process.pid)  # nothing of a killed run lives on
        process.join()
    text = output.read_text(errors="replace") if output.exists() else ""
    output.unlink(missing_ok=True)
    return process.exitcode, text


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is gone (or, killed before its setsid, only the process exists)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
