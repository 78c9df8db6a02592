"""Pathway enrichment of a differential expression result on a gene-set collection (MSigDB Hallmark):

* preranked GSEA (`gseapy.prerank`) of the Wald statistic, gene-set permutations: NES, nominal p, FDR and the
  leading-edge genes;
* over-representation of the significant genes (adjusted p < 0.05, up and down separately) among the tested
  genes: one-sided hypergeometric p, BH-adjusted across sets.

Both say how many of each set's genes were measured (tested). Sets with fewer than MIN_SET_SIZE tested genes are
reported with null statistics, not dropped, so a reader sees what could not be assessed.
"""

from __future__ import annotations

import logging
from importlib.metadata import version

import numpy as np
import polars as pl
from scipy import stats

from analyses.multiple_testing import benjamini_hochberg
from contracts.analysis_tables import ENRICHMENT_SCHEMA

MIN_SET_SIZE = 5
MAX_SET_SIZE = 500
GSEA_PERMUTATIONS = 1000
SIGNIFICANCE = 0.05

# The columns this module computes: the table's declaration minus what the release's builder adds.
ENRICHMENT_COLUMNS = {
    name: dtype
    for name, dtype in ENRICHMENT_SCHEMA.items()
    if name not in ("release", "contrast", "n_numerator", "n_reference", "collection")
}


def _measured(sets: dict[str, tuple[str, ...]], universe: set[str]) -> dict[str, list[str]]:
    return {name: [gene for gene in genes if gene in universe] for name, genes in sets.items()}


def preranked_gsea(
    ranking: pl.DataFrame,
    sets: dict[str, tuple[str, ...]],
    *,
    seed: int = 18,
    threads: int = 2,
    permutations: int = GSEA_PERMUTATIONS,
) -> pl.DataFrame:
    """`ranking`: gene_name, statistic (one row per tested gene; the highest statistic first after sorting).
    Duplicate names keep the row of largest |statistic|."""
    import gseapy

    ranking = (
        ranking.drop_nulls()
        .sort(pl.col("statistic").abs(), descending=True)
        .unique("gene_name", keep="first", maintain_order=True)
        .sort("statistic", descending=True)
    )
    measured = _measured(sets, set(ranking["gene_name"]))
    assessable = {name: genes for name, genes in measured.items() if MIN_SET_SIZE <= len(genes) <= MAX_SET_SIZE}
    rows = {}
    if assessable:
        logging.getLogger("gseapy").setLevel(logging.WARNING)
        result = gseapy.prerank(
            rnk=ranking.to_pandas().set_index("gene_name")["statistic"],
            gene_sets=assessable,
            permutation_num=permutations,
            min_size=MIN_SET_SIZE,
            max_size=MAX_SET_SIZE,
            seed=seed,
            threads=threads,
            outdir=None,
            no_plot=True,
            verbose=False,
        ).res2d
        for record in result.to_dict("records"):
            rows[record["Term"]] = record
    method = f"gseapy {version('gseapy')} prerank, {permutations} gene-set permutations, Wald statistic"
    out = []
    for name, genes in sets.items():
        record = rows.get(name)
        out.append(
            {
                "analysis": "gsea_preranked",
                "gene_set": name,
                "set_size": len(genes),
                "genes_measured": len(measured[name]),
                "enrichment_score": float(record["ES"]) if record else None,
                "normalised_enrichment_score": float(record["NES"]) if record else None,
                "overlap": None,
                "expected_overlap": None,
                # gseapy reports 0 when no permutation reached the observed score: the p is below 1/B, not 0.
                "p_value": max(float(record["NOM p-val"]), 1 / permutations) if record else None,
                "adjusted_p_value": max(float(record["FDR q-val"]), 1 / permutations) if record else None,
                "leading_edge_genes": str(record["Lead_genes"]).replace(";", ",") if record else None,
                "method": method,
            }
        )
    return pl.DataFrame(out, schema=ENRICHMENT_COLUMNS)


def over_representation(
    tested_genes: list[str], significant_genes: list[str], sets: dict[str, tuple[str, ...]], label: str
) -> pl.DataFrame:
    """Hypergeometric test of `significant_genes` among `tested_genes` for every set (BH across sets)."""
    universe = set(tested_genes)
    hits = set(significant_genes) & universe
    measured = _measured(sets, universe)
    names = list(sets)
    overlap = np.array([len(hits.intersection(measured[name])) for name in names])
    size = np.array([len(measured[name]) for name in names])
    assessable = size >= MIN_SET_SIZE
    p = np.where(assessable, stats.hypergeom.sf(overlap - 1, len(universe), size, len(hits)), np.nan)
    adjusted = benjamini_hochberg(p)
    expected = size * len(hits) / max(len(universe), 1)
    return pl.DataFrame(
        {
            "analysis": f"over_representation_{label}",
            "gene_set": names,
            "set_size": [len(sets[name]) for name in names],
            "genes_measured": size,
            "enrichment_score": None,
            "normalised_enrichment_score": None,
            "overlap": overlap,
            "expected_overlap": expected,
            "p_value": p,
            "adjusted_p_value": adjusted,
            "leading_edge_genes": [",".join(sorted(hits.intersection(measured[name]))) or None for name in names],
            "method": f"hypergeometric, {len(hits)} {label} genes (adjusted p < {SIGNIFICANCE}) of {len(universe)} tested",
        },
        schema=ENRICHMENT_COLUMNS,
        nan_to_null=True,
    )


def enrichment(result: pl.DataFrame, sets: dict[str, tuple[str, ...]], **gsea_options) -> pl.DataFrame:
    """GSEA and both over-representation analyses of one contrast's result (gene_name, wald_statistic,
    log2_fold_change, adjusted_p_value)."""
    tested = result["gene_name"].drop_nulls().to_list()
    significant = result.filter(pl.col("adjusted_p_value") < SIGNIFICANCE)
    return pl.concat(
        [
            preranked_gsea(result.select("gene_name", statistic="wald_statistic"), sets, **gsea_options),
            over_representation(
                tested, significant.filter(pl.col("log2_fold_change") > 0)["gene_name"].to_list(), sets, "up"
            ),
            over_representation(
                tested, significant.filter(pl.col("log2_fold_change") < 0)["gene_name"].to_list(), sets, "down"
            ),
        ]
    )
