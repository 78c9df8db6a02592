"""Recorded bad values: the `bad_value_share` knob puts one defect into (in expectation) that share of cases.

Each defect edits the clean case document in place and says which GDC field (dotted path, no list
index, as the quarantine table's `field` column) got which value, so a harmoniser can be checked
against the truth sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.synthetic.keyed import keyed_u64, keyed_uniform
from sandbox.synthetic.profiles import ReleaseProfile

DEFECT_KINDS: tuple[str, ...] = (
    "negative_days_to_last_follow_up",
    "negative_days_to_death",  # dead cases only
    "days_to_death_before_last_follow_up",  # dead cases only
    "dead_without_days_to_death",
    "age_at_diagnosis_over_120_years",
    "vital_status_garbage",
    "missing_submitter_id",
    "bad_barcode",
    "karnofsky_not_a_number",
    "karnofsky_out_of_range",
    "duplicate_case_document",
)
DEAD_ONLY_KINDS = frozenset({"negative_days_to_death", "days_to_death_before_last_follow_up"})


@dataclass(frozen=True)
class Defect:
    kind: str
    field: str
    value: Any  # the bad value as written (None = key removed / null)


def choose_defects(seed: int, members: np.ndarray, share: float, dead: np.ndarray) -> dict[int, str]:
    """Map member position -> defect kind for each case whose keyed draw falls below `share` (so the
    count is Binomial(n, share); the truth sidecar records exactly which cases got which defect).

    Which cases and which kind are keyed by the case (not by its position or the cohort size), so a case
    keeps its defect from release to release and an unchanged case stays byte-identical; dead-only kinds
    drawn for a case without an observed death fall back to a kind that fits it.
    """
    if share <= 0 or len(members) == 0:
        return {}
    chosen = np.flatnonzero(keyed_uniform(seed, "defect-priority", members) < share)
    kind_draw = keyed_u64(seed, "defect-kind", members[chosen])
    any_kinds = [k for k in DEFECT_KINDS if k not in DEAD_ONLY_KINDS]
    out: dict[int, str] = {}
    for position, draw in zip(chosen.tolist(), kind_draw.tolist(), strict=True):
        kind = DEFECT_KINDS[draw % len(DEFECT_KINDS)]
        if kind in DEAD_ONLY_KINDS and not dead[position]:
            kind = any_kinds[(draw // len(DEFECT_KINDS)) % len(any_kinds)]
        out[position] = kind
    return out


def defect_rng(seed: int, case_index: int) -> np.random.Generator:
    """The random stream for one case's bad value (keyed by the case: stable across releases)."""
    return np.random.default_rng([seed, 0xBAD, case_index])


def _primary_diagnosis(doc: dict) -> dict:
    return next(d for d in doc["diagnoses"] if d.get("diagnosis_is_primary_disease", True))


def _last_follow_up(doc: dict) -> dict:
    return max(doc["follow_ups"], key=lambda f: f.get("days_to_follow_up") or 0)


def _survival_holder(doc: dict, profile: ReleaseProfile) -> tuple[dict, str]:
    if profile.vital_status_on == "diagnoses":
        return _primary_diagnosis(doc), "diagnoses"
    return doc["demographic"], "demographic"


def _set_last_follow_up(doc: dict, profile: ReleaseProfile, days: int) -> str:
    if profile.days_to_last_follow_up_on_diagnoses:
        _primary_diagnosis(doc)["days_to_last_follow_up"] = float(days)
        return "diagnoses.days_to_last_follow_up"
    _last_follow_up(doc)["days_to_follow_up"] = days
    return "follow_ups.days_to_follow_up"


def apply_defect(doc: dict, kind: str, profile: ReleaseProfile, rng: np.random.Generator) -> Defect:
    """Put one bad value of `kind` into the case document (which has diagnoses and follow_ups)."""
    if kind == "negative_days_to_last_follow_up":
        value = -int(rng.integers(1, 400))
        return Defect(kind, _set_last_follow_up(doc, profile, value), value)
    if kind == "negative_days_to_death":
        holder, where = _survival_holder(doc, profile)
        value = -int(rng.integers(1, 400))
        holder["days_to_death"] = value
        return Defect(kind, f"{where}.days_to_death", value)
    if kind == "days_to_death_before_last_follow_up":
        holder, _ = _survival_holder(doc, profile)
        value = int(holder["days_to_death"]) + int(rng.integers(30, 700))
        return Defect(kind, _set_last_follow_up(doc, profile, value), value)
    if kind == "dead_without_days_to_death":
        holder, where = _survival_holder(doc, profile)
        holder["vital_status"] = "Dead"
        holder.pop("days_to_death", None)
        if rng.random() < 0.5:
            holder["days_to_death"] = None
        return Defect(kind, f"{where}.days_to_death", None)
    if kind == "age_at_diagnosis_over_120_years":
        value = int(rng.integers(121 * 365, 150 * 365))
        _primary_diagnosis(doc)["age_at_diagnosis"] = value
        return Defect(kind, "diagnoses.age_at_diagnosis", value)
    if kind == "vital_status_garbage":
        holder, where = _survival_holder(doc, profile)
        value = str(rng.choice(["Deadd", "Alvie", "dead?", "D"]))
        holder["vital_status"] = value
        return Defect(kind, f"{where}.vital_status", value)
    if kind == "missing_submitter_id":
        del doc["submitter_id"]
        return Defect(kind, "submitter_id", None)
    if kind == "bad_barcode":
        good = doc["submitter_id"]
        value = str(rng.choice([good.replace("-", "_"), good.lower(), good[:-1], good + "-01A-XX"]))
        doc["submitter_id"] = value
        return Defect(kind, "submitter_id", value)
    if kind in ("karnofsky_not_a_number", "karnofsky_out_of_range"):
        choices = ["abc", "eighty", "n/a!"] if kind == "karnofsky_not_a_number" else ["150", "-10", "1000"]
        value = str(rng.choice(choices))
        # the visit that records the score (or the first one), so the case holds exactly one score
        visit = next((f for f in doc["follow_ups"] if "karnofsky_performance_status" in f), doc["follow_ups"][0])
        visit["karnofsky_performance_status"] = value
        return Defect(kind, "follow_ups.karnofsky_performance_status", value)
    if kind == "duplicate_case_document":
        return Defect(kind, "case_id", doc["case_id"])  # the writer emits the document twice
    raise ValueError(f"unknown defect kind {kind!r}; known: {', '.join(DEFECT_KINDS)}")
