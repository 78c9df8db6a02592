"""The ground truth sidecars of a synthetic release (sandbox.synthetic.writer): `_synthetic_truth.parquet`, one
row per case (and per case removed since the previous release) with what the generator drew — subtype,
markers, WHO CNS5 class, survival, the recorded bad value — and `_synthetic_truth_files.parquet`, one row per
methylation file. Tests compare what the lakehouse derives with these.
"""

from __future__ import annotations

import uuid

import numpy as np
import polars as pl

from contracts.panels import MGMT_STP27_PROBES, SSM_PANEL_GENES
from sandbox.synthetic import cohort_model as cm
from sandbox.synthetic import documents as docs
from sandbox.synthetic.defects import Defect
from sandbox.synthetic.history import State

TRUTH_FILE = "_synthetic_truth.parquet"  # one row per case (and per case removed since the previous release)
TRUTH_FILES_FILE = "_synthetic_truth_files.parquet"  # one row per methylation file

FILES_TRUTH_SCHEMA = {
    "release": pl.String,
    "file_id": pl.String,
    "case_id": pl.String,
    "submitter_id": pl.String,
    "sample_submitter_id": pl.String,
    "sample_type": pl.String,
    "platform": pl.String,
    "version": pl.String,
    "md5sum": pl.String,
    "file_size": pl.Int64,
    "mgmt_promoter_methylated": pl.Boolean,
    f"beta_{MGMT_STP27_PROBES[0]}": pl.Float64,
    f"beta_{MGMT_STP27_PROBES[1]}": pl.Float64,
    "stp27_probability": pl.Float64,
    "file_change": pl.String,
    "previous_file_id": pl.String,
}

_WHO_CNS5_CLASS = {
    cm.IDHWT: "glioblastoma, IDH-wildtype",
    cm.IDHMUT_NONCODEL: "astrocytoma, IDH-mutant",
    cm.IDHMUT_CODEL: "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
}


