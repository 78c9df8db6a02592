"""Release profiles: where a GDC data release put each clinical field (GDC_API_FACTS section 2.4)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class ReleaseProfile:
    name: str
    # "diagnoses": vital_status, days_to_death, days_to_birth under diagnoses[] (before DR17);
    # "demographic": under the demographic object (DR17 on).
    vital_status_on: str
    sex_fields: tuple[str, ...]  # demographic sex properties present: gender and/or sex_at_birth
    tumor_grade_populated: bool  # G2/G3/G4 (DR42 on) vs "Not Reported" everywhere (up to DR41)
    extra_diagnosis_share: float  # share of cases with a second (`_diagnosis2`) diagnosis
    days_to_last_follow_up_on_diagnoses: bool  # False in DR42 (moved to follow_ups.days_to_follow_up only)
    age_at_index: bool  # demographic.age_at_index exists (re-parsed in DR17)
    status_tag: str  # API software version in /status
    data_release_version_block: bool  # newer /status adds {"major", "minor", "release_date"}


RELEASE_PROFILES: dict[str, ReleaseProfile] = {
    # Before DR17 (Jun 2019): vital status and days_to_death/birth on diagnosis; gender only.
    "pre_dr17": ReleaseProfile("pre_dr17", "diagnoses", ("gender",), False, 0.02, True, False, "1.20.0", False),
    # DR17 - DR41: moved to demographic (dict v1.17); tumor_grade not populated for TCGA.
    "dr17": ReleaseProfile("dr17", "demographic", ("gender",), False, 0.02, True, True, "1.21.0", False),
    # DR42 (Jan 2025): supplement clinical data indexed -> tumor_grade populated, extra diagnoses,
    # days_to_last_follow_up migrated to follow_ups.days_to_follow_up only.
    "dr42": ReleaseProfile("dr42", "demographic", ("gender",), True, 0.25, False, True, "7.2.0", False),
    # DR43 (May 2025): the follow-up migration reverted.
    "dr43": ReleaseProfile("dr43", "demographic", ("gender",), True, 0.02, True, True, "7.9.1", False),
    # DR45 (Dec 2025, dict 3.4.4 live): gender AND sex_at_birth; the real dev bundle has this shape.
    "dr45": ReleaseProfile("dr45", "demographic", ("gender", "sex_at_birth"), True, 0.02, True, True, "8.5.0", True),
    # API 8.5.0 (Jun 2026): demographic.gender removed, sex_at_birth only.
    "api85": ReleaseProfile("api85", "demographic", ("sex_at_birth",), True, 0.02, True, True, "8.5.0", True),
}

# Published release dates (GDC_API_FACTS section 5); 46.0 only seen in fixtures.
RELEASE_DATES: dict[str, date] = {
    "8.0": date(2017, 8, 22),
    "16.0": date(2019, 3, 26),
    "17.0": date(2019, 6, 5),
    "37.0": date(2023, 3, 29),
    "38.0": date(2023, 8, 31),
    "39.0": date(2023, 12, 4),
    "40.0": date(2024, 3, 29),
    "41.0": date(2024, 8, 28),
    "42.0": date(2025, 1, 30),
    "43.0": date(2025, 5, 7),
    "44.0": date(2025, 10, 29),
    "45.0": date(2025, 12, 4),
    "46.0": date(2026, 8, 10),
}

_LABEL = re.compile(r"^(\d+)\.(\d+)$")


def release_date(label: str) -> date:
    """Known GDC date, else ~4 months (recent cadence) per major after the nearest earlier known release
    (or before the earliest), so synthetic dates keep the order of the labels."""
    if label in RELEASE_DATES:
        return RELEASE_DATES[label]
    match = _LABEL.match(label)
    if not match:
        raise ValueError(f"release label {label!r} is not of the form '<major>.<minor>' (e.g. '45.0')")
    major, minor = int(match.group(1)), int(match.group(2))
    known = sorted((tuple(int(x) for x in k.split(".")), d) for k, d in RELEASE_DATES.items())
    earlier = [(v, d) for v, d in known if v <= (major, minor)]
    (ref_major, ref_minor), ref_date = earlier[-1] if earlier else known[0]
    return ref_date + timedelta(days=122 * (major - ref_major) + 14 * (minor - ref_minor))


def status_document(label: str, profile: ReleaseProfile) -> dict:
    """Body of GET /status for a release (day zero-padded as in the real strings)."""
    when = release_date(label)
    match = _LABEL.match(label)
    if not match:
        raise ValueError(f"release label {label!r} is not of the form '<major>.<minor>' (e.g. '45.0')")
    document: dict = {
        "commit": hashlib.sha1(f"synthetic-gdc:{label}:{profile.name}".encode()).hexdigest(),
        "data_release": f"Data Release {label} - {when.strftime('%B')} {when.day:02d}, {when.year}",
        "status": "OK",
        "tag": profile.status_tag,
        "version": 1,
    }
    if profile.data_release_version_block:
        document["data_release_version"] = {
            "major": int(match.group(1)),
            "minor": int(match.group(2)),
            "release_date": when.isoformat(),
        }
    return document
