"""Check every committed file of a data directory: each version the lake manifest names is read whole and its rows
compared with the content hash in its footer. Prints the damaged files with table and release; exit status 1 when
there is one. `glioma verify` and `python -m warehouse.verify --data-dir DIR` run it.

A damaged partition of the newest release is rebuilt by its next refresh (a refresh writes new versions); one of an
older release is skipped by the comparisons with the past (lake.store.Lake.previous_release) until it is rebuilt.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lake.integrity import LakeCorruptionError, read_verified
from lake.store import Lake, release_sort_key


@dataclass(frozen=True)
class DamagedFile:
    table: str
    release: str
    path: str
    problem: str


@dataclass(frozen=True)
class Verification:
    checked: int
    damaged: list[DamagedFile]
    missing: list[DamagedFile]


def verify_lake(data_dir: Path) -> Verification:
    lake = Lake(Path(data_dir))
    checked, damaged, missing = 0, [], []
    releases = lake.manifest().get("releases", {})
    for release in sorted(releases, key=release_sort_key):
        for table, name in sorted(releases[release].items()):
            path = lake.partition_dir(*table.split("/", 1), release) / name
            if not lake.storage.exists(path):
                missing.append(DamagedFile(table, release, str(path), "committed but missing"))
                continue
            checked += 1
            if not lake.storage.is_local:
                continue  # object-store uploads are whole or absent
            try:
                read_verified(path, path, table, release)
            except LakeCorruptionError as error:
                damaged.append(DamagedFile(table, release, str(path), error.problem))
    return Verification(checked, damaged, missing)


def report(verification: Verification, out: TextIO) -> int:
    bad = [*verification.missing, *verification.damaged]
    for item in bad:
        out.write(f"DAMAGED {item.table} release {item.release}: {item.path} ({item.problem})\n")
    out.write(
        f"verified {verification.checked} committed files: {len(verification.damaged)} damaged, "
        f"{len(verification.missing)} missing\n"
    )
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warehouse.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    return report(verify_lake(args.data_dir), sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