def truth_frame(
    cohort: cm.Cohort,
    state: State,
    label: str,
    members: np.ndarray,
    case_ids: list[str],
    barcodes: list[str],
    project_ids: list[str],
    defects: dict[int, Defect],
    namespace: uuid.UUID,
) -> pl.DataFrame:
    """Latent truth per case of the release, plus rows for cases removed since the previous release."""
    removed = np.asarray(sorted(state.removed), dtype=np.int64)
    idx = np.concatenate([members, removed])
    in_release = np.concatenate([np.ones(len(members), bool), np.zeros(len(removed), bool)])
    censor = state.censor_days[idx]
    death = cohort.true_death_days[idx]
    observed = death <= censor
    mutated = docs.mutated_matrix(cohort)[idx]
    subtype = cohort.subtype[idx]
    # WHO CNS5 2021 (Louis2021), from the complete latent markers: IDH-wt diffuse astrocytic glioma with
    # GBM histology, EGFR amplification, +7/-10 or a TERT promoter mutation -> glioblastoma, grade 4; IDH-wt
    # without them -> not classifiable (NEC); IDH-mut astrocytoma grade 4 with CDKN2A homozygous deletion
    # (or grade 4 histology); oligodendroglioma grade 2/3.
    idh_wt_gbm = (subtype == cm.IDHWT) & (
        cohort.egfr_amplified[idx]
        | cohort.chr7_gain_chr10_loss[idx]
        | cohort.mutated["TERT"][idx]
        | (cohort.who_grade[idx] == 4)
    )
    cns5_class = np.where(
        subtype == cm.IDHWT,
        np.where(idh_wt_gbm, "glioblastoma, IDH-wildtype", "not classifiable"),
        np.where(subtype == cm.IDHMUT_CODEL, _WHO_CNS5_CLASS[cm.IDHMUT_CODEL], _WHO_CNS5_CLASS[cm.IDHMUT_NONCODEL]),
    )
    cns5_grade = np.where(
        subtype == cm.IDHWT,
        np.where(idh_wt_gbm, 4, 0),
        np.where(
            (subtype == cm.IDHMUT_NONCODEL) & cohort.cdkn2a_homozygous_deletion[idx],
            4,
            np.where(subtype == cm.IDHMUT_CODEL, np.minimum(cohort.who_grade[idx], 3), cohort.who_grade[idx]),
        ),
    )
    n_files = cohort.methylation_profiled[idx].astype(int) * (1 + cohort.recurrent_sample[idx].astype(int))
    removed_ids = [docs.fast_uuid5(namespace, f"case:{i}") for i in removed]
    removed_barcodes = [docs.barcode(int(cohort.project[i]), int(i)) for i in removed]
    ordered_defects = [defects.get(pos) for pos in range(len(members))] + [None] * len(removed)
    kps = cohort.karnofsky[idx]
    return pl.DataFrame(
        {
            "release": [label] * len(idx),
            "case_id": case_ids + removed_ids,
            "submitter_id": barcodes + removed_barcodes,
            "project_id": project_ids + [cm.PROJECT_IDS[p] for p in cohort.project[removed]],
            "in_release": in_release,
            "release_change": [state.case_change.get(int(i), "unchanged") for i in members]
            + ["removed"] * len(removed),
            "molecular_subtype": [cm.SUBTYPE_NAMES[s] for s in subtype],
            "idh_status": np.where(cohort.idh_mutant[idx], "mutant", "wildtype"),
            "idh_gene": [g or None for g in cohort.idh_gene[idx]],
            "idh_hotspot": [
                f"{g} {h}" if g else None for g, h in zip(cohort.idh_gene[idx], cohort.idh_hotspot[idx], strict=True)
            ],
            "codeletion_1p19q": cohort.codeletion_1p19q[idx],
            "partial_1p_loss": cohort.partial_1p_loss[idx],
            "egfr_amplified": cohort.egfr_amplified[idx],
            "cdkn2a_homozygous_deletion": cohort.cdkn2a_homozygous_deletion[idx],
            "chr7_gain_chr10_loss": cohort.chr7_gain_chr10_loss[idx],
            "mgmt_promoter_methylated": cohort.mgmt_methylated[idx],
            "who_grade": cohort.who_grade[idx].astype(np.int8),
            "who_cns5_class": cns5_class.astype(str),
            "who_cns5_grade": pl.Series([int(g) or None for g in cns5_grade], dtype=pl.Int8),
            "histology": cohort.histology[idx].astype(str),
            "mutated_genes": _gene_lists(mutated),
            "ssm_profiled": cohort.ssm_profiled[idx],
            "cnv_profiled": cohort.cnv_profiled[idx],
            "methylation_profiled": cohort.methylation_profiled[idx],
            "n_methylation_files": n_files.astype(np.int64),
            "age_at_diagnosis_days": cohort.age_at_diagnosis_days[idx],
            "age_at_diagnosis_years": cohort.age_at_diagnosis_days[idx] / 365.25,
            "sex": np.where(cohort.male[idx], "male", "female"),
            "karnofsky_score": pl.Series([int(k) if k > 0 else None for k in kps], dtype=pl.Int16),
            "received_radiation": [None if r == "not reported" else r == "yes" for r in cohort.radiation[idx]],
            "received_temozolomide": [None if r == "not reported" else r == "yes" for r in cohort.temozolomide[idx]],
            "true_death_days": death,
            "follow_up_end_days": censor,
            "overall_survival_days": np.where(observed, death, censor).astype(np.float64),
            "death_observed": observed,
            "vital_status_reported": ~cohort.vital_status_not_reported[idx],
            "died_since_previous_release": [int(i) in state.died_now for i in idx],
            "defect_kind": [d.kind if d else None for d in ordered_defects],
            "defect_field": [d.field if d else None for d in ordered_defects],
            "defect_value": [None if d is None or d.value is None else str(d.value) for d in ordered_defects],
        }
    )


def _gene_lists(mutated: np.ndarray) -> list[list[str]]:
    """Per row, the SSM_PANEL_GENES symbols that are True (vectorised split of the nonzero entries)."""
    if mutated.shape[0] == 0:
        return []
    rows, cols = np.nonzero(mutated)
    symbols = np.array(SSM_PANEL_GENES, dtype=object)[cols]
    bounds = np.searchsorted(rows, np.arange(1, mutated.shape[0]))
    return [part.tolist() for part in np.split(symbols, bounds)]
