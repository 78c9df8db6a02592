"""Marker calls and WHO CNS5 classes on the real TCGA dev bundle, checked against the published calls
(Ceccarelli et al., Cell 2016, Table S1 — /work/shared/realdata/tables/ceccarelli2016_dev.csv)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from sandbox.bundle_tables import BundleRawTables, raw_tables_from_bundle
from transforms.markers import call_molecular_markers
from transforms.who_cns5 import CLASS_NOT_CLASSIFIABLE, classify_who_cns5

pytestmark = pytest.mark.realdata

RELEASE = "45.0"
MIN_AGREEMENT = 0.99


@pytest.fixture(scope="module")
def raw_inputs(real_dev_bundle: Path) -> BundleRawTables:
    return raw_tables_from_bundle(real_dev_bundle, RELEASE)


@pytest.fixture(scope="module")
def real_markers(raw_inputs: BundleRawTables):
    return call_molecular_markers(
        raw_inputs.cases,
        raw_inputs.ssm_occurrences,
        raw_inputs.cnv_occurrences,
        raw_inputs.mgmt_probe_betas,
        release=RELEASE,
    )


@pytest.fixture(scope="module")
def published(realdata_dir: Path) -> pl.DataFrame:
    return pl.read_csv(realdata_dir / "tables" / "ceccarelli2016_dev.csv", infer_schema_length=0).rename(
        {"patient": "submitter_id"}
    )


def _agreement(markers: pl.DataFrame, published: pl.DataFrame, ours: pl.Expr, theirs: pl.Expr) -> tuple[int, int]:
    """(n agree, n compared) over cases where both we and the publication made a call."""
    compared = (
        markers.join(published, on="submitter_id", how="inner")
        .select(ours.alias("ours"), theirs.alias("theirs"))
        .drop_nulls()
    )
    return int((compared["ours"] == compared["theirs"]).sum()), compared.height


def test_real_bundle_gives_one_marker_row_per_case_and_no_quarantine(raw_inputs, real_markers) -> None:
    markers = real_markers.markers
    assert markers.height == raw_inputs.cases.height == 777
    assert markers["case_id"].n_unique() == markers.height
    assert markers.filter(pl.col("ssm_profiled")).height == 695
    assert markers.filter(pl.col("cnv_profiled")).height == 765
    assert real_markers.quarantine.height == 0


def test_idh_status_agrees_with_ceccarelli_for_at_least_99_percent(real_markers, published) -> None:
    agree, compared = _agreement(
        real_markers.markers,
        published,
        pl.col("idh_status") == "mutant",
        pl.col("IDH.status").replace_strict({"Mutant": True, "WT": False}, default=None),
    )
    print(f"IDH agreement {agree}/{compared}")
    assert compared >= 680
    assert agree / compared >= MIN_AGREEMENT


def test_1p19q_codeletion_agrees_with_ceccarelli(real_markers, published) -> None:
    agree, compared = _agreement(
        real_markers.markers,
        published,
        pl.col("codeletion_1p19q"),
        pl.col("X1p.19q.codeletion").replace_strict({"codel": True, "non-codel": False}, default=None),
    )
    print(f"1p/19q agreement {agree}/{compared}")
    assert compared == 765
    assert agree / compared >= MIN_AGREEMENT


def test_chr7_gain_chr10_loss_agrees_with_ceccarelli(real_markers, published) -> None:
    agree, compared = _agreement(
        real_markers.markers,
        published,
        pl.col("chr7_gain_chr10_loss"),
        pl.col("Chr.7.gain.Chr.10.loss").replace_strict(
            {"Gain chr 7 & loss chr 10": True, "No combined CNA": False}, default=None
        ),
    )
    print(f"7+/10- agreement {agree}/{compared}")
    assert compared >= 750
    assert agree / compared >= MIN_AGREEMENT


def test_mgmt_stp27_agrees_with_ceccarelli(real_markers, published) -> None:
    agree, compared = _agreement(
        real_markers.markers,
        published,
        pl.col("mgmt_promoter_methylated"),
        pl.col("MGMT.promoter.status").replace_strict({"Methylated": True, "Unmethylated": False}, default=None),
    )
    print(f"MGMT agreement {agree}/{compared}")
    assert compared == 645
    assert agree / compared >= MIN_AGREEMENT
    assert real_markers.markers.filter(pl.col("mgmt_promoter_methylated").is_not_null())[
        "mgmt_source"
    ].unique().to_list() == ["methylation_stp27"]


def test_real_bundle_marker_calls_take_under_two_seconds(raw_inputs) -> None:
    started = time.perf_counter()
    call_molecular_markers(
        raw_inputs.cases,
        raw_inputs.ssm_occurrences,
        raw_inputs.cnv_occurrences,
        raw_inputs.mgmt_probe_betas,
        release=RELEASE,
    )
    elapsed = time.perf_counter() - started
    print(f"call_molecular_markers on the real dev bundle: {elapsed:.3f} s")
    assert elapsed < 2.0


# A minimal patients-like frame from the case documents (the harmonised patients table is another module's):
# histology family from the TCGA primary_diagnosis text, grade from tumor_grade, else 4 for TCGA-GBM.
_HISTOLOGY = {
    "Glioblastoma": "glioblastoma",
    "Astrocytoma, NOS": "astrocytoma",
    "Astrocytoma, anaplastic": "astrocytoma",
    "Oligodendroglioma, NOS": "oligodendroglioma",
    "Oligodendroglioma, anaplastic": "oligodendroglioma",
    "Mixed glioma": "oligoastrocytoma",
}


def _patients_like(raw_cases: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for case in raw_cases.iter_rows(named=True):
        diagnosis = (json.loads(case["document"]).get("diagnoses") or [{}])[0]
        grade = {"G2": 2, "G3": 3, "G4": 4}.get(diagnosis.get("tumor_grade"))
        if grade is None and case["project_id"] == "TCGA-GBM":
            grade = 4
        rows.append(
            {
                "case_id": case["case_id"],
                "project_id": case["project_id"],
                "histology_family": _HISTOLOGY.get(diagnosis.get("primary_diagnosis"), "other"),
                "who_grade": grade,
            }
        )
    return pl.DataFrame(
        rows,
        schema={"case_id": pl.String, "project_id": pl.String, "histology_family": pl.String, "who_grade": pl.Int8},
    )


def test_who_cns5_classes_on_real_bundle_follow_the_published_idh_codel_subtypes(
    raw_inputs, real_markers, published
) -> None:
    classes = classify_who_cns5(_patients_like(raw_inputs.cases), real_markers.markers)
    assert classes.height == 777
    distribution = classes.group_by("who_cns5_class", "who_cns5_grade").len().sort("who_cns5_class", "who_cns5_grade")
    print(distribution)
    print(classes.filter(pl.col("who_cns5_class") == CLASS_NOT_CLASSIFIABLE).group_by("not_classifiable_reason").len())
    # Every classified case has a basis, every unclassified case a reason.
    assert (
        classes.filter((pl.col("who_cns5_class") != CLASS_NOT_CLASSIFIABLE) & pl.col("who_cns5_basis").is_null()).height
        == 0
    )
    assert (
        classes.filter(
            (pl.col("who_cns5_class") == CLASS_NOT_CLASSIFIABLE) & pl.col("not_classifiable_reason").is_null()
        ).height
        == 0
    )
    # The published IDH/codel subtype must map onto our classes where both are called.
    subtype = classes.join(real_markers.markers.select("case_id", "submitter_id"), on="case_id", suffix="_m").join(
        published.select("submitter_id", "IDH.codel.subtype"), on="submitter_id"
    )
    expected = {
        "IDHmut-codel": "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
        "IDHmut-non-codel": "astrocytoma, IDH-mutant",
    }
    called = subtype.filter(
        pl.col("IDH.codel.subtype").is_in(list(expected)) & (pl.col("who_cns5_class") != CLASS_NOT_CLASSIFIABLE)
    )
    agree = called.filter(
        pl.col("who_cns5_class") == pl.col("IDH.codel.subtype").replace_strict(expected, default=None)
    ).height
    print(f"IDH-mutant subtype agreement {agree}/{called.height}")
    assert called.height >= 300
    assert agree / called.height >= MIN_AGREEMENT
