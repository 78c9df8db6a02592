"""1,000 fuzzed case documents for a release: each is a real-looking synthetic case under a new id with one
defect the harmoniser must reject (a death day before diagnosis, a dead patient without a death day, a
living patient with one, a day that is not a number) plus 0-2 random edits elsewhere; one carries a 1 MB
value in the rejected field."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

GARBAGE: tuple[Any, ...] = (
    "",
    "garbage",
    -5,
    3.7,
    True,
    None,
    [],
    {},
    ["x"],
    "NOT REPORTED",
    "  Unknown ",
    "'--",
    1e308,
    "12abc",
)
MEGABYTE = 1_000_000
FUZZED_ID_PREFIX = "f0220000-0000-4000-8000-"


def _defect(document: dict, kind: str, rng: random.Random) -> None:
    demographic = document.setdefault("demographic", {})
    if kind == "negative_death_day":
        demographic["vital_status"] = "Dead"
        demographic["days_to_death"] = -rng.randint(1, 4000)
    elif kind == "dead_without_death_day":
        demographic["vital_status"] = "Dead"
        demographic.pop("days_to_death", None)
        for diagnosis in document.get("diagnoses") or []:
            diagnosis.pop("days_to_last_follow_up", None)
        document.pop("follow_ups", None)
    elif kind == "alive_with_death_day":
        demographic["vital_status"] = "Alive"
        demographic["days_to_death"] = rng.randint(10, 4000)
    else:  # a death day that is not a number
        demographic["vital_status"] = "Dead"
        demographic["days_to_death"] = rng.choice(["12abc", "soon", "1e5x"])


def _random_edit(document: dict, rng: random.Random) -> None:
    keys = [k for k in document if k not in ("id", "case_id", "submitter_id", "demographic", "project")]
    if keys:
        document[rng.choice(keys)] = rng.choice(GARBAGE)


DEFECTS = ("negative_death_day", "dead_without_death_day", "alive_with_death_day", "non_numeric_death_day")


def write_fuzzed_release(
    source_release: Path, target_root: Path, label: str, *, count: int = 1000, seed: int = 20261201
) -> list[str]:
    """A bundle root serving `label`: the source release plus `count` fuzzed cases. Returns their case ids."""
    import shutil

    release_dir = target_root / "releases" / label
    shutil.copytree(source_release, release_dir)
    (target_root / "CURRENT").write_text(label + "\n")
    originals = [json.loads(line) for line in (source_release / "cases.jsonl").read_text().splitlines() if line]
    rng = random.Random(seed)
    ids, lines = [], []
    for index in range(count):
        document = copy.deepcopy(originals[index % len(originals)])
        case_id = f"{FUZZED_ID_PREFIX}{index:012d}"
        document["id"] = document["case_id"] = case_id
        document["submitter_id"] = f"TCGA-FZ-{index:04d}"
        _defect(document, DEFECTS[index % len(DEFECTS)], rng)
        for _ in range(rng.randint(0, 2)):
            _random_edit(document, rng)
        if index == 7:  # the megabyte value, in the field that gets it rejected
            document["demographic"]["vital_status"] = "Dead"
            document["demographic"]["days_to_death"] = "9" * (MEGABYTE - 1) + "x"
        ids.append(case_id)
        lines.append(json.dumps(document))
    with open(release_dir / "cases.jsonl", "a") as handle:
        handle.write("\n".join(lines) + "\n")
    return ids
