"""WHO CNS5 (2021) integrated class: one test per branch of the rule set."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from contracts.schemas import MOLECULAR_MARKERS_SCHEMA, WHO_CNS5_CLASS_SCHEMA
from transforms.who_cns5 import (
    CLASS_ASTROCYTOMA,
    CLASS_GLIOBLASTOMA,
    CLASS_NOT_CLASSIFIABLE,
    CLASS_OLIGODENDROGLIOMA,
    REASON_CODELETION_UNKNOWN,
    REASON_IDH_UNKNOWN_NO_MARKERS,
    REASON_IDH_UNKNOWN_NO_SSM,
    REASON_IDH_WILDTYPE_NEC,
    classify_who_cns5,
)

# A fully profiled IDH-wildtype case without any glioblastoma feature; tests override what they need.
BASELINE: dict[str, Any] = {
    "ssm_profiled": True,
    "cnv_profiled": True,
    "idh_status": "wildtype",
    "idh_hotspot": None,
    "tert_status": None,
    "codeletion_1p19q": False,
    "chr7_gain_chr10_loss": False,
    "egfr_amplified": False,
    "cdkn2a_homozygous_deletion": False,
    "mgmt_promoter_methylated": None,
}


def classify_one(histology: str | None, grade: int | None, **markers: Any) -> dict[str, Any]:
    marker_row = {name: None for name in MOLECULAR_MARKERS_SCHEMA} | BASELINE | markers
    marker_row |= {"release": "45.0", "case_id": "C1", "submitter_id": "TCGA-XX-0001", "project_id": "TCGA-LGG"}
    patients = pl.DataFrame(
        [{"case_id": "C1", "project_id": "TCGA-LGG", "histology_family": histology, "who_grade": grade}],
        schema={"case_id": pl.String, "project_id": pl.String, "histology_family": pl.String, "who_grade": pl.Int8},
    )
    result = classify_who_cns5(patients, pl.DataFrame([marker_row], schema=MOLECULAR_MARKERS_SCHEMA))
    assert result.height == 1
    return result.to_dicts()[0]


def test_output_has_the_contract_schema_and_takes_release_and_barcode_from_markers() -> None:
    patients = pl.DataFrame(
        {"case_id": ["C1"], "project_id": ["TCGA-GBM"], "histology_family": ["glioblastoma"], "who_grade": [4]}
    )
    markers = pl.DataFrame(
        [
            {name: None for name in MOLECULAR_MARKERS_SCHEMA}
            | BASELINE
            | {"release": "45.0", "case_id": "C1", "submitter_id": "TCGA-XX-0001"}
        ],
        schema=MOLECULAR_MARKERS_SCHEMA,
    )
    result = classify_who_cns5(patients, markers)
    assert result.schema == pl.Schema(WHO_CNS5_CLASS_SCHEMA)
    assert result.select("release", "case_id", "submitter_id", "project_id").row(0) == (
        "45.0",
        "C1",
        "TCGA-XX-0001",
        "TCGA-GBM",
    )


def test_idh_wildtype_histological_glioblastoma_is_glioblastoma_grade_4() -> None:
    got = classify_one("glioblastoma", 4, chr7_gain_chr10_loss=True)
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_GLIOBLASTOMA, 4)
    assert got["who_cns5_basis"] == "IDH-wildtype, histological glioblastoma; also +7/-10"
    assert got["not_classifiable_reason"] is None


@pytest.mark.parametrize(
    ("feature", "named"),
    [
        ({"egfr_amplified": True}, "EGFR amplification"),
        ({"chr7_gain_chr10_loss": True}, "+7/-10"),
        ({"tert_status": "mutant"}, "TERT promoter mutation"),
    ],
)
def test_idh_wildtype_lower_grade_astrocytoma_with_a_molecular_feature_is_glioblastoma_grade_4(feature, named) -> None:
    got = classify_one("astrocytoma", 2, **feature)
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_GLIOBLASTOMA, 4)
    assert named in got["who_cns5_basis"]
    assert "molecular glioblastoma" in got["who_cns5_basis"]


@pytest.mark.parametrize("histology", [None, "astrocytoma"])
def test_idh_wildtype_with_histological_grade_4_is_glioblastoma_whatever_the_histology_text(histology) -> None:
    got = classify_one(histology, 4)
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_GLIOBLASTOMA, 4)
    assert got["who_cns5_basis"].endswith("with histological grade 4")


def test_idh_wildtype_with_unrecorded_histology_and_egfr_amplification_is_glioblastoma() -> None:
    got = classify_one(None, None, egfr_amplified=True)
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_GLIOBLASTOMA, 4)


@pytest.mark.parametrize(("grade", "expected_grade"), [(2, 2), (3, 3), (4, 3), (None, None)])
def test_idh_mutant_codeleted_is_oligodendroglioma_grade_2_or_3(grade, expected_grade) -> None:
    got = classify_one("oligodendroglioma", grade, idh_status="mutant", idh_hotspot="IDH1 R132H", codeletion_1p19q=True)
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_OLIGODENDROGLIOMA, expected_grade)
    assert got["who_cns5_basis"].startswith("IDH-mutant (IDH1 R132H) and 1p/19q-codeleted")
    if grade == 4:
        assert "histological grade 4 reported as CNS WHO grade 3" in got["who_cns5_basis"]
    if grade is None:
        assert "grade unknown" in got["who_cns5_basis"]


def test_codeleted_idh_mutant_tumour_with_astrocytic_histology_is_still_oligodendroglioma() -> None:
    got = classify_one("astrocytoma", 3, idh_status="mutant", codeletion_1p19q=True)
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_OLIGODENDROGLIOMA, 3)


@pytest.mark.parametrize(
    ("histology", "grade", "cdkn2a", "expected_grade", "basis_part"),
    [
        ("astrocytoma", 2, False, 2, "grade 2 from histological grade"),
        ("astrocytoma", 3, None, 3, "CDKN2A status unknown"),
        ("astrocytoma", 2, True, 4, "grade 4 from CDKN2A homozygous deletion"),
        ("glioblastoma", 4, False, 4, "grade 4 from histological grade 4"),
        ("oligoastrocytoma", None, False, None, "grade unknown"),
    ],
)
def test_idh_mutant_non_codeleted_is_astrocytoma_grade_4_with_cdkn2a_deletion_or_grade_4_histology(
    histology, grade, cdkn2a, expected_grade, basis_part
) -> None:
    got = classify_one(
        histology,
        grade,
        idh_status="mutant",
        idh_hotspot="IDH2 R172K",
        codeletion_1p19q=False,
        cdkn2a_homozygous_deletion=cdkn2a,
    )
    assert (got["who_cns5_class"], got["who_cns5_grade"]) == (CLASS_ASTROCYTOMA, expected_grade)
    assert got["who_cns5_basis"].startswith("IDH-mutant (IDH2 R172K), 1p/19q not codeleted")
    assert basis_part in got["who_cns5_basis"]
    assert got["not_classifiable_reason"] is None


def test_unknown_idh_status_is_not_classifiable_and_says_why() -> None:
    got = classify_one("glioblastoma", 4, ssm_profiled=False, idh_status=None)
    assert (got["who_cns5_class"], got["who_cns5_grade"], got["who_cns5_basis"]) == (CLASS_NOT_CLASSIFIABLE, None, None)
    assert got["not_classifiable_reason"] == REASON_IDH_UNKNOWN_NO_SSM


def test_idh_mutant_without_1p19q_status_is_not_classifiable() -> None:
    got = classify_one("oligodendroglioma", 2, idh_status="mutant", cnv_profiled=False, codeletion_1p19q=None)
    assert got["who_cns5_class"] == CLASS_NOT_CLASSIFIABLE
    assert got["not_classifiable_reason"] == REASON_CODELETION_UNKNOWN


def test_idh_wildtype_lower_grade_glioma_with_all_glioblastoma_features_known_absent_is_nec() -> None:
    got = classify_one("astrocytoma", 2, tert_status="wildtype")
    assert got["who_cns5_class"] == CLASS_NOT_CLASSIFIABLE
    assert got["not_classifiable_reason"] == REASON_IDH_WILDTYPE_NEC


def test_idh_wildtype_lower_grade_glioma_names_the_unknown_glioblastoma_features() -> None:
    tert_unknown = classify_one("oligoastrocytoma", 3)
    assert tert_unknown["who_cns5_class"] == CLASS_NOT_CLASSIFIABLE
    assert tert_unknown["not_classifiable_reason"].endswith("not assessable: TERT promoter status unknown")
    no_cnv = classify_one(
        "astrocytoma", 2, cnv_profiled=False, egfr_amplified=None, chr7_gain_chr10_loss=None, tert_status="wildtype"
    )
    assert no_cnv["not_classifiable_reason"].endswith("EGFR amplification, 7+/10- unknown (no cnv profiling)")


def test_non_diffuse_glioma_histology_is_not_classifiable() -> None:
    got = classify_one("other", 2, idh_status="mutant", codeletion_1p19q=True)
    assert got["who_cns5_class"] == CLASS_NOT_CLASSIFIABLE
    assert "not an adult-type diffuse glioma" in got["not_classifiable_reason"]


@pytest.mark.parametrize("methylated", [True, False, None])
def test_tmz_relevant_is_the_mgmt_promoter_methylation_call(methylated) -> None:
    assert classify_one("glioblastoma", 4, mgmt_promoter_methylated=methylated)["tmz_relevant"] is methylated


def test_a_patient_without_a_marker_row_is_not_classifiable_for_missing_markers() -> None:
    patients = pl.DataFrame(
        {
            "case_id": ["C1", "C2"],
            "project_id": ["TCGA-GBM"] * 2,
            "histology_family": ["glioblastoma"] * 2,
            "who_grade": [4, 4],
        }
    )
    markers = pl.DataFrame(
        [
            {name: None for name in MOLECULAR_MARKERS_SCHEMA}
            | BASELINE
            | {"release": "45.0", "case_id": "C1", "submitter_id": "S1"}
        ],
        schema=MOLECULAR_MARKERS_SCHEMA,
    )
    result = classify_who_cns5(patients, markers).sort("case_id")
    assert result["who_cns5_class"].to_list() == [CLASS_GLIOBLASTOMA, CLASS_NOT_CLASSIFIABLE]
    assert result["not_classifiable_reason"].to_list() == [None, REASON_IDH_UNKNOWN_NO_MARKERS]


def test_missing_patient_columns_are_reported_by_name() -> None:
    with pytest.raises(ValueError, match="histology_family"):
        classify_who_cns5(pl.DataFrame({"case_id": ["C1"], "project_id": ["x"], "who_grade": [4]}), pl.DataFrame())
