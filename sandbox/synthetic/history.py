"""The history of a synthetic cohort across releases (sandbox.synthetic.writer): which pool cases each release
holds, their follow-up, file versions and what changed since the previous release.

A later release changes a share of the cases (`apply_changes`): new cases added, follow-up extended (some
deaths appear), cases removed, new methylation file versions (new UUID, version+1); everything else keeps
its ids. Ids are keyed by the seed (`cohort_namespace`), so an unchanged case or file keeps its id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from sandbox.synthetic import cohort_model as cm
from sandbox.synthetic import documents as docs


@dataclass
class State:
    """What changes between releases of one synthetic history."""

    members: list[int]  # pool indices in this release, in document order
    censor_days: np.ndarray  # follow-up end per pool case
    touched_label: dict[int, str]  # pool index -> label of the release that last changed the case
    file_version: dict[tuple[int, int], int]  # (pool index, sample number) -> version
    case_change: dict[int, str]  # pool index -> change in this release
    removed: list[int]
    died_now: set[int]
    file_change: dict[tuple[int, int], tuple[str, str | None]]  # key -> (change, previous file id)


def cohort_namespace(seed: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"glioma-synthetic-cohort:{seed}")


def methylation_file_id(namespace: uuid.UUID, index: int, sample: int, version: int) -> str:
    return docs.fast_uuid5(namespace, f"file:{index}:{sample}:v{version}")


def initial_state(cohort: cm.Cohort, n_cases: int, label: str) -> State:
    return State(
        members=list(range(n_cases)),
        censor_days=cohort.censor_days.copy(),
        touched_label={i: label for i in range(cohort.n)},
        file_version={},
        case_change={i: "initial" for i in range(n_cases)},
        removed=[],
        died_now=set(),
        file_change={},
    )


CHANGE_KINDS = ("follow_up_updated", "removed", "file_new_version")
CHANGE_KIND_SHARES = (0.5, 0.2, 0.3)  # of the changed existing cases
ADDED_SHARE_OF_CHANGES = 0.2  # new cases, as a share of the changed-case count
FOLLOW_UP_EXTENSION_DAYS = (90, 730)


def apply_changes(
    cohort: cm.Cohort,
    state: State,
    label: str,
    ordinal: int,
    seed: int,
    change_share: float,
    next_new: int,
    namespace: uuid.UUID,
) -> int:
    rng = np.random.default_rng([seed, 0xC4A, ordinal])
    members = np.asarray(state.members, dtype=np.int64)
    n_change = int(round(change_share * len(members)))
    n_added = int(round(ADDED_SHARE_OF_CHANGES * n_change))
    n_existing = min(n_change - n_added, len(members))
    chosen = np.sort(rng.choice(members, n_existing, replace=False)) if n_existing else np.array([], np.int64)
    kinds = rng.choice(len(CHANGE_KINDS), n_existing, p=CHANGE_KIND_SHARES)
    extension = rng.integers(*FOLLOW_UP_EXTENSION_DAYS, n_existing)
    state.case_change, state.removed, state.died_now, state.file_change = {}, [], set(), {}
    removed = set()
    for i, kind, ext in zip(chosen.tolist(), kinds.tolist(), extension.tolist(), strict=True):
        change = CHANGE_KINDS[kind]
        if change == "file_new_version" and not cohort.methylation_profiled[i]:
            change = "follow_up_updated"  # no file to re-version
        if change == "removed":
            removed.add(i)
            continue
        if change == "follow_up_updated":
            before = state.censor_days[i]
            state.censor_days[i] = before + ext
            if before < cohort.true_death_days[i] <= state.censor_days[i]:
                state.died_now.add(i)
        else:
            old_version = state.file_version.get((i, 1), 1)
            state.file_version[(i, 1)] = old_version + 1
            state.file_change[(i, 1)] = ("new_version", methylation_file_id(namespace, i, 1, old_version))
        state.case_change[i] = change
        state.touched_label[i] = label
    added = list(range(next_new, next_new + n_added))
    if added and added[-1] >= cohort.n:
        raise AssertionError("synthetic case pool too small for the requested changes")
    for i in added:
        state.case_change[i] = "added"
        state.touched_label[i] = label
        state.file_change[(i, 1)] = ("added", None)
        state.file_change[(i, 2)] = ("added", None)
    state.removed = sorted(removed)
    state.members = [i for i in state.members if i not in removed] + added
    return next_new + n_added
