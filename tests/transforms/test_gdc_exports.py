"""Real GDC exports -> case documents -> the same raw + harmonise path as API pulls."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from transforms import survival as surv
from transforms.gdc_exports import (
    PORTAL_MISSING,
    ExportFormatError,
    api_tsv_case_documents,
    cart_metadata_case_documents,
    clinical_tsv_case_documents,
    clinical_tsv_column_entities,
    document_to_tsv_cells,
    flatten_document,
    unflatten_tsv_row,
)
from transforms.patients import harmonise_patients, reconcile_case_counts
from transforms.raw_tables import raw_cases_table

CLINICAL_EXPORTS = (
    "gdc_clinical_TCGA-GBM_2020-07-31",
    "gdc_clinical_TCGA-LGG_2020-07-31",
    "gdc_clinical_cart_GBMLGG_2020-11-12",
)
CART_METADATA = "metadata.cart.TCGA.GBM-LGG.WGS.bam.2020-07-17.json"


def _read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:] if line]


# --- portal clinical.tsv (real) ------------------------------------------------------------------


@pytest.mark.realdata
def test_clinical_tsv_columns_are_grouped_into_case_demographic_diagnosis_treatment(realdata_dir: Path) -> None:
    header, _ = _read_tsv(realdata_dir / "gdc_exports" / CLINICAL_EXPORTS[2] / "clinical.tsv")
    assert len(header) == 154
    entities = clinical_tsv_column_entities(header)
    assert Counter(entities.values()) == {"case": 3, "demographic": 16, "diagnoses": 116, "treatments": 19}
    assert entities["days_to_death"] == entities["vital_status"] == "demographic"
    assert entities["days_to_last_follow_up"] == entities["tumor_grade"] == "diagnoses"
    assert entities["therapeutic_agents"] == entities["treatment_or_therapy"] == "treatments"


@pytest.mark.realdata
@pytest.mark.parametrize("export", CLINICAL_EXPORTS)
def test_clinical_tsv_is_converted_without_loss(realdata_dir: Path, export: str) -> None:
    """Every non-missing cell appears in the documents (flattened back), and nothing else does."""
    path = realdata_dir / "gdc_exports" / export / "clinical.tsv"
    header, rows = _read_tsv(path)
    documents = clinical_tsv_case_documents(path.read_text(encoding="utf-8"))
    entities = clinical_tsv_column_entities(header)

    # Expected: case/demographic/diagnosis cells once per case; treatment cells once per row.
    expected_case_cells: set[tuple[str, str, str]] = set()
    expected_treatments: Counter = Counter()
    case_at = header.index("case_id")
    for cells in rows:
        case_id = cells[case_at]
        treatment = []
        for column, cell in zip(header, cells, strict=True):
            if cell == PORTAL_MISSING:
                continue
            if entities[column] == "treatments":
                treatment.append((column, cell))
            else:
                expected_case_cells.add((case_id, column, cell))
        expected_treatments[(case_id, tuple(sorted(treatment)))] += 1

    found_case_cells: set[tuple[str, str, str]] = set()
    found_treatments: Counter = Counter()
    leaf_to_column = {"submitter_id": "case_submitter_id", "project.project_id": "project_id", "case_id": "case_id"}
    for document in documents:
        case_id = document["case_id"]
        for path_text, value in flatten_document(document).items():
            parts = path_text.split(".")
            if path_text == "id":
                continue
            if "treatments" in parts:
                continue
            column = leaf_to_column.get(path_text, parts[-1])
            found_case_cells.add((case_id, column, value))
        for diagnosis in document.get("diagnoses", []):
            for treatment in diagnosis.get("treatments", []):
                found_treatments[(case_id, tuple(sorted(treatment.items())))] += 1

    def as_text(cells: set[tuple[str, str, object]]) -> set[tuple[str, str, str]]:
        return {(case, column, _cell_text(value)) for case, column, value in cells}

    assert as_text(found_case_cells) == {(c, col, _cell_text(v)) for c, col, v in expected_case_cells}
    assert Counter(
        {(case, tuple((k, _cell_text(v)) for k, v in items)): n for (case, items), n in found_treatments.items()}
    ) == Counter(
        {(case, tuple((k, _cell_text(v)) for k, v in items)): n for (case, items), n in expected_treatments.items()}
    )
    assert len(documents) == len({cells[case_at] for cells in rows})


def _cell_text(value: object) -> str:
    """Compare typed values with their source cell: numbers numerically, the rest as written."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(float(value))
    try:
        return repr(float(value))  # type: ignore[arg-type]
    except ValueError:
        return str(value)


