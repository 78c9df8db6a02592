"""The synthetic cohort's joint distributions, read back from the written GDC documents (~2,000 cases)."""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from contracts.panels import CNV_MARKER_GENES, MGMT_STP27_PROBES, cnv_genes_on
from sandbox.synthetic import TRUTH_FILE, TRUTH_FILES_FILE, CohortSpec, write_bundle

N_CASES = 2000


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stp27_methylated(beta_m1: float, beta_m2: float) -> bool:
    """MGMT-STP27 (Bady et al. 2012), written out independently of the generator."""
    m1 = math.log2(beta_m1 / (1 - beta_m1))
    m2 = math.log2(beta_m2 / (1 - beta_m2))
    logit = 4.3215 + 0.5271 * m1 + 0.9265 * m2
    return 1 / (1 + math.exp(-logit)) > 0.358


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("synthetic_bio")
    summary = write_bundle(root, CohortSpec(n_cases=N_CASES, seed=11))
    release = summary.release_dir
    cases = _jsonl(release / "cases.jsonl")
    ssm = _jsonl(release / "ssm_occurrences.jsonl")
    cnv = _jsonl(release / "cnv_occurrences.jsonl")
    files = _jsonl(release / "files.jsonl")
    project = {c["case_id"]: c["project"]["project_id"] for c in cases}
    ssm_profiled = {c["case_id"] for c in cases if "ssm" in c.get("available_variation_data", [])}
    cnv_profiled = {c["case_id"] for c in cases if "cnv" in c.get("available_variation_data", [])}
    mutated: dict[str, set[str]] = defaultdict(set)
    hotspots: Counter = Counter()
    for occurrence in ssm:
        canonical = [c["transcript"] for c in occurrence["ssm"]["consequence"] if c["transcript"]["is_canonical"]]
        assert len(canonical) == 1
        gene = canonical[0]["gene"]["symbol"]
        mutated[gene].add(occurrence["case"]["case_id"])
        if gene == "IDH1":
            hotspots[canonical[0]["aa_change"]] += 1
    calls: dict[str, dict[str, str]] = defaultdict(dict)
    for occurrence in cnv:
        gene = occurrence["cnv"]["consequence"][0]["gene"]["symbol"]
        calls[occurrence["case"]["case_id"]][gene] = occurrence["cnv"]["cnv_change_5_category"]
    truth = pl.read_parquet(release / TRUTH_FILE)
    return dict(
        summary=summary,
        release=release,
        cases=cases,
        ssm=ssm,
        cnv=cnv,
        files=files,
        project=project,
        ssm_profiled=ssm_profiled,
        cnv_profiled=cnv_profiled,
        mutated=mutated,
        hotspots=hotspots,
        calls=calls,
        truth=truth,
        truth_by_case={r["case_id"]: r for r in truth.iter_rows(named=True)},
    )


def _idh_mutant(b: dict, case_id: str) -> bool:
    return case_id in b["mutated"]["IDH1"] or case_id in b["mutated"]["IDH2"]


def _codeleted(b: dict, case_id: str) -> bool:
    genes = b["calls"].get(case_id, {})
    arms = cnv_genes_on("1", "p") + cnv_genes_on("19", "q")
    return all(genes.get(g) == "Heterozygous Deletion" for g in arms)


def _chr7_gain_chr10_loss(b: dict, case_id: str) -> bool:
    genes = b["calls"].get(case_id, {})
    return all(genes.get(g) in ("Gain", "Amplification") for g in cnv_genes_on("7")) and all(
        genes.get(g) == "Heterozygous Deletion" for g in cnv_genes_on("10")
    )


def test_projects_come_in_gdc_proportions(bundle):
    counts = Counter(bundle["project"].values())
    assert counts["TCGA-GBM"] + counts["TCGA-LGG"] == N_CASES
    assert 0.50 <= counts["TCGA-GBM"] / N_CASES <= 0.59  # GDC 617 / 1133 = 0.545
    assert bundle["summary"].cases_per_project == dict(counts)


def test_idh_mutation_share_is_high_in_lgg_and_low_in_gbm(bundle):
    by_project = defaultdict(list)
    for case_id in bundle["ssm_profiled"]:
        by_project[bundle["project"][case_id]].append(_idh_mutant(bundle, case_id))
    assert 0.70 <= np.mean(by_project["TCGA-LGG"]) <= 0.84
    assert 0.03 <= np.mean(by_project["TCGA-GBM"]) <= 0.13


