"""The expression analyses of the real dev cohort (410 STAR-counts files, 409 patients with expression) through the
real jobs: every result table is in the catalog with its release and n, known glioma biology comes out of the
lake's own labels, subtype calls agree with the published TCGA labels about as well as the bundle's baseline, and
`glioma gene` answers from the catalog and draws its plots."""

from __future__ import annotations

import io
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import HAS_CHROMIUM, REALDATA_DIR, REPO_ROOT
from warehouse.cli import main

pytestmark = pytest.mark.realdata
RELEASE = "45.0"
CECCARELLI = REALDATA_DIR / "tables" / "ceccarelli2016_dev.csv"
ARTIFACTS = Path(os.environ.get("GLIOMA_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "reports"


@pytest.fixture(scope="module")
def catalog(real_rna_lake: Path):
    with duckdb.connect(str(real_rna_lake / "warehouse.duckdb"), read_only=True) as connection:
        yield connection


def test_every_result_table_is_in_the_catalog_with_its_release_and_n(catalog):
    patients = catalog.execute("select count(*) from harmonised.expression_samples_current where used").fetchone()[0]
    de = catalog.execute(
        "select contrast, any_value(release), min(n_numerator), min(n_reference), count(*), "
        "count(distinct method) from analytics.differential_expression group by 1 order by 1"
    ).fetchall()
    assert [row[0] for row in de] == [
        "codeleted_vs_non_codeleted",
        "gbm_vs_lgg",
        "high_vs_low_risk",
        "idh_mutant_vs_wildtype",
    ]
    for _contrast, release, n_numerator, n_reference, genes, methods in de:
        assert release == RELEASE and min(n_numerator, n_reference) >= 30 and genes > 1400 and methods == 1
    gbm = [row for row in de if row[0] == "gbm_vs_lgg"][0]
    assert gbm[2] + gbm[3] == patients  # every patient with expression is GBM or LGG
    enrichment = catalog.execute(
        "select contrast, analysis, count(*), min(genes_measured), max(genes_measured) from analytics.enrichment "
        "group by all"
    ).fetchall()
    assert len(enrichment) == 4 * 3 and all(row[2] == 50 for row in enrichment)
    survival = dict(
        catalog.execute(
            "select cohort, max(n_patients) from analytics.survival_by_gene where release = ? group by 1", [RELEASE]
        ).fetchall()
    )
    assert set(survival) == {"gbm", "lgg", "pooled", "pooled_idh_stratified"}
    assert survival["gbm"] + survival["lgg"] == survival["pooled"] <= patients
    subtypes = catalog.execute("select count(*), count(distinct case_id) from analytics.expression_subtypes").fetchone()
    assert subtypes == (patients, patients)


def test_known_glioma_biology_comes_out_of_the_lakes_own_labels(catalog):
    rows = catalog.execute(
        "select contrast, gene_name, log2_fold_change, adjusted_p_value from analytics.differential_expression_current "
        "where gene_name in ('EGFR', 'OLIG2', 'VEGFA')"
    ).pl()

    def change(contrast: str, gene: str) -> tuple[float, float]:
        row = rows.filter((pl.col("contrast") == contrast) & (pl.col("gene_name") == gene)).row(0)
        return row[2], row[3]

    egfr_gbm, p_gbm = change("gbm_vs_lgg", "EGFR")
    egfr_idh, p_idh = change("idh_mutant_vs_wildtype", "EGFR")
    olig2_idh, p_olig2 = change("idh_mutant_vs_wildtype", "OLIG2")
    assert egfr_gbm > 1 and p_gbm < 1e-6  # EGFR higher in glioblastoma
    assert egfr_idh < -1 and p_idh < 1e-6  # and in IDH-wildtype tumours
    assert olig2_idh > 0 and p_olig2 < 0.05  # OLIG2 higher in IDH-mutant ones (bundle README)


def test_pooled_survival_genes_are_mostly_idh_and_the_stratified_rows_say_so(catalog):
    significant = dict(
        catalog.execute(
            "select cohort, count(*) filter (where adjusted_p_value < 0.05) from analytics.survival_by_gene_current "
            "where method = 'cox' group by 1"
        ).fetchall()
    )
    assert significant["pooled"] > 3 * significant["pooled_idh_stratified"]
    notes = catalog.execute(
        "select distinct cohort, method, note, cut_point_searched from analytics.survival_by_gene_current"
    ).fetchall()
    assert all("IDH status dominates" in note for cohort, _, note, _ in notes if cohort == "pooled")
    assert all(searched == (method == "maxstat_split") for _, method, _, searched in notes)


def test_subtype_calls_agree_with_the_published_tcga_labels_as_the_baseline_does(catalog):
    """A metric, not a target: the files carry 7 / 18 / 13 of the 70 signature genes. The bundle README's simple
    baseline (mean over each subtype's genes) agrees on 162 / 243 (67 %)."""
    calls = catalog.execute("select submitter_id, subtype, centroid_subtype from analytics.expression_subtypes").pl()
    published = pl.read_csv(CECCARELLI, infer_schema_length=0).select(
        submitter_id="patient", published="Transcriptome.Subtype"
    )
    code = {"Classical": "CL", "Mesenchymal": "ME", "Proneural": "PN"}
    both = calls.join(published, on="submitter_id").filter(pl.col("published").is_in(list(code.values())))
    ssgsea = (both["subtype"].replace_strict(code) == both["published"]).mean()
    centroid = (both["centroid_subtype"].replace_strict(code) == both["published"]).mean()
    print(f"subtype agreement on {both.height} labelled dev patients: ssGSEA {ssgsea:.3f}, centroid {centroid:.3f}")
    assert both.height >= 240
    assert centroid >= 0.62 and ssgsea >= 0.57  # measured 0.665 and 0.616


def test_glioma_gene_prints_its_rows_and_draws_kaplan_meier_by_project(real_rna_lake: Path, tmp_path: Path):
    out, err = io.StringIO(), io.StringIO()
    catalog = str(real_rna_lake / "warehouse.duckdb")
    code = main(["--catalog", catalog, "gene", "egfr", "--plot-dir", str(tmp_path)], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert text.startswith("EGFR (ENSG00000146648") and f"release {RELEASE}" in text
    for expected in (
        "glioblastoma, IDH-wildtype",
        "gbm_vs_lgg",
        "high_vs_low_risk (model-derived)",
        "maxstat_split (searched)",
    ):
        assert expected in text
    plots = sorted(path.name for path in tmp_path.glob("*.png"))
    assert plots == ["km_EGFR_gbm.png", "km_EGFR_lgg.png"]
    assert all((tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in plots)
    missing = main(["--catalog", catalog, "gene", "EGFRR"], stdout=io.StringIO(), stderr=(err := io.StringIO()))
    assert missing == 2 and "no gene 'EGFRR'" in err.getvalue() and "EGFR" in err.getvalue()


@pytest.mark.browser
@pytest.mark.skipif(
    not HAS_CHROMIUM, reason="headless Chromium not installed: apt-get install chromium chromium-driver"
)
def test_the_reports_expression_plots_open_in_chromium(real_rna_lake: Path, browser):
    report = real_rna_lake / "reports" / RELEASE / "index.html"
    browser.get(report.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0, i.naturalWidth])"
    )
    drawn = {alt for alt, loaded, _ in images if loaded}
    assert all(loaded for _, loaded, _ in images), [alt for alt, loaded, _ in images if not loaded]
    for contrast in ("gbm_vs_lgg", "idh_mutant_vs_wildtype", "codeleted_vs_non_codeleted", "high_vs_low_risk"):
        assert {f"Differential expression {contrast}: volcano", f"Differential expression {contrast}: MA plot"} <= drawn
    assert {"Hallmark enrichment by contrast", "Expression subtypes (Wang et al. 2017)"} <= drawn
    assert sum(alt.startswith("Overall survival by ") and alt.endswith(" in LGG") for alt in drawn) == 3
    text = browser.find_element("tag name", "body").text
    assert "DESeq2 (pydeseq2) Wald test" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    heading = browser.find_element("xpath", "//h2[normalize-space()='Hallmark enrichment by contrast']")
    browser.execute_script("arguments[0].scrollIntoView()", heading)
    browser.save_screenshot(str(ARTIFACTS / "report_expression_plots.png"))