@pytest.mark.realdata
def test_two_rows_per_case_become_one_case_with_two_treatments(realdata_dir: Path) -> None:
    path = realdata_dir / "gdc_exports" / CLINICAL_EXPORTS[2] / "clinical.tsv"
    _, rows = _read_tsv(path)
    documents = clinical_tsv_case_documents(path.read_text(encoding="utf-8"))
    assert len(rows) == 2 * len(documents) == 1554
    for document in documents:
        assert len(document["diagnoses"]) == 1
        types = sorted(t["treatment_type"] for t in document["diagnoses"][0]["treatments"])
        assert types == ["Pharmaceutical Therapy, NOS", "Radiation Therapy, NOS"]
        assert PORTAL_MISSING not in json.dumps(document)


@pytest.mark.realdata
@pytest.mark.parametrize("export", CLINICAL_EXPORTS)
def test_clinical_tsv_documents_harmonise_and_reconcile(realdata_dir: Path, export: str) -> None:
    text = (realdata_dir / "gdc_exports" / export / "clinical.tsv").read_text(encoding="utf-8")
    raw = raw_cases_table(clinical_tsv_case_documents(text), "2020-export")
    result = harmonise_patients(raw)
    counts = reconcile_case_counts(raw, result.patients, result.quarantine)
    assert counts["reconciles"], counts
    # The export's own traps: `not reported` tumor grade, Not Reported vital status, -1 follow-up.
    patients = result.patients
    assert (
        patients.filter(pl.col("project_id") == "TCGA-LGG").get_column("who_grade").null_count()
        == patients.filter(pl.col("project_id") == "TCGA-LGG").height
    )
    assert set(patients.filter(pl.col("project_id") == "TCGA-GBM").get_column("who_grade_source")) <= {"project_gbm"}
    reasons = set(result.quarantine.get_column("reason"))
    assert reasons <= {surv.NEGATIVE_SURVIVAL_TIME, surv.DEAD_WITHOUT_DEATH_DAY}
    if "LGG" in export or "cart" in export:
        negative = result.quarantine.filter(pl.col("reason") == surv.NEGATIVE_SURVIVAL_TIME)
        assert "TCGA-TQ-A7RS" in negative.get_column("submitter_id").to_list()
        assert set(negative.get_column("value")) == {"-1.0"}
    if "LGG" not in export:
        assert patients.filter(pl.col("survival_rule") == surv.LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED).height >= 1


@pytest.mark.realdata
def test_clinical_tsv_and_the_real_bundle_give_the_same_survival(realdata_dir: Path, real_dev_bundle: Path) -> None:
    text = (realdata_dir / "gdc_exports" / CLINICAL_EXPORTS[2] / "clinical.tsv").read_text(encoding="utf-8")
    from_export = harmonise_patients(raw_cases_table(clinical_tsv_case_documents(text), "45.0")).patients
    bundle_lines = (real_dev_bundle / "releases" / "45.0" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    from_bundle = harmonise_patients(raw_cases_table([json.loads(x) for x in bundle_lines], "45.0")).patients
    columns = [
        "case_id",
        "overall_survival_days",
        "death_observed",
        "survival_rule",
        "sex",
        "race",
        "received_radiation",
        "received_chemotherapy",
        "histology_family",
    ]
    assert from_export.select(columns).sort("case_id").equals(from_bundle.select(columns).sort("case_id"))


def test_clinical_tsv_with_columns_out_of_dictionary_order_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="vital_status"):
        clinical_tsv_column_entities(
            [
                "case_id",
                "case_submitter_id",
                "project_id",
                "age_at_diagnosis",
                "primary_diagnosis",
                "vital_status",
                "age_at_index",
                "treatment_type",
            ]
        )