def test_idh1_r132h_is_the_dominant_hotspot_with_some_other_r132_changes(bundle):
    total = sum(bundle["hotspots"].values())
    assert bundle["hotspots"]["R132H"] / total >= 0.8
    assert set(bundle["hotspots"]) - {"R132H"} <= {"R132C", "R132G", "R132S"}
    assert len(set(bundle["hotspots"]) - {"R132H"}) >= 1


def test_every_ssm_lists_a_canonical_and_a_non_canonical_transcript_of_a_panel_gene(bundle):
    from contracts.panels import SSM_PANEL_GENES

    for occurrence in bundle["ssm"][:500]:
        transcripts = [c["transcript"] for c in occurrence["ssm"]["consequence"]]
        assert sorted(t["is_canonical"] for t in transcripts) == [False, True]
        assert {t["gene"]["symbol"] for t in transcripts} <= set(SSM_PANEL_GENES)
        assert occurrence["ssm"]["chromosome"].startswith("chr")
        assert occurrence["case"]["case_id"] in bundle["ssm_profiled"]


def test_codeletion_only_occurs_with_idh_mutation_and_in_about_a_third_of_idh_mutant_lgg(bundle):
    codeleted = [c for c in bundle["cnv_profiled"] if _codeleted(bundle, c)]
    assert codeleted
    for case_id in codeleted:
        assert bundle["truth_by_case"][case_id]["idh_status"] == "mutant"
        if case_id in bundle["ssm_profiled"]:
            assert _idh_mutant(bundle, case_id), case_id
    idh_mut_lgg = [
        c
        for c in bundle["cnv_profiled"] & bundle["ssm_profiled"]
        if bundle["project"][c] == "TCGA-LGG" and _idh_mutant(bundle, c)
    ]
    share = np.mean([_codeleted(bundle, c) for c in idh_mut_lgg])
    assert 0.28 <= share <= 0.46


def test_partial_1p_loss_exists_without_being_a_codeletion(bundle):
    partial = [
        c
        for c, genes in bundle["calls"].items()
        if any(genes.get(g) == "Heterozygous Deletion" for g in cnv_genes_on("1", "p")) and not _codeleted(bundle, c)
    ]
    assert partial
    assert not any(bundle["truth_by_case"][c]["codeletion_1p19q"] for c in partial)


def test_chr7_gain_chr10_loss_and_egfr_amplification_are_mostly_idh_wildtype(bundle):
    seven_ten = [c for c in bundle["cnv_profiled"] & bundle["ssm_profiled"] if _chr7_gain_chr10_loss(bundle, c)]
    assert len(seven_ten) > 300
    assert np.mean([not _idh_mutant(bundle, c) for c in seven_ten]) >= 0.9
    amplified = [c for c, genes in bundle["calls"].items() if genes.get("EGFR") == "Amplification"]
    assert np.mean([bundle["truth_by_case"][c]["idh_status"] == "wildtype" for c in amplified]) >= 0.9
    assert np.mean([bundle["project"][c] == "TCGA-GBM" for c in amplified]) >= 0.75
    homdel = [c for c, genes in bundle["calls"].items() if genes.get("CDKN2A") == "Homozygous Deletion"]
    assert np.mean([bundle["truth_by_case"][c]["idh_status"] == "wildtype" for c in homdel]) >= 0.85


def test_atrx_tp53_mark_non_codeleted_and_cic_fubp1_mark_codeleted_tumours(bundle):
    profiled = bundle["cnv_profiled"] & bundle["ssm_profiled"]
    codel = [c for c in profiled if _codeleted(bundle, c)]
    noncodel_mut = [c for c in profiled if _idh_mutant(bundle, c) and not _codeleted(bundle, c)]

    def share(gene, group):
        return np.mean([c in bundle["mutated"][gene] for c in group])

    assert share("ATRX", noncodel_mut) >= 0.7 and share("ATRX", codel) <= 0.06
    assert share("TP53", noncodel_mut) >= 0.8 and share("TP53", codel) <= 0.1
    assert share("CIC", codel) >= 0.45 and share("CIC", noncodel_mut) <= 0.06
    assert share("FUBP1", codel) >= 0.15 and share("FUBP1", noncodel_mut) <= 0.04


