"""Differential expression of two patient groups with DESeq2's method (`pydeseq2`): negative binomial GLM on
unstranded counts, median-of-ratios size factors over the contrast's samples, Wald test, Cook's outlier refit,
independent filtering and BH adjustment (DESeq2's defaults), and apeGLM-shrunken log2 fold changes.

Gene filter (stated on every result row): a gene is tested when at least as many samples as the smaller group
have a count >= 10 (the DESeq2 vignette's rule); genes not passing are not in the result.

Memory: pydeseq2 holds the counts and a few genes x samples float64 arrays (700 x 60,660 x 8 bytes = 340 MB
each) and copies them to its worker processes.

Workers: by default as many as the CPUs this process may use, as joblib counts them (the machine's CPUs within the
process's affinity and its container's CPU quota, at most LOKY_MAX_CPU_COUNT): `os.cpu_count()` would start a
worker per CPU of the whole node in a CPU-limited Kubernetes pod. One CPU means no worker processes at all.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
import polars as pl

MIN_COUNT = 10
MIN_GROUP_SIZE = 3
REFERENCE_LEVEL, NUMERATOR_LEVEL = "A", "B"  # formula levels; A sorts first, so it is the reference


@dataclass(frozen=True)
class Contrast:
    """Two groups of patients to compare: `numerator` vs `reference` (a positive log2 fold change is higher in
    the numerator group)."""

    name: str
    numerator: str
    reference: str
    population: str  # which patients the contrast is computed on
    model_derived: bool = False  # groups come from a model's output (e.g. the survival model's risk groups)


def method_description() -> str:
    return f"pydeseq2 {version('pydeseq2')} (DESeq2 Wald test, apeGLM shrinkage)"


def gene_filter_description() -> str:
    return f"count >= {MIN_COUNT} in at least as many samples as the smaller group"


def tested_genes(counts: np.ndarray, smaller_group: int) -> np.ndarray:
    """Boolean per gene column: passes the stated filter."""
    return (counts >= MIN_COUNT).sum(axis=0) >= smaller_group


def differential_expression(
    counts: np.ndarray,
    gene_ids: list[str],
    in_numerator: np.ndarray,
    *,
    n_cpus: int | None = None,
) -> pl.DataFrame:
    """One row per tested gene: base_mean, log2_fold_change (MLE and shrunken), its standard error, Wald
    statistic, p and BH-adjusted p (null where DESeq2's independent filtering set it aside). `counts` is
    samples x genes (integers), `in_numerator` a boolean per sample; `n_cpus` None: the CPUs this process may use."""
    import pandas as pd
    from joblib import cpu_count
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    in_numerator = np.asarray(in_numerator, dtype=bool)
    smaller = int(min(in_numerator.sum(), (~in_numerator).sum()))
    if smaller < MIN_GROUP_SIZE:
        raise ValueError(f"a group has {smaller} samples; differential expression needs >= {MIN_GROUP_SIZE} per group")
    keep = tested_genes(counts, smaller)
    kept_ids = [gene for gene, kept in zip(gene_ids, keep, strict=True) if kept]
    samples = [f"sample_{index}" for index in range(len(in_numerator))]
    frame = pd.DataFrame(np.asarray(counts)[:, keep], index=samples, columns=kept_ids)
    metadata = pd.DataFrame({"group": np.where(in_numerator, NUMERATOR_LEVEL, REFERENCE_LEVEL)}, index=samples)
    # Median of ratios needs a gene positive in every sample; else DESeq2's poscounts (as the harmonised table).
    fit_type = "ratio" if (frame.to_numpy() > 0).all(axis=0).any() else "poscounts"
    inference = DefaultInference(n_cpus=n_cpus or cpu_count())
    with warnings.catch_warnings():
        # pydeseq2 warns when the parametric dispersion trend falls back to the mean trend (DESeq2 does the same).
        warnings.simplefilter("ignore", UserWarning)
        logging.getLogger("pydeseq2").setLevel(logging.WARNING)
        dds = DeseqDataSet(
            counts=frame,
            metadata=metadata,
            design="~group",
            size_factors_fit_type=fit_type,
            inference=inference,
            quiet=True,
            low_memory=True,  # drops intermediate genes x samples layers once used
        )
        dds.deseq2()
        result = DeseqStats(dds, contrast=["group", NUMERATOR_LEVEL, REFERENCE_LEVEL], inference=inference, quiet=True)
        result.summary()
        estimates = result.results_df.copy()
        coefficient = next(name for name in dds.varm["LFC"].columns if NUMERATOR_LEVEL in name)
        result.lfc_shrink(coeff=coefficient)
        shrunken = result.results_df["log2FoldChange"].to_numpy()
    return pl.DataFrame(
        {
            "gene_id": kept_ids,
            "base_mean": estimates["baseMean"].to_numpy(np.float64),
            "log2_fold_change": estimates["log2FoldChange"].to_numpy(np.float64),
            "log2_fold_change_shrunken": shrunken.astype(np.float64),
            "log2_fold_change_standard_error": estimates["lfcSE"].to_numpy(np.float64),
            "wald_statistic": estimates["stat"].to_numpy(np.float64),
            "p_value": estimates["pvalue"].to_numpy(np.float64),
            "adjusted_p_value": estimates["padj"].to_numpy(np.float64),
        },
        nan_to_null=True,
    )
