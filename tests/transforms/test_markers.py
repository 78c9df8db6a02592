"""Marker call rules on small hand-built GDC documents, turned into raw tables by the real raw builders."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.panels import CNV_MARKER_GENES, CNV_PANEL_GENES, SSM_PANEL_GENES
from contracts.schemas import MOLECULAR_MARKERS_SCHEMA, QUARANTINE_SCHEMA, RAW_MGMT_PROBE_BETAS_SCHEMA
from transforms.markers import (
    ARM_CALL_MIN_FRACTION,
    GENES_1P,
    GENES_19Q,
    GENES_CHR7,
    GENES_CHR10,
    STP27_COEFFICIENT_M1,
    STP27_COEFFICIENT_M2,
    STP27_INTERCEPT,
    STP27_METHYLATED_ABOVE,
    MolecularMarkers,
    call_molecular_markers,
)
from transforms.raw_tables import mgmt_probe_rows, raw_cases_table, raw_cnv_occurrences_table, raw_ssm_occurrences_table

RELEASE = "45.0"
M1_PROBE, M2_PROBE = "cg12434587", "cg12981137"
_CHROMOSOME = {g.symbol: g.chromosome for g in CNV_MARKER_GENES}


# --- document builders (shaped as GDC_BUNDLE.md) ---------------------------------------------------------


def case_doc(
    case_id: str,
    variation: Sequence[str] | None = ("ssm", "cnv"),
    *,
    molecular_tests: Sequence[dict[str, Any]] | None = None,
    project: str = "TCGA-LGG",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": case_id,
        "case_id": case_id,
        "submitter_id": f"TCGA-{case_id}",
        "project": {"project_id": project},
        "diagnoses": [{"primary_diagnosis": "Astrocytoma, NOS", "tumor_grade": "G2"}],
    }
    if variation is not None:
        doc["available_variation_data"] = list(variation)
    if molecular_tests is not None:
        doc["follow_ups"] = [{"days_to_follow_up": 100, "molecular_tests": list(molecular_tests)}]
    return doc


def transcript(gene: str, consequence_type: str = "missense_variant", aa_change: str | None = "R1C") -> dict:
    return {
        "transcript": {
            "transcript_id": f"ENST-{gene}",
            "is_canonical": True,
            "aa_change": aa_change,
            "consequence_type": consequence_type,
            "annotation": {"vep_impact": "MODERATE"},
            "gene": {"symbol": gene, "gene_id": f"ENSG-{gene}"},
        }
    }


def ssm_doc(
    occurrence_id: str, case_id: str, consequences: Iterable[dict], *, chromosome: str = "chr2", start: int = 1000
) -> dict[str, Any]:
    return {
        "id": occurrence_id,
        "ssm_occurrence_id": occurrence_id,
        "case": {"case_id": case_id, "submitter_id": f"TCGA-{case_id}", "project": {"project_id": "TCGA-LGG"}},
        "ssm": {
            "ssm_id": f"ssm-{occurrence_id}",
            "chromosome": chromosome,
            "start_position": start,
            "consequence": list(consequences),
        },
    }


def cnv_doc(occurrence_id: str, case_id: str, gene: str, category: str | None, change: str | None = "derive") -> dict:
    if change == "derive":
        change = "Gain" if category in ("Gain", "Amplification") else "Loss"
    return {
        "id": occurrence_id,
        "cnv_occurrence_id": occurrence_id,
        "case": {"case_id": case_id, "submitter_id": f"TCGA-{case_id}", "project": {"project_id": "TCGA-LGG"}},
        "cnv": {
            "cnv_id": f"cnv-{occurrence_id}",
            "chromosome": _CHROMOSOME.get(gene, "1"),
            "cnv_change": change,
            "cnv_change_5_category": category,
            "gene_level_cn": True,
            "consequence": [{"gene": {"symbol": gene}}],
        },
    }


def cnv_docs(case_id: str, genes: Iterable[str], category: str) -> list[dict]:
    return [cnv_doc(f"{case_id}-{category}-{gene}", case_id, gene, category) for gene in genes]


def beta_rows(
    case_id: str,
    file_id: str,
    betas: dict[str, float | None],
    *,
    sample_type: str = "Primary Tumor",
    platform: str = "Illumina Human Methylation 450",
) -> list[dict]:
    file_row = {
        "file_id": file_id,
        "md5sum": "0" * 32,
        "case_id": case_id,
        "submitter_id": f"TCGA-{case_id}",
        "sample_submitter_id": f"TCGA-{case_id}-01A",
        "sample_type": sample_type,
        "platform": platform,
    }
    return mgmt_probe_rows(file_row, betas, RELEASE)


def call(
    cases: Iterable[dict],
    ssm: Iterable[dict] = (),
    cnv: Iterable[dict] = (),
    betas: Iterable[dict] = (),
) -> MolecularMarkers:
    frames = (
        raw_cases_table(cases, RELEASE),
        raw_ssm_occurrences_table(ssm, RELEASE, SSM_PANEL_GENES),
        raw_cnv_occurrences_table(cnv, RELEASE, CNV_PANEL_GENES),
        pl.DataFrame(list(betas), schema=RAW_MGMT_PROBE_BETAS_SCHEMA),
    )
    result = call_molecular_markers(*frames, release=RELEASE)
    # The asset passes lazy scans (documents fetched by row only for what is quarantined): same result.
    assert_same_result(call_molecular_markers(*(frame.lazy() for frame in frames), release=RELEASE), result)
    return result


def assert_same_result(actual: MolecularMarkers, expected: MolecularMarkers) -> None:
    assert_frame_equal(actual.markers, expected.markers)
    # Quarantine parts built by a group_by (conflicting MGMT tests) have no defined row order.
    quarantine_columns = list(QUARANTINE_SCHEMA)
    assert_frame_equal(
        actual.quarantine.sort(quarantine_columns, nulls_last=True),
        expected.quarantine.sort(quarantine_columns, nulls_last=True),
    )


def row(result: MolecularMarkers, case_id: str) -> dict[str, Any]:
    rows = result.markers.filter(pl.col("case_id") == case_id).to_dicts()
    assert len(rows) == 1, f"expected one marker row for {case_id}, got {len(rows)}"
    return rows[0]


def stp27_reference(beta_m1: float, beta_m2: float) -> float:
    """Bady et al. 2012, written out independently of the implementation."""

    def m(beta: float) -> float:
        beta = min(max(beta, 1e-6), 1 - 1e-6)  # clip to the 6-decimal resolution of SeSAMe betas
        return math.log2(beta / (1 - beta))

    logit = 4.3215 + 0.5271 * m(beta_m1) + 0.9265 * m(beta_m2)
    return 1 / (1 + math.exp(-logit))


def beta_from_m(m_value: float) -> float:
    return 2**m_value / (1 + 2**m_value)


# --- schema ----------------------------------------------------------------------------------------------


def test_markers_table_has_exactly_the_contract_columns_and_one_row_per_raw_case() -> None:
    result = call([case_doc("A"), case_doc("B", None), case_doc("C", ["cnv"])])
    assert result.markers.schema == pl.Schema(MOLECULAR_MARKERS_SCHEMA)
    assert [c for c in result.markers.columns if c.startswith("mutation_")] == [
        f"mutation_{g.lower()}" for g in SSM_PANEL_GENES
    ]
    assert result.markers["case_id"].to_list() == ["A", "B", "C"]
    assert result.markers["release"].unique().to_list() == [RELEASE]
    assert result.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert result.quarantine.height == 0


# --- mutations -------------------------------------------------------------------------------------------


def test_gene_is_mutant_with_an_occurrence_wildtype_when_profiled_without_one_and_null_when_not_profiled() -> None:
    result = call(
        [case_doc("MUT"), case_doc("WT"), case_doc("UNPROFILED", ["cnv"]), case_doc("NO_VARIATION_FIELD", None)],
        ssm=[ssm_doc("o1", "MUT", [transcript("TP53", aa_change="R273H")])],
    )
    assert row(result, "MUT")["mutation_tp53"] == "mutant"
    assert row(result, "MUT")["tp53_status"] == "mutant"
    assert row(result, "MUT")["mutation_egfr"] == "wildtype"
    assert row(result, "WT")["mutation_tp53"] == "wildtype"
    assert row(result, "WT")["tp53_status"] == "wildtype"
    for case in ("UNPROFILED", "NO_VARIATION_FIELD"):
        assert row(result, case)["ssm_profiled"] is False
        assert row(result, case)["mutation_tp53"] is None
        assert row(result, case)["idh_status"] is None


def test_consequences_on_other_genes_or_silent_or_noncoding_transcripts_do_not_make_a_gene_mutant() -> None:
    result = call(
        [case_doc("OVERLAP"), case_doc("SILENT"), case_doc("NONCODING"), case_doc("PTEN_CODING")],
        ssm=[
            # An ssm selected for EGFR whose only coding consequence is on an overlapping gene's transcript.
            ssm_doc(
                "o1",
                "OVERLAP",
                [transcript("EGFR", "intron_variant", None), transcript("EGFR-AS1", "missense_variant")],
            ),
            ssm_doc("o2", "SILENT", [transcript("ATRX", "synonymous_variant", "L100L")]),
            ssm_doc("o3", "NONCODING", [transcript("PTEN", "non_coding_transcript_exon_variant", None)]),
            ssm_doc(
                "o4",
                "PTEN_CODING",
                [
                    transcript("PTEN", "missense_variant", "R130Q"),
                    transcript("PTEN", "non_coding_transcript_exon_variant", None),
                ],
            ),
        ],
    )
    assert row(result, "OVERLAP")["mutation_egfr"] == "wildtype"
    assert row(result, "SILENT")["atrx_status"] == "wildtype"
    assert row(result, "NONCODING")["mutation_pten"] == "wildtype"
    assert row(result, "PTEN_CODING")["mutation_pten"] == "mutant"


def test_truncating_consequences_joined_by_vep_count_as_non_silent() -> None:
    result = call(
        [case_doc("A")],
        ssm=[
            ssm_doc(
                "o1",
                "A",
                [
                    transcript("ATRX", "stop_gained&splice_region_variant", "Q10*"),
                    transcript("NF1", "frameshift_variant", "K5fs"),
                ],
            )
        ],
    )
    assert row(result, "A")["atrx_status"] == "mutant"
    assert row(result, "A")["mutation_nf1"] == "mutant"


def test_only_idh1_r132_and_idh2_r172_hotspots_make_a_case_idh_mutant() -> None:
    result = call(
        [case_doc(c) for c in ("R132H", "R172K", "P_PREFIX", "NON_HOTSPOT", "IDH2_R140", "SYNONYMOUS", "NONE")],
        ssm=[
            ssm_doc("o1", "R132H", [transcript("IDH1", aa_change="R132H"), transcript("IDH1", aa_change="R132H")]),
            ssm_doc("o2", "R172K", [transcript("IDH2", aa_change="R172K")]),
            ssm_doc("o3", "P_PREFIX", [transcript("IDH1", aa_change="p.R132C")]),
            ssm_doc("o4", "NON_HOTSPOT", [transcript("IDH1", aa_change="R100Q")]),
            ssm_doc("o5", "IDH2_R140", [transcript("IDH2", aa_change="R140Q")]),
            ssm_doc("o6", "SYNONYMOUS", [transcript("IDH1", "synonymous_variant", aa_change="R132R")]),
        ],
    )
    assert (row(result, "R132H")["idh_status"], row(result, "R132H")["idh_hotspot"]) == ("mutant", "IDH1 R132H")
    assert (row(result, "R172K")["idh_status"], row(result, "R172K")["idh_hotspot"]) == ("mutant", "IDH2 R172K")
    assert (row(result, "P_PREFIX")["idh_status"], row(result, "P_PREFIX")["idh_hotspot"]) == ("mutant", "IDH1 R132C")
    # Non-hotspot IDH mutations are IDH1/IDH2 mutations but not IDH-mutant in the WHO sense.
    assert row(result, "NON_HOTSPOT")["mutation_idh1"] == "mutant"
    assert (row(result, "NON_HOTSPOT")["idh_status"], row(result, "NON_HOTSPOT")["idh_hotspot"]) == ("wildtype", None)
    assert row(result, "IDH2_R140")["idh_status"] == "wildtype"
    assert row(result, "SYNONYMOUS")["idh_status"] == "wildtype"
    assert row(result, "SYNONYMOUS")["mutation_idh1"] == "wildtype"
    assert row(result, "NONE")["idh_status"] == "wildtype"


def test_tert_promoter_is_mutant_only_inside_the_promoter_window_and_never_called_wildtype() -> None:
    result = call(
        [case_doc("C228T"), case_doc("CODING"), case_doc("NONE")],
        ssm=[
            ssm_doc(
                "o1", "C228T", [transcript("TERT", "upstream_gene_variant", None)], chromosome="chr5", start=1_295_113
            ),
            ssm_doc(
                "o2", "CODING", [transcript("TERT", "missense_variant", "A279T")], chromosome="chr5", start=1_280_000
            ),
        ],
    )
    assert row(result, "C228T")["tert_status"] == "mutant"
    assert row(result, "C228T")["mutation_tert"] == "wildtype"  # the coding column ignores promoter variants
    assert row(result, "CODING")["tert_status"] is None
    assert row(result, "CODING")["mutation_tert"] == "mutant"
    assert row(result, "NONE")["tert_status"] is None


# --- copy number -----------------------------------------------------------------------------------------


def _n_genes_for(fraction_lost: float, genes: Sequence[str]) -> int:
    return math.ceil(fraction_lost * len(genes))


def test_codeletion_needs_the_threshold_fraction_of_both_1p_and_19q_marker_genes_lost() -> None:
    enough_1p = _n_genes_for(ARM_CALL_MIN_FRACTION, GENES_1P)
    enough_19q = _n_genes_for(ARM_CALL_MIN_FRACTION, GENES_19Q)
    assert enough_1p < len(GENES_1P)  # the edge case below really is a partial arm
    result = call(
        [case_doc(c) for c in ("AT_EDGE", "BELOW_EDGE", "ONLY_1P", "MIXED_CATEGORIES", "NO_EVENTS")]
        + [case_doc("NO_CNV", ["ssm"])],
        cnv=cnv_docs("AT_EDGE", GENES_1P[:enough_1p], "Heterozygous Deletion")
        + cnv_docs("AT_EDGE", GENES_19Q[:enough_19q], "Loss")
        + cnv_docs("BELOW_EDGE", GENES_1P[: enough_1p - 1], "Heterozygous Deletion")
        + cnv_docs("BELOW_EDGE", GENES_19Q, "Heterozygous Deletion")
        + cnv_docs("ONLY_1P", GENES_1P, "Heterozygous Deletion")
        + cnv_docs("MIXED_CATEGORIES", GENES_1P[:6], "Homozygous Deletion")
        + cnv_docs("MIXED_CATEGORIES", GENES_1P[6:], "Loss")
        + cnv_docs("MIXED_CATEGORIES", GENES_19Q, "Heterozygous Deletion"),
    )
    assert row(result, "AT_EDGE")["codeletion_1p19q"] is True
    assert row(result, "BELOW_EDGE")["codeletion_1p19q"] is False
    assert row(result, "ONLY_1P")["codeletion_1p19q"] is False
    assert row(result, "MIXED_CATEGORIES")["codeletion_1p19q"] is True
    assert row(result, "NO_EVENTS")["codeletion_1p19q"] is False
    assert row(result, "NO_CNV")["codeletion_1p19q"] is None
    assert result.quarantine.height == 0


def test_gains_do_not_count_towards_codeletion_and_a_gene_counts_once() -> None:
    # Twice the same lost gene must not make up for a missing one.
    doubled = cnv_docs("DOUBLED", GENES_1P[:9], "Loss") + [
        cnv_doc("dup", "DOUBLED", GENES_1P[0], "Heterozygous Deletion")
    ]
    result = call(
        [case_doc("GAINED_19Q"), case_doc("DOUBLED")],
        cnv=cnv_docs("GAINED_19Q", GENES_1P, "Loss")
        + cnv_docs("GAINED_19Q", GENES_19Q, "Gain")
        + doubled
        + cnv_docs("DOUBLED", GENES_19Q, "Loss"),
    )
    assert row(result, "GAINED_19Q")["codeletion_1p19q"] is False
    assert row(result, "DOUBLED")["codeletion_1p19q"] is False  # 9/12 distinct genes < 0.8


def test_chr7_gain_with_chr10_loss_is_called_by_majority_of_each_chromosome() -> None:
    result = call(
        [case_doc(c) for c in ("BOTH", "AMPLIFIED_7", "GAIN_7_ONLY", "LOSS_10_ONLY", "TOO_FEW_7", "LOSS_7")],
        cnv=cnv_docs("BOTH", GENES_CHR7, "Gain")
        + cnv_docs("BOTH", GENES_CHR10, "Heterozygous Deletion")
        + cnv_docs("AMPLIFIED_7", [g for g in GENES_CHR7 if g != "EGFR"], "Gain")
        + [cnv_doc("egfr", "AMPLIFIED_7", "EGFR", "Amplification")]
        + cnv_docs("AMPLIFIED_7", GENES_CHR10, "Loss")
        + cnv_docs("GAIN_7_ONLY", GENES_CHR7, "Gain")
        + cnv_docs("LOSS_10_ONLY", GENES_CHR10, "Loss")
        + cnv_docs("TOO_FEW_7", GENES_CHR7[:9], "Gain")
        + cnv_docs("TOO_FEW_7", GENES_CHR10, "Loss")
        + cnv_docs("LOSS_7", GENES_CHR7, "Loss")
        + cnv_docs("LOSS_7", GENES_CHR10, "Loss"),
    )
    assert row(result, "BOTH")["chr7_gain_chr10_loss"] is True
    assert row(result, "AMPLIFIED_7")["chr7_gain_chr10_loss"] is True
    assert row(result, "AMPLIFIED_7")["egfr_amplified"] is True
    assert row(result, "BOTH")["egfr_amplified"] is False  # a plain gain is not an amplification
    assert row(result, "GAIN_7_ONLY")["chr7_gain_chr10_loss"] is False
    assert row(result, "LOSS_10_ONLY")["chr7_gain_chr10_loss"] is False
    assert row(result, "TOO_FEW_7")["chr7_gain_chr10_loss"] is False
    assert row(result, "LOSS_7")["chr7_gain_chr10_loss"] is False  # chromosome 7 must be gained, not just changed


def test_cdkn2a_homozygous_deletion_needs_the_homozygous_category() -> None:
    result = call(
        [case_doc("HOMDEL"), case_doc("HETDEL"), case_doc("NONE"), case_doc("NO_CNV", ["ssm"])],
        cnv=[
            cnv_doc("c1", "HOMDEL", "CDKN2A", "Homozygous Deletion"),
            cnv_doc("c2", "HETDEL", "CDKN2A", "Heterozygous Deletion"),
        ],
    )
    assert row(result, "HOMDEL")["cdkn2a_homozygous_deletion"] is True
    assert row(result, "HETDEL")["cdkn2a_homozygous_deletion"] is False
    assert row(result, "NONE")["cdkn2a_homozygous_deletion"] is False
    none = row(result, "NO_CNV")
    assert (
        none["cnv_profiled"],
        none["cdkn2a_homozygous_deletion"],
        none["egfr_amplified"],
        none["chr7_gain_chr10_loss"],
    ) == (
        False,
        None,
        None,
        None,
    )


def test_missing_5_category_falls_back_to_cnv_change() -> None:
    docs = [cnv_doc(f"c{gene}", "A", gene, None, "Loss") for gene in GENES_1P + GENES_19Q]
    result = call([case_doc("A")], cnv=docs)
    assert row(result, "A")["codeletion_1p19q"] is True
    assert result.quarantine.height == 0


# --- MGMT ------------------------------------------------------------------------------------------------


def test_stp27_probability_matches_the_published_formula() -> None:
    cases = {"LOW": (0.05, 0.10), "MID": (0.30, 0.25), "HIGH": (0.80, 0.70)}
    result = call(
        [case_doc(c) for c in cases],
        betas=[r for c, (b1, b2) in cases.items() for r in beta_rows(c, f"f-{c}", {M1_PROBE: b1, M2_PROBE: b2})],
    )
    assert (STP27_INTERCEPT, STP27_COEFFICIENT_M1, STP27_COEFFICIENT_M2, STP27_METHYLATED_ABOVE) == (
        4.3215,
        0.5271,
        0.9265,
        0.358,
    )
    for case, (b1, b2) in cases.items():
        got = row(result, case)
        assert got["mgmt_stp27_probability"] == pytest.approx(stp27_reference(b1, b2), rel=1e-12)
        assert got["mgmt_promoter_methylated"] is (stp27_reference(b1, b2) > 0.358)
        assert got["mgmt_source"] == "methylation_stp27"
        assert got["mgmt_sources_disagree"] is None
    assert row(result, "LOW")["mgmt_promoter_methylated"] is False
    assert row(result, "HIGH")["mgmt_promoter_methylated"] is True


def test_stp27_threshold_edge_is_strictly_greater_than_0_358() -> None:
    # Choose M2 so that p lands just above / below 0.358 for M1 = 0.
    logit_at_threshold = math.log(0.358 / (1 - 0.358))
    m2_at_threshold = (logit_at_threshold - 4.3215) / 0.9265
    above, below = beta_from_m(m2_at_threshold + 1e-4), beta_from_m(m2_at_threshold - 1e-4)
    result = call(
        [case_doc("ABOVE"), case_doc("BELOW")],
        betas=beta_rows("ABOVE", "fa", {M1_PROBE: 0.5, M2_PROBE: above})
        + beta_rows("BELOW", "fb", {M1_PROBE: 0.5, M2_PROBE: below}),
    )
    assert row(result, "ABOVE")["mgmt_stp27_probability"] == pytest.approx(0.358, abs=1e-4)
    assert row(result, "ABOVE")["mgmt_stp27_probability"] > 0.358
    assert row(result, "ABOVE")["mgmt_promoter_methylated"] is True
    assert row(result, "BELOW")["mgmt_stp27_probability"] < 0.358
    assert row(result, "BELOW")["mgmt_promoter_methylated"] is False


def test_betas_of_exactly_0_or_1_are_clipped_to_a_finite_probability() -> None:
    result = call([case_doc("EDGES")], betas=beta_rows("EDGES", "f", {M1_PROBE: 0.0, M2_PROBE: 1.0}))
    probability = row(result, "EDGES")["mgmt_stp27_probability"]
    assert probability == pytest.approx(stp27_reference(0.0, 1.0), rel=1e-12)
    assert 0.0 < probability < 1.0


def test_an_na_or_absent_probe_gives_a_null_probability_and_no_call() -> None:
    no_row = [r for r in beta_rows("NO_ROW", "f3", {M1_PROBE: 0.6, M2_PROBE: 0.6}) if r["probe_id"] == M1_PROBE]
    result = call(
        [case_doc("NA"), case_doc("ABSENT"), case_doc("NO_ROW")],
        betas=beta_rows("NA", "f1", {M1_PROBE: 0.6, M2_PROBE: None})
        + beta_rows("ABSENT", "f2", {M1_PROBE: 0.6})
        + no_row,
    )
    for case in ("NA", "ABSENT", "NO_ROW"):
        got = row(result, case)
        assert (got["mgmt_stp27_probability"], got["mgmt_promoter_methylated"], got["mgmt_source"]) == (
            None,
            None,
            None,
        )


def test_primary_tumour_file_is_preferred_over_recurrence_and_normal_tissue_is_never_used() -> None:
    primary, recurrent = (0.05, 0.05), (0.9, 0.9)
    result = call(
        [case_doc("TWO_FILES"), case_doc("PRIMARY_NA"), case_doc("NORMAL_ONLY")],
        betas=beta_rows(
            "TWO_FILES", "f-rec", dict(zip((M1_PROBE, M2_PROBE), recurrent, strict=True)), sample_type="Recurrent Tumor"
        )
        + beta_rows("TWO_FILES", "f-pri", dict(zip((M1_PROBE, M2_PROBE), primary, strict=True)))
        + beta_rows("PRIMARY_NA", "g-pri", {M1_PROBE: None, M2_PROBE: 0.1})
        + beta_rows(
            "PRIMARY_NA",
            "g-rec",
            dict(zip((M1_PROBE, M2_PROBE), recurrent, strict=True)),
            sample_type="Recurrent Tumor",
        )
        + beta_rows("NORMAL_ONLY", "h-nor", {M1_PROBE: 0.9, M2_PROBE: 0.9}, sample_type="Solid Tissue Normal"),
    )
    assert row(result, "TWO_FILES")["mgmt_stp27_probability"] == pytest.approx(stp27_reference(*primary))
    assert row(result, "TWO_FILES")["mgmt_promoter_methylated"] is False
    # A primary file without a usable probability does not hide the recurrence's call.
    assert row(result, "PRIMARY_NA")["mgmt_stp27_probability"] == pytest.approx(stp27_reference(*recurrent))
    assert row(result, "NORMAL_ONLY")["mgmt_stp27_probability"] is None


def mgmt_test(result: str, variant_type: str | None = "Methylation") -> dict[str, Any]:
    return {"gene_symbol": "MGMT", "variant_type": variant_type, "test_result": result}


def test_clinical_mgmt_test_is_used_when_there_is_no_array_and_the_array_wins_when_both_exist() -> None:
    methylated = {M1_PROBE: 0.8, M2_PROBE: 0.8}
    result = call(
        [
            case_doc("CLINICAL_ONLY", molecular_tests=[mgmt_test("Positive")]),
            case_doc("CLINICAL_NEGATIVE", molecular_tests=[mgmt_test("Negative", None)]),
            case_doc("AGREE", molecular_tests=[mgmt_test("Methylated")]),
            case_doc("DISAGREE", molecular_tests=[mgmt_test("Negative")]),
            case_doc("UNKNOWN_RESULT", molecular_tests=[mgmt_test("Unknown")]),
            case_doc(
                "OTHER_GENE",
                molecular_tests=[{"gene_symbol": "IDH1", "variant_type": "Mutation, NOS", "test_result": "Positive"}],
            ),
        ],
        betas=beta_rows("AGREE", "fa", methylated) + beta_rows("DISAGREE", "fd", methylated),
    )
    only = row(result, "CLINICAL_ONLY")
    assert (only["mgmt_promoter_methylated"], only["mgmt_source"], only["mgmt_sources_disagree"]) == (
        True,
        "clinical_molecular_test",
        None,
    )
    assert only["mgmt_stp27_probability"] is None
    negative = row(result, "CLINICAL_NEGATIVE")
    assert (negative["mgmt_promoter_methylated"], negative["mgmt_source"]) == (False, "clinical_molecular_test")
    agree = row(result, "AGREE")
    assert (agree["mgmt_promoter_methylated"], agree["mgmt_source"], agree["mgmt_sources_disagree"]) == (
        True,
        "methylation_stp27",
        False,
    )
    disagree = row(result, "DISAGREE")
    assert (disagree["mgmt_promoter_methylated"], disagree["mgmt_source"], disagree["mgmt_sources_disagree"]) == (
        True,
        "methylation_stp27",
        True,
    )
    for case in ("UNKNOWN_RESULT", "OTHER_GENE"):
        got = row(result, case)
        assert (got["mgmt_promoter_methylated"], got["mgmt_source"]) == (None, None)
    assert result.quarantine.height == 0  # "Unknown" is a no-result sentinel, not bad input


def test_unrecognised_or_contradicting_clinical_mgmt_results_are_quarantined_and_give_no_call() -> None:
    result = call(
        [
            case_doc("ODD", molecular_tests=[mgmt_test("Sort of")]),
            case_doc("CONTRADICTING", molecular_tests=[mgmt_test("Positive"), mgmt_test("Negative")]),
        ]
    )
    assert row(result, "ODD")["mgmt_promoter_methylated"] is None
    assert row(result, "CONTRADICTING")["mgmt_promoter_methylated"] is None
    reasons = {r["case_id"]: r for r in result.quarantine.to_dicts()}
    assert reasons["ODD"]["reason"] == "unknown_mgmt_test_result"
    # a part of the case is rejected, not the case: never the whole-case label "raw/gdc_cases"
    assert {r["table"] for r in reasons.values()} == {"raw/gdc_cases (molecular tests)"}
    assert reasons["ODD"]["field"] == "follow_ups.molecular_tests.test_result"
    assert reasons["ODD"]["value"] == "Sort of"
    assert "ODD" in reasons["ODD"]["detail"] and "Sort of" in reasons["ODD"]["detail"]
    assert reasons["CONTRADICTING"]["reason"] == "conflicting_mgmt_tests"
    assert reasons["CONTRADICTING"]["value"] == "Negative, Positive"


# --- quarantine ------------------------------------------------------------------------------------------


def test_orphan_occurrences_are_quarantined_with_case_field_and_value() -> None:
    result = call(
        [case_doc("KNOWN")],
        ssm=[ssm_doc("o-orphan", "GHOST", [transcript("IDH1", aa_change="R132H")])],
        cnv=[cnv_doc("c-orphan", "GHOST", "EGFR", "Amplification")],
        betas=beta_rows("GHOST", "f-orphan", {M1_PROBE: 0.5, M2_PROBE: 0.5}),
    )
    assert result.markers["case_id"].to_list() == ["KNOWN"]
    quarantine = result.quarantine.sort("table", "field")
    assert quarantine["case_id"].unique().to_list() == ["GHOST"]
    ssm = quarantine.filter(pl.col("table") == "raw/gdc_ssm_occurrences").to_dicts()
    assert len(ssm) == 1
    assert (ssm[0]["field"], ssm[0]["value"], ssm[0]["reason"]) == ("case.case_id", "GHOST", "orphan_occurrence")
    assert "o-orphan" in ssm[0]["detail"] and "GHOST" in ssm[0]["detail"]
    assert json.loads(ssm[0]["record"])["ssm_occurrence_id"] == "o-orphan"
    cnv = quarantine.filter(pl.col("table") == "raw/gdc_cnv_occurrences").to_dicts()
    assert [(r["reason"], r["value"]) for r in cnv] == [("orphan_occurrence", "GHOST")]
    betas = quarantine.filter(pl.col("table") == "raw/mgmt_probe_betas")
    assert betas.height == 2  # both probe rows of the file
    assert set(betas["reason"]) == {"orphan_methylation_file"}


def test_occurrences_for_cases_not_profiled_for_that_data_are_quarantined_not_used() -> None:
    result = call(
        [case_doc("CNV_ONLY", ["cnv"]), case_doc("SSM_ONLY", ["ssm"])],
        ssm=[ssm_doc("o1", "CNV_ONLY", [transcript("IDH1", aa_change="R132H")])],
        cnv=[cnv_doc("c1", "SSM_ONLY", "EGFR", "Amplification")],
    )
    assert row(result, "CNV_ONLY")["idh_status"] is None
    assert row(result, "SSM_ONLY")["egfr_amplified"] is None
    records = result.quarantine.sort("case_id").to_dicts()
    assert [(r["case_id"], r["reason"], r["field"]) for r in records] == [
        ("CNV_ONLY", "occurrence_for_unprofiled_case", "case.available_variation_data"),
        ("SSM_ONLY", "occurrence_for_unprofiled_case", "case.available_variation_data"),
    ]
    assert records[0]["value"] == "cnv"


def test_unknown_or_contradictory_cnv_categories_are_quarantined_and_ignored() -> None:
    result = call(
        [case_doc("A")],
        cnv=[
            cnv_doc("c1", "A", "EGFR", "Big Gain", "Gain"),
            cnv_doc("c2", "A", "CDKN2A", "Homozygous Deletion", "Gain"),
            cnv_doc("c3", "A", "PTEN", None, None),
            cnv_doc("c4", "A", "MET", None, "Sideways"),
        ],
    )
    by_reason = {r["reason"]: r for r in result.quarantine.to_dicts()}
    assert set(by_reason) == {
        "unknown_cnv_category",
        "contradictory_cnv_change",
        "missing_cnv_change",
        "unknown_cnv_change",
    }
    assert (by_reason["unknown_cnv_category"]["field"], by_reason["unknown_cnv_category"]["value"]) == (
        "cnv.cnv_change_5_category",
        "Big Gain",
    )
    assert (
        "c1" in by_reason["unknown_cnv_category"]["detail"]
        and "Big Gain" in by_reason["unknown_cnv_category"]["detail"]
    )
    assert by_reason["unknown_cnv_change"]["value"] == "Sideways"
    got = row(result, "A")
    assert (got["egfr_amplified"], got["cdkn2a_homozygous_deletion"]) == (False, False)


def test_betas_outside_0_1_are_quarantined_and_the_file_gets_no_probability() -> None:
    rows = beta_rows("A", "f1", {M1_PROBE: 0.5, M2_PROBE: 0.5})
    rows[1]["beta"] = 1.5
    result = call([case_doc("A")], betas=rows)
    assert row(result, "A")["mgmt_stp27_probability"] is None
    records = result.quarantine.to_dicts()
    assert len(records) == 1
    assert (records[0]["reason"], records[0]["field"], records[0]["value"], records[0]["case_id"]) == (
        "beta_out_of_range",
        "beta",
        "1.5",
        "A",
    )
    assert json.loads(records[0]["record"])["file_id"] == "f1"


def test_an_undecodable_case_document_is_quarantined_and_gets_no_markers_row() -> None:
    # A row of nulls would fail the markers suite's blocking not-null flags and so block the whole release
    # for one bad document; the document is in the quarantine instead (markers rows + quarantined = cases).
    cases = raw_cases_table([case_doc("GOOD"), case_doc("BAD")], RELEASE).with_columns(
        pl.when(pl.col("case_id") == "BAD").then(pl.lit("{not json")).otherwise(pl.col("document")).alias("document")
    )
    empty_ssm = raw_ssm_occurrences_table([], RELEASE)
    empty_cnv = raw_cnv_occurrences_table([], RELEASE)
    result = call_molecular_markers(
        cases, empty_ssm, empty_cnv, pl.DataFrame(schema=RAW_MGMT_PROBE_BETAS_SCHEMA), release=RELEASE
    )
    assert result.markers["case_id"].to_list() == ["GOOD"]
    assert row(result, "GOOD")["ssm_profiled"] is True
    assert result.quarantine.select("case_id", "table", "reason").to_dicts() == [
        {"case_id": "BAD", "table": "raw/gdc_cases (marker fields)", "reason": "undecodable_case_document"}
    ]


def test_duplicate_or_id_less_case_rows_are_left_to_the_patients_quarantine() -> None:
    # transforms.patients rejects whole cases (once each, table raw/gdc_cases); a second record here would
    # break its reconciliation raw cases = patients + quarantined cases.
    cases = raw_cases_table([case_doc("A"), case_doc("A", ["cnv"]), case_doc("B")], RELEASE).with_columns(
        pl.when(pl.col("case_id") == "B").then(None).otherwise(pl.col("case_id")).alias("case_id")
    )
    result = call_molecular_markers(
        cases,
        raw_ssm_occurrences_table([], RELEASE),
        raw_cnv_occurrences_table([], RELEASE),
        pl.DataFrame(schema=RAW_MGMT_PROBE_BETAS_SCHEMA),
        release=RELEASE,
    )
    assert result.markers["case_id"].to_list() == ["A"]
    assert row(result, "A")["ssm_profiled"] is True  # the first document
    assert result.quarantine.height == 0


def test_rows_of_another_release_are_a_wiring_error() -> None:
    cases = raw_cases_table([case_doc("A")], "44.0")
    with pytest.raises(ValueError, match="44.0"):
        call_molecular_markers(
            cases,
            raw_ssm_occurrences_table([], RELEASE),
            raw_cnv_occurrences_table([], RELEASE),
            pl.DataFrame(schema=RAW_MGMT_PROBE_BETAS_SCHEMA),
            release=RELEASE,
        )


def test_a_probe_listed_twice_with_different_betas_is_quarantined_and_gives_no_probability() -> None:
    rows = beta_rows("A", "f1", {M1_PROBE: 0.5, M2_PROBE: 0.5})
    rows.append({**next(r for r in rows if r["probe_id"] == M1_PROBE), "beta": 0.9})
    result = call([case_doc("A")], betas=rows)
    assert row(result, "A")["mgmt_stp27_probability"] is None
    records = result.quarantine.sort("value").to_dicts()
    assert [(r["reason"], r["value"]) for r in records] == [
        ("conflicting_probe_beta", "0.5"),
        ("conflicting_probe_beta", "0.9"),
    ]
    assert all(M1_PROBE in r["detail"] and "f1" in r["detail"] for r in records)