def test_cnv_occurrences_use_panel_positions_and_gdc_vocabulary(bundle):
    panel = {g.symbol: g for g in CNV_MARKER_GENES}
    for occurrence in bundle["cnv"][:2000]:
        cnv = occurrence["cnv"]
        gene = panel[cnv["consequence"][0]["gene"]["symbol"]]
        assert (cnv["chromosome"], cnv["start_position"], cnv["end_position"]) == (
            gene.chromosome,
            gene.start_position,
            gene.end_position,
        )
        assert cnv["consequence"][0]["gene"]["gene_id"] == gene.gene_id
        assert (cnv["cnv_change"], cnv["cnv_change_5_category"]) in {
            ("Gain", "Gain"),
            ("Gain", "Amplification"),
            ("Loss", "Heterozygous Deletion"),
            ("Loss", "Homozygous Deletion"),
        }
        assert occurrence["case"]["case_id"] in bundle["cnv_profiled"]


def test_some_cases_are_not_profiled_for_ssm_or_cnv(bundle):
    not_ssm = N_CASES - len(bundle["ssm_profiled"])
    assert 0.005 * N_CASES <= not_ssm <= 0.035 * N_CASES
    assert len(bundle["cnv_profiled"]) < N_CASES


def test_age_at_diagnosis_depends_on_tumour_type(bundle):
    ages = defaultdict(list)
    for case in bundle["cases"]:
        ages[case["project"]["project_id"]].append(case["demographic"]["age_at_index"])
    assert 56 <= statistics.median(ages["TCGA-GBM"]) <= 64
    assert 35 <= statistics.median(ages["TCGA-LGG"]) <= 46


def test_mgmt_methylation_by_stp27_matches_truth_for_every_file_and_has_realistic_shares(bundle):
    truth_files = pl.read_parquet(bundle["release"] / TRUTH_FILES_FILE)
    intended = dict(zip(truth_files["file_id"], truth_files["mgmt_promoter_methylated"], strict=True))
    called_by_case = {}
    for document in bundle["files"]:
        betas = {}
        for line in (bundle["release"] / "data" / document["file_id"]).read_text().splitlines():
            probe, value = line.split("\t")
            if probe in MGMT_STP27_PROBES:
                betas[probe] = float(value)
        called = stp27_methylated(betas[MGMT_STP27_PROBES[0]], betas[MGMT_STP27_PROBES[1]])
        assert called == intended[document["file_id"]], document["file_id"]
        assert called == bundle["truth_by_case"][document["cases"][0]["case_id"]]["mgmt_promoter_methylated"]
        called_by_case[document["cases"][0]["case_id"]] = called
    gbm = [v for c, v in called_by_case.items() if bundle["project"][c] == "TCGA-GBM"]
    lgg = [v for c, v in called_by_case.items() if bundle["project"][c] == "TCGA-LGG"]
    assert 0.35 <= np.mean(gbm) <= 0.55  # Hegi 2005: ~45 %
    assert 0.75 <= np.mean(lgg) <= 0.92  # ~85 %


def test_methylation_files_match_md5_size_and_format(bundle):
    positions = []
    for document in bundle["files"]:
        data = (bundle["release"] / "data" / document["file_id"]).read_bytes()
        assert hashlib.md5(data).hexdigest() == document["md5sum"]
        assert len(data) == document["file_size"]
        assert document["file_name"] == f"{document['file_id']}.methylation_array.sesame.level3betas.txt"
        lines = data.decode().splitlines()
        probes = [line.split("\t")[0] for line in lines]
        assert probes == sorted(probes) and len(set(probes)) == len(probes)
        for line in lines[:50]:
            probe, value = line.split("\t")
            assert probe.startswith("cg")
            assert value == "NA" or 0.0 <= float(value) <= 1.0
        positions.append(probes.index(MGMT_STP27_PROBES[0]))
    assert min(positions) > 0  # not on the first line: a consumer must stream the file