def test_clinical_tsv_case_whose_demographic_differs_between_rows_is_refused() -> None:
    header = [
        "case_id",
        "case_submitter_id",
        "project_id",
        "gender",
        "vital_status",
        "age_at_diagnosis",
        "primary_diagnosis",
        "treatment_or_therapy",
        "treatment_type",
    ]
    rows = [
        ["c1", "TCGA-01", "TCGA-GBM", "male", "Dead", "100", "Glioblastoma", "yes", "Radiation Therapy, NOS"],
        ["c1", "TCGA-01", "TCGA-GBM", "male", "Alive", "100", "Glioblastoma", "no", "Pharmaceutical Therapy, NOS"],
    ]
    text = "\n".join("\t".join(r) for r in [header, *rows])
    with pytest.raises(ExportFormatError, match="c1.*vital_status"):
        clinical_tsv_case_documents(text)


# --- API-style TSV ---------------------------------------------------------------------------------


def test_dotted_tsv_row_unflattens_to_nested_lists_and_objects() -> None:
    row = {
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "submitter_id": "TCGA-06-0000",
        "project.project_id": "TCGA-GBM",
        "demographic.gender": "male",
        "demographic.days_to_death": "345",
        "diagnoses.0.days_to_last_follow_up": "839.0",
        "diagnoses.0.diagnosis_is_primary_disease": "True",
        "diagnoses.0.treatments.0.treatment_type": "Radiation Therapy, NOS",
        "diagnoses.0.treatments.1.treatment_type": "Pharmaceutical Therapy, NOS",
        "diagnoses.0.treatments.1.therapeutic_agents": "Temozolomide",
        "diagnoses.0.treatments.0.therapeutic_agents": "",
        "disease_type.0": "Gliomas",
        "follow_ups.0.karnofsky_performance_status": "80",
    }
    document = unflatten_tsv_row(row)
    assert document["project"] == {"project_id": "TCGA-GBM"}
    assert document["demographic"] == {"gender": "male", "days_to_death": 345}
    diagnosis = document["diagnoses"][0]
    assert diagnosis["days_to_last_follow_up"] == 839.0 and diagnosis["diagnosis_is_primary_disease"] is True
    assert diagnosis["treatments"] == [
        {"treatment_type": "Radiation Therapy, NOS"},
        {"treatment_type": "Pharmaceutical Therapy, NOS", "therapeutic_agents": "Temozolomide"},
    ]
    assert document["disease_type"] == ["Gliomas"]
    assert document["follow_ups"] == [{"karnofsky_performance_status": "80"}]  # Karnofsky stays a string


def test_underscore_style_of_2016_gives_the_same_document() -> None:
    dotted = {
        "submitter_id": "TCGA-06-0000",
        "project.project_id": "TCGA-GBM",
        "demographic.gender": "female",
        "diagnoses.0.vital_status": "dead",
        "diagnoses.0.days_to_death": "225.0",
        "diagnoses.0.treatments.1.treatment_type": "Radiation Therapy, NOS",
        "follow_ups.0.days_to_follow_up": "12",
    }
    underscore = {column.replace(".", "_"): value for column, value in dotted.items()}
    assert unflatten_tsv_row(underscore, style="underscore") == unflatten_tsv_row(dotted)


