"""Expression signatures (analyses.signatures): a patient's mean over the measured genes of each published set, the
same whoever else is in the release, renamed symbols matched, and null where the set is poorly measured."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analyses.gene_sets import SYMBOL_UPDATES
from analyses.signatures import signature_gene_sets, signature_scores
from contracts.features import EXPRESSION_SIGNATURES


def _long(values: dict[str, dict[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"case_id": case, "gene_name": gene, "log2_normalised_count": value}
            for case, genes in values.items()
            for gene, value in genes.items()
        ]
    )


def test_a_signature_is_the_mean_over_its_measured_genes_and_single_sample():
    sets = signature_gene_sets()
    assert set(sets) == set(EXPRESSION_SIGNATURES)
    rng = np.random.default_rng(3)
    g2m = sets["signature_g2m_checkpoint"]
    measured = g2m[: int(len(g2m) * 0.8)]
    a = {gene: float(v) for gene, v in zip(measured, rng.normal(6, 2, len(measured)), strict=True)}
    b = {gene: float(v) for gene, v in zip(measured, rng.normal(3, 2, len(measured)), strict=True)}
    both = signature_scores(_long({"a": a, "b": b})).sort("case_id")
    assert both["case_id"].to_list() == ["a", "b"]
    assert both["signature_g2m_checkpoint"].to_list() == pytest.approx(
        [np.mean(list(a.values())), np.mean(list(b.values()))]
    )
    # Single sample: a's score does not depend on b being in the release.
    alone = signature_scores(_long({"a": a}))
    assert alone["signature_g2m_checkpoint"][0] == pytest.approx(both["signature_g2m_checkpoint"][0])
    # A set with fewer than MIN_MEASURED_GENES measured genes is null, not a mean of one or two genes.
    few = signature_scores(_long({"a": {gene: 1.0 for gene in sets["signature_proneural"][:4]}}))
    assert few["signature_proneural"].null_count() == 1


def test_renamed_symbols_count_and_a_duplicated_gene_name_counts_once():
    classical = signature_gene_sets()["signature_classical"]
    old = next(gene for gene in classical if gene in SYMBOL_UPDATES)
    genes = {gene: 5.0 for gene in classical if gene != old}
    genes[SYMBOL_UPDATES[old][0]] = 9.0  # measured under its current symbol
    frame = pl.concat([_long({"a": genes}), _long({"a": {classical[0]: 1.0}})])  # classical[0] twice: 5.0 and 1.0
    expected = (5.0 * (len(classical) - 2) + 9.0 + 3.0) / len(classical)
    assert signature_scores(frame)["signature_classical"][0] == pytest.approx(expected)


def test_no_expression_gives_an_empty_frame_with_the_declared_columns():
    empty = pl.DataFrame(schema={"case_id": pl.String, "gene_name": pl.String, "log2_normalised_count": pl.Float64})
    scores = signature_scores(empty)
    assert scores.height == 0 and scores.columns == ["case_id", *EXPRESSION_SIGNATURES]


def test_the_same_rows_in_any_order_give_the_same_bits():
    rng = np.random.default_rng(9)
    genes = [g for name in ("signature_emt", "signature_hypoxia") for g in signature_gene_sets()[name]]
    frame = _long(
        {
            f"case-{k}": {g: float(v) for g, v in zip(genes, rng.normal(5, 3, len(genes)), strict=True)}
            for k in range(30)
        }
    )
    first = signature_scores(frame)
    for seed in range(3):
        shuffled = signature_scores(frame.sample(fraction=1.0, shuffle=True, seed=seed))
        assert shuffled.equals(first)  # bit for bit: the model matrix's content hash decides retraining