def test_methylation_share_platforms_and_recurrent_samples_are_realistic(bundle):
    files_per_case = Counter(d["cases"][0]["case_id"] for d in bundle["files"])
    assert 0.72 <= len(files_per_case) / N_CASES <= 0.90
    assert {d["platform"] for d in bundle["files"]} == {
        "Illumina Human Methylation 450",
        "Illumina Human Methylation 27",
    }
    multi = [c for c, n in files_per_case.items() if n > 1]
    assert multi and all(bundle["project"][c] == "TCGA-GBM" for c in multi)
    recurrent = [d for d in bundle["files"] if d["cases"][0]["samples"][0]["sample_type"] == "Recurrent Tumor"]
    assert {d["cases"][0]["case_id"] for d in recurrent} == set(multi)
    assert all(d["cases"][0]["samples"][0]["submitter_id"].endswith("-02A") for d in recurrent)


def test_survival_is_shorter_for_gbm_and_documents_match_the_truth(bundle):
    truth = bundle["truth"]
    gbm = truth.filter(pl.col("project_id") == "TCGA-GBM")
    assert 11 <= gbm["true_death_days"].median() / 30.44 <= 17  # Stupp 2005: ~14.6 months
    idh_mut_lgg = truth.filter((pl.col("project_id") == "TCGA-LGG") & (pl.col("idh_status") == "mutant"))
    assert idh_mut_lgg["true_death_days"].median() / 365.25 >= 5
    deaths_gbm = gbm["death_observed"].mean()
    deaths_lgg = truth.filter(pl.col("project_id") == "TCGA-LGG")["death_observed"].mean()
    assert deaths_gbm >= 0.55 and deaths_lgg <= 0.45 and deaths_gbm > deaths_lgg + 0.2
    for case in bundle["cases"]:
        row = bundle["truth_by_case"][case["case_id"]]
        demographic = case["demographic"]
        if demographic["vital_status"] == "Dead":
            assert demographic["days_to_death"] == row["overall_survival_days"] and row["death_observed"]
        elif demographic["vital_status"] == "Alive":
            assert not row["death_observed"]
            assert (
                case.get("diagnoses") is None
                or max(d.get("days_to_last_follow_up") or 0 for d in case["diagnoses"]) == row["overall_survival_days"]
            )


def test_treatments_and_karnofsky_are_recorded_as_gdc_strings(bundle):
    radiation, temozolomide, karnofsky = Counter(), Counter(), Counter()
    for case in bundle["cases"]:
        for diagnosis in case.get("diagnoses", []):
            for treatment in diagnosis.get("treatments", []):
                target = radiation if treatment["treatment_type"] == "Radiation Therapy, NOS" else temozolomide
                target[treatment["treatment_or_therapy"]] += 1
                if treatment.get("therapeutic_agents"):
                    assert treatment["therapeutic_agents"] == "Temozolomide"
        for follow_up in case.get("follow_ups", []):
            if "karnofsky_performance_status" in follow_up:
                karnofsky[follow_up["karnofsky_performance_status"]] += 1
    assert set(radiation) == {"yes", "no", "not reported"} and radiation["yes"] > radiation["no"]
    assert set(temozolomide) == {"yes", "no", "not reported"}
    assert karnofsky and all(isinstance(k, str) and k.isdigit() for k in karnofsky)


def test_truth_sidecar_is_internally_consistent_with_who_cns5(bundle):
    truth = bundle["truth"]
    assert truth.height == N_CASES and truth["in_release"].all()
    assert truth.filter(pl.col("codeletion_1p19q") & (pl.col("idh_status") != "mutant")).height == 0
    classes = dict(zip(*truth.group_by("who_cns5_class").len().to_dict(as_series=False).values(), strict=True))
    assert set(classes) == {
        "glioblastoma, IDH-wildtype",
        "astrocytoma, IDH-mutant",
        "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
        "not classifiable",
    }
    oligo = truth.filter(pl.col("who_cns5_class").str.starts_with("oligodendroglioma"))
    assert oligo["codeletion_1p19q"].all() and oligo["who_cns5_grade"].is_in([2, 3]).all()
    gbm = truth.filter(pl.col("who_cns5_class") == "glioblastoma, IDH-wildtype")
    assert (gbm["idh_status"] == "wildtype").all() and (gbm["who_cns5_grade"] == 4).all()
    assert (
        truth.filter(pl.col("who_cns5_class") == "not classifiable")["who_cns5_grade"].null_count()
        == classes["not classifiable"]
    )
    # the IDH hotspot in the truth is the one in the ssm documents
    for case_id in list(bundle["mutated"]["IDH1"])[:100]:
        assert bundle["truth_by_case"][case_id]["idh_hotspot"].startswith("IDH1 R132")