def test_api_tsv_text_goes_through_harmonise() -> None:
    text = (
        "id\tsubmitter_id\tproject.project_id\tdemographic.sex_at_birth\tdemographic.vital_status\t"
        "demographic.days_to_death\tdiagnoses.0.primary_diagnosis\tdiagnoses.0.tumor_grade\n"
        "c0ffee00-0000-4000-8000-000000000001\tTCGA-06-0000\tTCGA-GBM\tmale\tDead\t345\tGlioblastoma\tNot Reported\n"
        "c0ffee00-0000-4000-8000-000000000002\tTCGA-DU-0000\tTCGA-LGG\tfemale\tAlive\t\tAstrocytoma, NOS\tG2\n"
    )
    documents = api_tsv_case_documents(text)
    assert documents[0]["case_id"] == documents[0]["id"]
    raw = raw_cases_table(documents, "45.0")
    result = harmonise_patients(raw)
    assert reconcile_case_counts(raw, result.patients, result.quarantine)["reconciles"]
    rows = {row["submitter_id"]: row for row in result.patients.iter_rows(named=True)}
    assert rows["TCGA-06-0000"]["who_grade"] == 4 and rows["TCGA-06-0000"]["overall_survival_days"] == 345.0
    assert rows["TCGA-DU-0000"]["who_grade"] == 2 and rows["TCGA-DU-0000"]["survival_rule"] == surv.NO_FOLLOW_UP


@pytest.mark.realdata
def test_real_bundle_documents_survive_a_dotted_tsv_round_trip(real_dev_bundle: Path) -> None:
    lines = (real_dev_bundle / "releases" / "45.0" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        document = json.loads(line)
        assert unflatten_tsv_row(document_to_tsv_cells(document)) == _without_nulls(document)


def _without_nulls(node: object) -> object:
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None and v != []}
    if isinstance(node, list):
        return [_without_nulls(v) for v in node]
    return node


# --- 2017-era cart metadata -----------------------------------------------------------------------


@pytest.mark.realdata
def test_cart_metadata_cases_merge_per_case_and_harmonise_with_histology_from_morphology(realdata_dir: Path) -> None:
    records = json.loads((realdata_dir / "gdc_exports" / CART_METADATA).read_text(encoding="utf-8"))
    documents = cart_metadata_case_documents(records)
    case_ids = {case["case_id"] for record in records for case in record["cases"]}
    assert len(documents) == len(case_ids) == 82
    samples_in_records = {(c["case_id"], s["sample_id"]) for r in records for c in r["cases"] for s in c["samples"]}
    samples_in_documents = {(d["case_id"], s["sample_id"]) for d in documents for s in d["samples"]}
    assert samples_in_documents == samples_in_records  # nothing lost by merging

    raw = raw_cases_table(documents, "8.0")
    result = harmonise_patients(raw)
    assert reconcile_case_counts(raw, result.patients, result.quarantine)["reconciles"]
    assert result.quarantine.height == 0
    patients = result.patients
    # vital status and death day read from diagnoses (2017 model), lower-case `dead`/`alive`
    assert set(patients.get_column("vital_status")) == {"Alive", "Dead"}
    assert patients.filter(pl.col("vital_status") == "Dead").get_column("death_observed").all()
    # primary_diagnosis holds `c71.x`: histology from the ICD-O morphology, with a note per case
    assert patients.get_column("histology_family").null_count() == 0
    assert set(patients.get_column("primary_diagnosis").str.to_lowercase().str.slice(0, 3)) == {"c71"}
    topography_notes = result.notes.filter(pl.col("field") == "diagnoses.primary_diagnosis")
    assert topography_notes.height == 82


def test_cart_case_copies_that_disagree_are_kept_apart_and_quarantined() -> None:
    case = {
        "case_id": "c1",
        "submitter_id": "TCGA-01",
        "project": {"project_id": "TCGA-GBM"},
        "samples": [{"sample_id": "s1"}],
    }
    other = {**case, "demographic": {"gender": "male"}, "samples": [{"sample_id": "s2"}]}
    documents = cart_metadata_case_documents([{"cases": [case]}, {"cases": [other]}, {"cases": [case]}])
    assert len(documents) == 2
    raw = raw_cases_table(documents, "8.0")
    result = harmonise_patients(raw)
    assert result.patients.height == 0
    assert reconcile_case_counts(raw, result.patients, result.quarantine)["reconciles"]
