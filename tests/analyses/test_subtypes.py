"""Expression subtypes: ssGSEA equals GSVA's (committed reference from reference/ssgsea.R), the empirical p-value
and both calls recover planted programs, and Wang's old symbols are matched through their current names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from analyses.gene_sets import SUBTYPES, hallmark_sets, match_sets, wang_subtype_sets
from analyses.subtypes import call_subtypes, ssgsea_scores

REFERENCE = Path(__file__).parent / "reference"


def test_ssgsea_matches_gsva():
    matrix = pl.read_csv(REFERENCE / "ssgsea_input.csv")
    genes = matrix["gene"].to_list()
    values = matrix.drop("gene").to_numpy().T  # patients x genes
    members = pl.read_csv(REFERENCE / "ssgsea_sets.tsv", separator="\t")
    reference = pl.read_csv(REFERENCE / "ssgsea_reference.csv")
    sets = match_sets(
        {name: members.filter(pl.col("set") == name)["gene"].to_list() for name in reference["set"]}, genes
    )
    scores = ssgsea_scores(values, sets)
    np.testing.assert_allclose(scores.T, reference.drop("set").to_numpy(), rtol=1e-10)


def test_planted_programs_are_called():
    rng = np.random.default_rng(11)
    genes = [f"GENE{i}" for i in range(1500)]
    sets = match_sets({"A": genes[:40], "B": genes[40:80], "C": genes[80:120]}, genes)
    truth = np.repeat([0, 1, 2], 30)
    values = rng.normal(6, 1.5, (90, 1500))
    for subtype in range(3):
        values[np.ix_(truth == subtype, np.arange(40 * subtype, 40 * subtype + 40))] += 1.5
    calls = call_subtypes(values, sets, permutations=200, seed=3)
    assert (calls.call == truth).mean() >= 0.95
    assert (calls.centroid_call == truth).mean() >= 0.95
    own_p = calls.p_values[np.arange(90), truth]
    assert np.median(own_p) <= 1 / 201 + 1e-12  # no random set beats the planted one
    assert ((calls.p_values > 0) & (calls.p_values <= 1)).all()


def test_wang_symbols_match_current_names():
    sets = {s.name: s for s in match_sets(wang_subtype_sets(), ["TYMP", "ACSL3", "EGFR", "ECGF1x", "PDGFRA"])}
    assert set(sets) == set(SUBTYPES) and all(s.n_genes == 70 for s in sets.values())
    assert sets["Mesenchymal"].matched_names == ("TYMP",)  # ECGF1 in the published list
    assert sets["Classical"].matched_names == ("ACSL3", "EGFR")
    assert len(hallmark_sets()) == 50
