"""WHO CNS5 (2021) integrated class of adult-type diffuse gliomas from histology, grade and molecular markers.

Rules (Louis D.N. et al., "The 2021 WHO Classification of Tumors of the Central Nervous System: a summary",
Neuro-Oncology 23:1231-1251, 2021; molecular glioblastoma criteria from cIMPACT-NOW update 3, Brat et al.,
Acta Neuropathol 136:805, 2018), applied in this order:

1. `histology_family` `other` -> not classifiable (not an adult-type diffuse glioma). A null histology is
   taken as "diffuse glioma of unrecorded histology": every TCGA-GBM/LGG case is a diffuse glioma by study
   design, and the molecular branches below do not need the histology.
2. IDH status unknown -> not classifiable (the WHO CNS5 families are defined by IDH first).
3. IDH-mutant (IDH1 R132 / IDH2 R172 hotspot, see transforms.markers):
   * 1p/19q unknown -> not classifiable;
   * 1p/19q-codeleted -> oligodendroglioma, IDH-mutant and 1p/19q-codeleted, CNS WHO grade 2 or 3 from the
     histological grade; a histological grade 4 is reported as grade 3 (the type has no grade 4), noted in
     the basis;
   * 1p/19q intact -> astrocytoma, IDH-mutant, grade 4 if CDKN2A/B homozygous deletion or histological grade
     4 (the former "glioblastoma, IDH-mutant"), else the histological grade 2/3.
   A missing histological grade gives a class with a null grade (said in the basis).
4. IDH-wildtype diffuse glioma:
   * histological glioblastoma (histology_family `glioblastoma`, or histological grade 4 — e.g. TCGA-GBM with
     an unrecorded histology text) -> glioblastoma, IDH-wildtype, grade 4;
   * lower-grade histology (or unrecorded) with EGFR amplification, +7/-10, or TERT promoter mutation ->
     glioblastoma, IDH-wildtype, grade 4 ("molecular glioblastoma"); the basis names the feature(s);
   * none of these features and all three known absent -> not classifiable, NEC;
   * otherwise not classifiable, the reason naming the unknown feature(s). Note: transforms.markers never
     calls the TERT promoter wild type from exome data, so IDH-wildtype lower-grade gliomas without EGFR
     amplification or +7/-10 end here with "TERT promoter status unknown" — honest, as in TCGA many such
     tumours are TERT-promoter-mutant.

`tmz_relevant` = MGMT promoter methylated (predicts temozolomide benefit; null when MGMT is unknown).
"""

from __future__ import annotations

import polars as pl

from contracts.schemas import WHO_CNS5_CLASS_SCHEMA

CLASS_GLIOBLASTOMA = "glioblastoma, IDH-wildtype"
CLASS_ASTROCYTOMA = "astrocytoma, IDH-mutant"
CLASS_OLIGODENDROGLIOMA = "oligodendroglioma, IDH-mutant and 1p/19q-codeleted"
CLASS_NOT_CLASSIFIABLE = "not classifiable"

DIFFUSE_GLIOMA_HISTOLOGIES: tuple[str, ...] = ("glioblastoma", "astrocytoma", "oligodendroglioma", "oligoastrocytoma")

REASON_NOT_DIFFUSE_GLIOMA = "histology is not an adult-type diffuse glioma (histology_family 'other')"
REASON_IDH_UNKNOWN_NO_SSM = "IDH status unknown (no ssm profiling)"
REASON_IDH_UNKNOWN_NO_MARKERS = "IDH status unknown (no molecular marker record)"
REASON_CODELETION_UNKNOWN = "1p/19q status unknown for IDH-mutant case (no cnv profiling)"
REASON_IDH_WILDTYPE_NEC = "IDH-wildtype lower-grade glioma without EGFR amplification, 7+/10- or TERT: NEC"


_MARKER_COLUMNS: tuple[str, ...] = (
    "ssm_profiled",
    "cnv_profiled",
    "idh_status",
    "idh_hotspot",
    "tert_status",
    "codeletion_1p19q",
    "chr7_gain_chr10_loss",
    "egfr_amplified",
    "cdkn2a_homozygous_deletion",
    "mgmt_promoter_methylated",
)


