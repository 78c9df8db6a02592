"""Writing small bundles (GDC_BUNDLE.md layout) from documents in memory — for tests of any area."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def status_document(label: str, release_date: str = "2025-12-04", tag: str = "8.5.0") -> dict[str, Any]:
    year, month, day = release_date.split("-")
    return {
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "data_release": f"Data Release {label} - {MONTHS[int(month) - 1]} {day}, {year}",
        "status": "OK",
        "tag": tag,
        "version": 1,
    }


def file_document(file_id: str, content: bytes, **fields: Any) -> dict[str, Any]:
    """A files.jsonl document whose md5sum and file_size match `content`."""
    doc: dict[str, Any] = {
        "id": file_id,
        "file_id": file_id,
        "file_name": f"{file_id}.methylation_array.sesame.level3betas.txt",
        "access": "open",
        "state": "released",
        "version": "1",
        "md5sum": hashlib.md5(content).hexdigest(),
        "file_size": len(content),
    }
    doc.update(fields)
    return doc


def write_release(
    release_dir: Path,
    *,
    status: Mapping[str, Any],
    cases: Sequence[Mapping[str, Any]] = (),
    ssm_occurrences: Sequence[Mapping[str, Any]] | None = None,
    cnv_occurrences: Sequence[Mapping[str, Any]] | None = None,
    files: Sequence[Mapping[str, Any]] | None = None,
    data: Mapping[str, bytes] | None = None,
) -> Path:
    """One release directory; optional files are left out when None (their endpoint then has no hits)."""
    release_dir.mkdir(parents=True, exist_ok=True)
    (release_dir / "status.json").write_text(json.dumps(status), encoding="utf-8")
    for name, docs in (
        ("cases", cases),
        ("ssm_occurrences", ssm_occurrences),
        ("cnv_occurrences", cnv_occurrences),
        ("files", files),
    ):
        if docs is None:
            continue
        with (release_dir / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for doc in docs:
                handle.write(json.dumps(doc) + "\n")
    if data is not None:
        (release_dir / "data").mkdir(exist_ok=True)
        for file_id, content in data.items():
            (release_dir / "data" / file_id).write_bytes(content)
    return release_dir


def write_bundle(root: Path, releases: Mapping[str, Mapping[str, Any]], current: str) -> Path:
    """`root/CURRENT` + `root/releases/<label>/` from {label: write_release keyword arguments}."""
    for label, content in releases.items():
        kwargs = dict(content)
        kwargs.setdefault("status", status_document(label))
        write_release(root / "releases" / label, **kwargs)
    (root / "CURRENT").write_text(current + "\n", encoding="utf-8")
    return root


# ------------------------------------------------------------------------------------------------------------
# A tiny hand-written two-release bundle whose answers are known by heart (used by tests/sandbox).

CASE_GBM_RT_TMZ = "c0ffee00-0000-4000-8000-000000000001"  # GBM, dead, 2 diagnoses, RT + TMZ, follow-ups
CASE_LGG_RT = "c0ffee00-0000-4000-8000-000000000002"  # LGG G2, alive, radiation only, no follow_ups
CASE_LGG_NO_DIAGNOSES = "c0ffee00-0000-4000-8000-000000000003"  # LGG, no diagnoses key at all
CASE_GBM_NO_DEMOGRAPHIC = "c0ffee00-0000-4000-8000-000000000004"  # GBM, no demographic, pharma only
FILE_A = "f11e0000-0000-4000-8000-00000000000a"
FILE_B = "f11e0000-0000-4000-8000-00000000000b"
FILE_CONTROLLED = "f11e0000-0000-4000-8000-00000000000c"


def small_cases() -> list[dict[str, Any]]:
    gbm = {"project_id": "TCGA-GBM", "name": "Glioblastoma Multiforme", "program": {"name": "TCGA"}}
    lgg = {"project_id": "TCGA-LGG", "name": "Brain Lower Grade Glioma", "program": {"name": "TCGA"}}
    return [
        {
            "id": CASE_GBM_RT_TMZ,
            "case_id": CASE_GBM_RT_TMZ,
            "submitter_id": "TCGA-06-0001",
            "project": gbm,
            "disease_type": "Gliomas",
            "primary_site": "Brain",
            "state": "released",
            "available_variation_data": ["ssm", "cnv"],
            "demographic": {
                "submitter_id": "TCGA-06-0001_demographic",
                "gender": "male",
                "sex_at_birth": "male",
                "vital_status": "Dead",
                "days_to_death": 345,
                "race": "white",
                "age_at_index": 62,
                "year_of_death": None,
            },
            "diagnoses": [
                {
                    "submitter_id": "TCGA-06-0001_diagnosis",
                    "age_at_diagnosis": 22894,
                    "tumor_grade": "G4",
                    "primary_diagnosis": "Glioblastoma",
                    "days_to_last_follow_up": 320.0,
                    "classification_of_tumor": "primary",
                    "diagnosis_is_primary_disease": True,
                    "treatments": [
                        {"treatment_type": "Radiation Therapy, NOS", "treatment_or_therapy": "yes"},
                        {
                            "treatment_type": "Pharmaceutical Therapy, NOS",
                            "treatment_or_therapy": "yes",
                            "therapeutic_agents": "Temozolomide",
                        },
                    ],
                },
                {
                    "submitter_id": "TCGA-06-0001_diagnosis2",
                    "age_at_diagnosis": 23100,
                    "tumor_grade": "G4",
                    "primary_diagnosis": "Glioblastoma",
                    "classification_of_tumor": "recurrence",
                    "diagnosis_is_primary_disease": False,
                },
            ],
            "follow_ups": [
                {
                    "submitter_id": "TCGA-06-0001_follow_up",
                    "days_to_follow_up": 320,
                    "karnofsky_performance_status": "80",
                }
            ],
        },
        {
            "id": CASE_LGG_RT,
            "case_id": CASE_LGG_RT,
            "submitter_id": "TCGA-DU-0002",
            "project": lgg,
            "disease_type": "Gliomas",
            "primary_site": "Brain",
            "state": "released",
            "available_variation_data": ["ssm"],
            "demographic": {
                "gender": "female",
                "sex_at_birth": "female",
                "vital_status": "Alive",
                "days_to_death": None,
                "race": "not reported",
                "age_at_index": 33,
            },
            "diagnoses": [
                {
                    "submitter_id": "TCGA-DU-0002_diagnosis",
                    "age_at_diagnosis": 12000,
                    "tumor_grade": "G2",
                    "primary_diagnosis": "Oligodendroglioma, NOS",
                    "days_to_last_follow_up": 2100.0,
                    "diagnosis_is_primary_disease": True,
                    "treatments": [{"treatment_type": "Radiation Therapy, NOS", "treatment_or_therapy": "yes"}],
                }
            ],
        },
        {
            "id": CASE_LGG_NO_DIAGNOSES,
            "case_id": CASE_LGG_NO_DIAGNOSES,
            "submitter_id": "TCGA-DU-0003",
            "project": lgg,
            "disease_type": "Gliomas",
            "primary_site": "Brain",
            "state": "released",
            "demographic": {"gender": "not reported", "vital_status": "Not Reported", "age_at_index": 45},
        },
        {
            "id": CASE_GBM_NO_DEMOGRAPHIC,
            "case_id": CASE_GBM_NO_DEMOGRAPHIC,
            "submitter_id": "TCGA-02-0004",
            "project": gbm,
            "disease_type": "Gliomas",
            "primary_site": "Brain",
            "state": "released",
            "available_variation_data": ["cnv"],
            "diagnoses": [
                {
                    "age_at_diagnosis": 25000,
                    "tumor_grade": "G4",
                    "primary_diagnosis": "Glioblastoma",
                    "treatments": [
                        {"treatment_type": "Pharmaceutical Therapy, NOS", "therapeutic_agents": "Bevacizumab"}
                    ],
                }
            ],
        },
    ]


def _ssm(occurrence: str, case_id: str, barcode: str, project: str, gene: str, aa: str) -> dict[str, Any]:
    return {
        "id": occurrence,
        "ssm_occurrence_id": occurrence,
        "case": {"case_id": case_id, "submitter_id": barcode, "project": {"project_id": project}},
        "ssm": {
            "ssm_id": occurrence.replace("5500", "55aa"),
            "chromosome": "chr2",
            "consequence": [
                {"transcript": {"is_canonical": True, "aa_change": aa, "gene": {"symbol": gene}}},
                {"transcript": {"is_canonical": False, "aa_change": None, "gene": {"symbol": "OVERLAP1"}}},
            ],
        },
    }


def small_bundle(root: Path) -> Path:
    """Release 45.0 (4 cases, 2 ssm, 1 cnv, 3 files) and 46.0 (case 3 gone, `gender` dropped); CURRENT 45.0."""
    content_a = b"cg12434587\t0.81\ncg12981137\t0.77\ncg00000001\tNA\n"
    content_b = b"cg12434587\t0.05\ncg12981137\t0.11\n"
    files = [
        file_document(
            FILE_A,
            content_a,
            data_category="DNA Methylation",
            data_type="Methylation Beta Value",
            data_format="TXT",
            platform="Illumina Human Methylation 450",
            cases=[
                {
                    "case_id": CASE_GBM_RT_TMZ,
                    "project": {"project_id": "TCGA-GBM"},
                    "samples": [{"sample_type": "Primary Tumor", "submitter_id": "TCGA-06-0001-01A"}],
                }
            ],
        ),
        file_document(
            FILE_B,
            content_b,
            data_category="DNA Methylation",
            data_type="Methylation Beta Value",
            data_format="TXT",
            platform="Illumina Human Methylation 27",
            cases=[
                {
                    "case_id": CASE_LGG_RT,
                    "project": {"project_id": "TCGA-LGG"},
                    "samples": [{"sample_type": "Primary Tumor", "submitter_id": "TCGA-DU-0002-01A"}],
                }
            ],
        ),
        file_document(
            FILE_CONTROLLED,
            b"secret",
            access="controlled",
            data_format="BAM",
            cases=[{"case_id": CASE_LGG_RT, "project": {"project_id": "TCGA-LGG"}}],
        ),
    ]
    ssms = [
        _ssm("55000000-0000-4000-8000-000000000001", CASE_GBM_RT_TMZ, "TCGA-06-0001", "TCGA-GBM", "TP53", "R273H"),
        _ssm("55000000-0000-4000-8000-000000000002", CASE_LGG_RT, "TCGA-DU-0002", "TCGA-LGG", "IDH1", "R132H"),
    ]
    cnvs = [
        {
            "id": "c7000000-0000-4000-8000-000000000001",
            "cnv_occurrence_id": "c7000000-0000-4000-8000-000000000001",
            "case": {"case_id": CASE_GBM_NO_DEMOGRAPHIC, "project": {"project_id": "TCGA-GBM"}},
            "cnv": {
                "chromosome": "7",
                "cnv_change": "Gain",
                "cnv_change_5_category": "Amplification",
                "consequence": [{"gene": {"symbol": "EGFR"}}],
            },
        }
    ]
    cases_46 = [c for c in small_cases() if c["id"] != CASE_LGG_NO_DIAGNOSES]
    for case in cases_46:
        case.get("demographic", {}).pop("gender", None)
    return write_bundle(
        root,
        {
            "45.0": {
                "cases": small_cases(),
                "ssm_occurrences": ssms,
                "cnv_occurrences": cnvs,
                "files": files,
                "data": {FILE_A: content_a, FILE_B: content_b, FILE_CONTROLLED: b"secret"},
            },
            "46.0": {"status": status_document("46.0", "2026-08-10"), "cases": cases_46, "ssm_occurrences": ssms},
        },
        current="45.0",
    )
