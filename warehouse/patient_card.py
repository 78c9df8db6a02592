"""The patient card of `glioma patient` (warehouse.cli): one patient's clinical data, molecular markers, WHO
CNS5 class, current scores with their prediction sets, and score history, as plain text.

Unknown values say why they are unknown (not profiled, not recorded), and a score of a patient the model
was trained on says it is in-sample, not a prediction.
"""

from __future__ import annotations

from typing import Any

from warehouse.cli_output import format_table

# The views the card is read from (warehouse.views).
PATIENT_VIEW = "analytics.patient_scores_current"
HISTORY_VIEW = "analytics.score_history"
EXPRESSION_SAMPLES_VIEW = "harmonised.expression_samples_current"
SUBTYPES_VIEW = "harmonised.expression_subtypes_current"


def _yes_no(value: Any, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    return unknown if value is None else yes if value else no


def _number(value: Any, digits: int = 3) -> str:
    return "unknown" if value is None else f"{value:.{digits}f}"


def _set(value: Any) -> str:
    if value is None:
        return "unknown"
    return "{" + ", ".join(value.split("|")) + "}" if value else "{} (empty)"


def _training_flag(value: Any) -> str:
    if value is None:
        return "unknown (model stored before training rows were recorded)"
    return "yes — in-sample score, not a prediction" if value else "no — a genuine prediction"


def _subtype_line(subtype: dict[str, Any] | None) -> list[str]:
    if subtype is None:
        return []
    scores = ", ".join(
        f"{name} {subtype[f'{name}_score']:.3f} (p {subtype[f'{name}_p_value']:.3f})"
        for name in ("classical", "mesenchymal", "proneural")
        if subtype[f"{name}_score"] is not None
    )
    return [
        f"  {'expression subtype':<26}{subtype['subtype']} (ssGSEA, empirical p {subtype['subtype_p_value']:.3f}; "
        f"centroid call {subtype['centroid_subtype']})",
        f"  {'subtype scores':<26}{scores}; ranked among {subtype['n_patients']} patients, "
        f"{subtype['permutations']} random gene sets",
    ]


def _expression_lines(
    samples: list[dict[str, Any]] | None, submitter_id: str, subtype: dict[str, Any] | None = None
) -> list[str]:
    if samples is None:
        return ["  not in this catalog (published before gene expression was ingested)"]
    used = [s for s in samples if s["used"]]
    lines = []
    if not used:
        lines.append("  no RNA-seq expression in the newest published release")
    for s in used:
        lines.append(
            f"  {'sample':<26}{s['sample_submitter_id']} ({s['sample_type']}), aliquot {s['aliquot_submitter_id']}, "
            f"file {s['file_id']}"
        )
        library = s["library_size"]
        reads = "unknown" if library is None else f"{library / 1e6:.1f} million reads"
        lines.append(
            f"  {'genes / library':<26}{s['gene_rows']} genes, {s['genes_detected']} detected, {reads}, "
            f"size factor {_number(s['size_factor'])}"
        )
        lines.append(
            f'  {"values":<26}glioma sql "select gene_name, log2_normalised_count from harmonised.expression_current '
            f"where submitter_id = '{submitter_id}' order by gene_name\""
        )
        lines.extend(_subtype_line(subtype))
    for s in samples:
        if not s["used"]:
            lines.append(
                f"  {'set aside':<26}{s['sample_submitter_id']}, aliquot {s['aliquot_submitter_id']}, "
                f"file {s['file_id']}: {s['set_aside_reason']}"
            )
    return lines


def patient_card(
    patient: dict[str, Any],
    history: list[dict[str, Any]],
    expression: list[dict[str, Any]] | None = None,
    subtype: dict[str, Any] | None = None,
) -> str:
    p = patient
    lines: list[str] = []

    def section(title: str) -> None:
        lines.extend(["", title])

    def item(label: str, value: Any) -> None:
        lines.append(f"  {label:<26}{value}")

    lines.append(f"Patient {p['submitter_id']}  (GDC case {p['case_id']})")
    lines.append(f"  project {p['project_id']}, newest published release {p['release']}")
    section("Clinical")
    item(
        "age at diagnosis",
        "unknown" if p["age_at_diagnosis_years"] is None else f"{p['age_at_diagnosis_years']:.1f} years",
    )
    item("sex", p["sex"] or "unknown")
    item("primary diagnosis", p["primary_diagnosis"] or "unknown")
    item("histology family", p["histology_family"] or "unknown")
    item("WHO grade (recorded)", p["who_grade"] if p["who_grade"] is not None else "unknown")
    item("Karnofsky score", p["karnofsky_score"] if p["karnofsky_score"] is not None else "unknown")
    item(
        "radiation / TMZ / chemo",
        " / ".join(
            _yes_no(p[c], unknown="not recorded")
            for c in ("received_radiation", "received_temozolomide", "received_chemotherapy")
        ),
    )
    survival = (
        "unknown"
        if p["overall_survival_days"] is None
        else (
            f"{p['overall_survival_days']:.0f} days, "
            + (
                "died"
                if p["death_observed"]
                else "censored (alive at last follow-up)"
                if p["death_observed"] is not None
                else "event unknown"
            )
        )
    )
    item("vital status", p["vital_status"] or "unknown")
    item("overall survival", survival)

    section("Molecular markers")
    idh = p["idh_status"] or "not profiled"
    item("IDH", f"{idh} ({p['idh_hotspot']})" if p["idh_hotspot"] else idh)
    item("1p/19q codeletion", _yes_no(p["codeletion_1p19q"], unknown="not profiled"))
    item(
        "ATRX / TP53 / TERT", " / ".join(p[c] or "not profiled" for c in ("atrx_status", "tp53_status", "tert_status"))
    )
    item("7+/10-", _yes_no(p["chr7_gain_chr10_loss"], unknown="not profiled"))
    item("EGFR amplified", _yes_no(p["egfr_amplified"], unknown="not profiled"))
    item("CDKN2A/B homozygous del.", _yes_no(p["cdkn2a_homozygous_deletion"], unknown="not profiled"))
    mgmt = _yes_no(p["mgmt_promoter_methylated"], "methylated", "unmethylated", "unknown")
    if p["mgmt_stp27_probability"] is not None:
        mgmt += f" (STP27 probability {p['mgmt_stp27_probability']:.2f}"
        mgmt += f", source {p['mgmt_source']})" if p["mgmt_source"] else ")"
    elif p["mgmt_source"]:
        mgmt += f" (source {p['mgmt_source']})"
    item("MGMT promoter", mgmt)

    section(f"Gene expression ({EXPRESSION_SAMPLES_VIEW})")
    lines.extend(_expression_lines(expression, p["submitter_id"], subtype))

    section("WHO CNS5 2021")
    item("integrated class", p["who_cns5_class"] or "unknown")
    item("CNS WHO grade", p["who_cns5_grade"] if p["who_cns5_grade"] is not None else "unknown")
    if p["who_cns5_basis"]:
        item("basis", p["who_cns5_basis"])
    if p["not_classifiable_reason"]:
        item("not classifiable because", p["not_classifiable_reason"])
    if p.get("who_cns5_class_status") == "predicted":
        grade = p["who_cns5_grade_or_predicted"]
        item(
            "predicted class",
            f"{p['who_cns5_class_or_predicted']}" + (f", CNS WHO grade {grade}" if grade is not None else ""),
        )
        item("how", p["who_cns5_basis_predicted"])
    if p.get("predicted_molecular_type"):
        item(
            "molecular type (model)",
            f"{p['predicted_molecular_type']}, probability {_number(p['molecular_type_probability'])}, "
            f"conformal set {_set(p['molecular_type_prediction_set'])}, {p['molecular_type_model_version']}; "
            f"trained on this patient: {_training_flag(p['molecular_type_in_training_set'])}",
        )
        item("why", p["molecular_type_explanation"])
    item(
        "MGMT / TMZ",
        {
            True: "MGMT methylated: temozolomide benefit expected",
            False: "MGMT unmethylated: little temozolomide benefit expected",
            None: "unknown (no MGMT call)",
        }[p["tmz_relevant"]],
    )

    section("Grading (champion models, newest release)")
    if p["grading_model_version"] is None:
        lines.append("  not scored yet (no champion grading model has scored this release)")
    else:
        item("P(GBM)", f"{_number(p['grade_probability_gbm'])} -> {p['predicted_class']}")
        coverage = p["conformal_coverage"]
        at = f" at {coverage:.0%} coverage" if coverage is not None else ""
        item("prediction set", f"{_set(p['prediction_set'])}{at}")
        item("why", p["grading_explanation"] or "")
        item("model", p["grading_model_version"])
        item("in training set", _training_flag(p["grading_in_training_set"]))
        grades = ", ".join(
            f"{g}: {_number(p.get(f'grade_probability_{g}'), 2)}" for g in (2, 3, 4) if f"grade_probability_{g}" in p
        )
        item(
            "WHO grade predicted",
            f"{p['predicted_who_grade'] if p['predicted_who_grade'] is not None else 'unknown'} (P {grades})",
        )
        item("grade prediction set", f"{_set(p['grade_prediction_set'])}{at}")
        item("why", p["grade_explanation"] or "")
        item("grade model", p["grade_model_version"] or "none")
        item("in training set", _training_flag(p["grade_in_training_set"]))

    section("Survival risk (champion model, newest release)")
    if p["survival_model_version"] is None:
        lines.append("  not scored yet (no champion survival model has scored this release)")
    else:
        item("risk score", f"{_number(p['survival_risk_score'])} (log relative hazard; higher = worse)")
        item("risk group", p["risk_group"] or "unknown")
        horizons = [c for c in p if c.startswith("survival_probability_")]
        item(
            "survival probability",
            ", ".join(f"{c.removeprefix('survival_probability_')}: {_number(p[c], 2)}" for c in horizons),
        )
        item("why", p["survival_explanation"] or "")
        item("model", p["survival_model_version"])
        item("in training set", _training_flag(p["survival_in_training_set"]))

    section(f"Score history ({HISTORY_VIEW})")
    if not history:
        lines.append("  no scores yet")
    else:
        columns = ["release", "task", "model_version", "model_status", "current", "score", "in_training_set"]
        rows = []
        for h in history:
            if h["task"] == "survival_risk":
                score = f"risk {_number(h['survival_risk_score'])} ({h['risk_group']})"
            else:
                score = f"P(GBM) {_number(h['grade_probability_gbm'])} {h['predicted_class']}, grade {h['predicted_who_grade']}"
            rows.append(
                (
                    h["release"],
                    h["task"],
                    h["model_version"],
                    h["model_status"],
                    "*" if h["is_current"] else "",
                    score,
                    h["in_training_set"],
                )
            )
        lines.extend("  " + line for line in format_table(columns, rows, max_width=0).splitlines())
    return "\n".join(lines) + "\n"