def classify_who_cns5(patients_like: pl.DataFrame, markers: pl.DataFrame) -> pl.DataFrame:
    """One `harmonised/who_cns5_class` row per row of `patients_like` (case_id, project_id, histology_family,
    who_grade; release/submitter_id taken from it when present, else from `markers`)."""
    missing = [c for c in ("case_id", "project_id", "histology_family", "who_grade") if c not in patients_like.columns]
    if missing:
        raise ValueError(f"patients frame: missing column(s) {missing}; got {patients_like.columns}")
    missing = [c for c in ("case_id", "release", "submitter_id", *_MARKER_COLUMNS) if c not in markers.columns]
    if missing:
        raise ValueError(f"markers frame: missing column(s) {missing}; got {markers.columns}")
    duplicated = markers.filter(pl.col("case_id").is_duplicated())["case_id"].unique().to_list()
    if duplicated:
        raise ValueError(f"markers frame: case_id(s) {sorted(duplicated)[:5]} appear more than once")

    patient_columns = ["case_id", "project_id", "histology_family", "who_grade"]
    patient_columns += [c for c in ("release", "submitter_id") if c in patients_like.columns]
    marker_frame = markers.select(
        "case_id",
        pl.col("release").alias("_marker_release"),
        pl.col("submitter_id").alias("_marker_submitter_id"),
        *_MARKER_COLUMNS,
        pl.lit(True).alias("_has_markers"),
    )
    frame = patients_like.select(patient_columns).join(marker_frame, on="case_id", how="left")
    frame = frame.with_columns(
        (pl.coalesce("release", "_marker_release") if "release" in frame.columns else pl.col("_marker_release")).alias(
            "release"
        ),
        (
            pl.coalesce("submitter_id", "_marker_submitter_id")
            if "submitter_id" in frame.columns
            else pl.col("_marker_submitter_id")
        ).alias("submitter_id"),
        pl.col("who_grade").cast(pl.Int8, strict=False).alias("who_grade"),
    )

    histology = pl.col("histology_family")
    grade = pl.col("who_grade")
    idh = pl.col("idh_status")
    codeleted = pl.col("codeletion_1p19q")
    cdkn2a = pl.col("cdkn2a_homozygous_deletion")
    egfr = pl.col("egfr_amplified")
    chr7_10 = pl.col("chr7_gain_chr10_loss")
    tert_mutant = pl.col("tert_status") == "mutant"
    tert_wildtype = pl.col("tert_status") == "wildtype"

    # Which molecular glioblastoma features are present / unknown, as text for basis and reason.
    features_present = pl.concat_str(
        pl.when(egfr.fill_null(False)).then(pl.lit("EGFR amplification")),
        pl.when(chr7_10.fill_null(False)).then(pl.lit("+7/-10")),
        pl.when(tert_mutant.fill_null(False)).then(pl.lit("TERT promoter mutation")),
        separator=", ",
        ignore_nulls=True,
    )
    features_unknown = pl.concat_str(
        pl.when(egfr.is_null()).then(pl.lit("EGFR amplification")),
        pl.when(chr7_10.is_null()).then(pl.lit("7+/10-")),
        pl.when(pl.col("tert_status").is_null()).then(pl.lit("TERT promoter status")),
        separator=", ",
        ignore_nulls=True,
    )
    any_gbm_feature = features_present != ""
    all_gbm_features_absent = (egfr == False) & (chr7_10 == False) & tert_wildtype  # noqa: E712
    idh_text = pl.concat_str(pl.lit("IDH-mutant ("), pl.col("idh_hotspot").fill_null("hotspot"), pl.lit(")"))
    grade_text = grade.cast(pl.String)

    frame = frame.with_columns(
        histology.is_in(["other"]).fill_null(False).alias("_not_diffuse"),
        (idh == "mutant").alias("_idh_mutant"),
        (idh == "wildtype").alias("_idh_wildtype"),
        any_gbm_feature.alias("_any_gbm_feature"),
        all_gbm_features_absent.fill_null(False).alias("_all_absent"),
    )
    oligo = pl.col("_idh_mutant") & (codeleted == True)  # noqa: E712
    astro = pl.col("_idh_mutant") & (codeleted == False)  # noqa: E712
    histological_gbm = (histology == "glioblastoma").fill_null(False) | (grade == 4).fill_null(False)
    gbm_histological = pl.col("_idh_wildtype") & histological_gbm
    gbm_molecular = pl.col("_idh_wildtype") & ~histological_gbm & pl.col("_any_gbm_feature")
    not_diffuse = pl.col("_not_diffuse")
    idh_unknown = idh.is_null()

    who_class = (
        pl.when(not_diffuse | idh_unknown)
        .then(pl.lit(CLASS_NOT_CLASSIFIABLE))
        .when(oligo)
        .then(pl.lit(CLASS_OLIGODENDROGLIOMA))
        .when(astro)
        .then(pl.lit(CLASS_ASTROCYTOMA))
        .when(gbm_histological | gbm_molecular)
        .then(pl.lit(CLASS_GLIOBLASTOMA))
        .otherwise(pl.lit(CLASS_NOT_CLASSIFIABLE))
    )
    who_grade = (
        pl.when(not_diffuse | idh_unknown)
        .then(None)
        .when(oligo)
        .then(pl.when(grade == 4).then(3).when(grade.is_in([2, 3])).then(grade))
        .when(astro)
        .then(pl.when(cdkn2a.fill_null(False) | (grade == 4)).then(4).when(grade.is_in([2, 3])).then(grade))
        .when(gbm_histological | gbm_molecular)
        .then(4)
        .otherwise(None)
        .cast(pl.Int8)
    )
    oligo_grade_note = (
        pl.when(grade == 4)
        .then(pl.lit("histological grade 4 reported as CNS WHO grade 3 (the type has no grade 4)"))
        .when(grade.is_in([2, 3]))
        .then(pl.concat_str(pl.lit("grade "), grade_text, pl.lit(" from histological grade")))
        .otherwise(pl.lit("CNS WHO grade unknown (no histological grade)"))
    )
    astro_grade_note = (
        pl.when(cdkn2a.fill_null(False))
        .then(pl.lit("grade 4 from CDKN2A homozygous deletion"))
        .when(grade == 4)
        .then(pl.lit("grade 4 from histological grade 4"))
        .when(grade.is_in([2, 3]))
        .then(
            pl.concat_str(
                pl.lit("grade "),
                grade_text,
                pl.lit(" from histological grade"),
                pl.when(cdkn2a.is_null()).then(pl.lit(" (CDKN2A status unknown)")).otherwise(pl.lit("")),
            )
        )
        .otherwise(pl.lit("CNS WHO grade unknown (no histological grade)"))
    )
    basis = (
        pl.when(not_diffuse | idh_unknown)
        .then(None)
        .when(oligo)
        .then(pl.concat_str(idh_text, pl.lit(" and 1p/19q-codeleted; "), oligo_grade_note))
        .when(astro)
        .then(pl.concat_str(idh_text, pl.lit(", 1p/19q not codeleted; "), astro_grade_note))
        .when(gbm_histological)
        .then(
            pl.concat_str(
                pl.when(histology == "glioblastoma")
                .then(pl.lit("IDH-wildtype, histological glioblastoma"))
                .otherwise(
                    pl.concat_str(
                        pl.lit("IDH-wildtype "),
                        histology.fill_null("diffuse glioma of unrecorded histology"),
                        pl.lit(" with histological grade 4"),
                    )
                ),
                pl.when(pl.col("_any_gbm_feature"))
                .then(pl.concat_str(pl.lit("; also "), features_present))
                .otherwise(pl.lit("")),
            )
        )
        .when(gbm_molecular)
        .then(
            pl.concat_str(
                pl.lit("IDH-wildtype "),
                histology.fill_null("diffuse glioma of unrecorded histology"),
                pl.lit(" with "),
                features_present,
                pl.lit(" (molecular glioblastoma)"),
            )
        )
        .otherwise(None)
    )
    reason = (
        pl.when(not_diffuse)
        .then(pl.lit(REASON_NOT_DIFFUSE_GLIOMA))
        .when(idh_unknown & pl.col("_has_markers").is_null())
        .then(pl.lit(REASON_IDH_UNKNOWN_NO_MARKERS))
        .when(idh_unknown)
        .then(pl.lit(REASON_IDH_UNKNOWN_NO_SSM))
        .when(pl.col("_idh_mutant") & codeleted.is_null())
        .then(pl.lit(REASON_CODELETION_UNKNOWN))
        .when(pl.col("_idh_mutant") | gbm_histological | gbm_molecular)
        .then(None)
        .when(pl.col("_all_absent"))
        .then(pl.lit(REASON_IDH_WILDTYPE_NEC))
        .otherwise(
            pl.concat_str(
                pl.lit("IDH-wildtype lower-grade glioma, molecular glioblastoma criteria not assessable: "),
                features_unknown,
                pl.lit(" unknown"),
                pl.when(pl.col("cnv_profiled") == False)  # noqa: E712
                .then(pl.lit(" (no cnv profiling)"))
                .otherwise(pl.lit("")),
            )
        )
    )
    out = frame.with_columns(
        who_class.alias("who_cns5_class"),
        who_grade.alias("who_cns5_grade"),
        basis.alias("who_cns5_basis"),
        reason.alias("not_classifiable_reason"),
        pl.col("mgmt_promoter_methylated").alias("tmz_relevant"),
    )
    return out.select([pl.col(name).cast(dtype) for name, dtype in WHO_CNS5_CLASS_SCHEMA.items()])
