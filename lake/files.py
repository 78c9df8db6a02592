"""Atomic local files: hidden temporaries named with the writer's pid, flushed to disk and renamed into place, and
the removal of temporaries whose writer was killed. The bottom of the lake package: the stores and the catalog write
through it."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def fsync_file(path: Path | str) -> None:
    """Flush a file's data to the disk before it is renamed into place: after a power loss, a rename that
    survived must not point at a file whose blocks did not."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_directory(path: Path | str) -> None:
    """Flush a directory entry (a rename into it) to the disk."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_durably(source: Path | str, target: Path | str) -> None:
    """`os.replace` with the data flushed before and the directory entry after: whole, and still there after a
    power loss, or absent."""
    fsync_file(source)
    os.replace(source, target)
    fsync_directory(Path(target).parent)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp(\.wal)?$")


def temporary_file(target: Path) -> Path:
    """A hidden temporary beside `target` named with this process's pid (`.<name>.<pid>.<random>.tmp`),
    so a later writer can tell the leftovers of a killed process from a write in progress."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    os.chmod(temp_name, 0o644)  # mkstemp makes 0600; published files are for every reader
    return Path(temp_name)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete the temporaries (and DuckDB WALs) in `target`'s directory whose writing process is gone (kill -9,
    OOM). Every version has its own name, so a killed write's temporary is matched by directory, not name."""
    removed = []
    for candidate in target.parent.glob(".*.tmp*"):
        match = _TEMPORARY.match(candidate.name)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or process_alive(pid):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def write_bytes_atomic(data: bytes, target: Path) -> Path:
    temp_name = str(temporary_file(target))
    try:
        with open(temp_name, "wb") as out:
            out.write(data)
        replace_durably(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target
