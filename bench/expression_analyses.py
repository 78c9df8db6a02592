"""Expression analyses benchmark: differential expression of the four contrasts, enrichment, subtypes and survival
by gene for all genes on a synthetic release, against a bare pydeseq2 run of the same matrices; peak memory; and
the planted truth each analysis should recover.

    python bench/expression_analyses.py --samples 700 --genes 60660     # TCGA size (the issue's goal: <= 5 min)
    python bench/expression_analyses.py --samples 700 --genes 10000     # a quicker point on the same curve

The matrix: negative binomial counts (DESeq2-like means and dispersions) for `--samples` patients; 1,542 real
GENCODE v36 gene names first (so Hallmark and Wang genes are measured), synthetic names after. Planted truth:
200 genes 2-fold up and 200 down between GBM and LGG patients; 30 genes that carry hazard; three subtype programs.
Each analysis runs as the analyse_expression asset runs it (analyses.release_results), in this process; the bare
run is pydeseq2's DeseqDataSet + DeseqStats(+ lfc_shrink) on the same counts and groups, nothing else.
Peak memory: sampled every 0.2 s while the analyses run (after the synthetic matrix exists): this process, and
this process plus pydeseq2's worker processes together.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from analyses.cohorts import CONTRASTS  # noqa: E402
from analyses.gene_sets import SUBTYPES, match_sets, wang_subtype_sets  # noqa: E402
from analyses.matrix import ExpressionMatrix  # noqa: E402
from analyses.release_results import (  # noqa: E402
    differential_expression_table,
    enrichment_table,
    subtype_table,
    survival_by_gene_table,
)

GENE_TABLE = REPO_ROOT / "sandbox" / "synthetic" / "gencode_v36_genes.tsv"
PLANTED_DE, PLANTED_SURVIVAL = 200, 30


def synthetic_release(samples: int, genes: int, seed: int = 18):
    rng = np.random.default_rng(seed)
    real = pl.read_csv(GENE_TABLE, separator="\t", comment_prefix="#", has_header=False)
    names = real[:, 1].to_list()[:genes] + [f"SYN{i:05d}" for i in range(max(0, genes - real.height))]
    ids = real[:, 0].to_list()[:genes] + [f"ENSGSYN{i:011d}.1" for i in range(max(0, genes - real.height))]
    case_ids = [f"case-{i:05d}" for i in range(samples)]
    gbm = rng.random(samples) < 0.35
    idh_mutant = ~gbm & (rng.random(samples) < 0.8)
    codeleted = idh_mutant & (rng.random(samples) < 0.4)
    subtype = rng.integers(0, 3, samples)
    mean = rng.lognormal(4.5, 2.0, genes)
    fold = np.ones(genes)
    planted = rng.choice(np.arange(1542, genes) if genes > 3000 else np.arange(genes), 2 * PLANTED_DE, replace=False)
    fold[planted[:PLANTED_DE]], fold[planted[PLANTED_DE:]] = 2.0, 0.5
    log_mean = np.log(mean)[None, :] + np.log(fold)[None, :] * gbm[:, None] + rng.normal(0, 0.1, (samples, 1))
    for program, gene_set in enumerate(match_sets(wang_subtype_sets(), names)):
        log_mean[np.ix_(subtype == program, np.asarray(gene_set.indices, dtype=int))] += 0.8
    dispersion = 0.05 + 2.0 / np.sqrt(mean)
    mu = np.exp(log_mean)
    counts = rng.negative_binomial(1 / dispersion[None, :], 1 / (1 + mu * dispersion[None, :])).astype(np.int64)
    size = np.exp(np.median(np.log(counts + 0.5) - np.log(counts + 0.5).mean(0), axis=1))
    normalised = np.log2(counts / size[:, None] + 1)
    hazard_genes = rng.choice(np.arange(genes), PLANTED_SURVIVAL, replace=False)
    z = (normalised[:, hazard_genes] - normalised[:, hazard_genes].mean(0)) / normalised[:, hazard_genes].std(0)
    risk = z @ np.full(PLANTED_SURVIVAL, 0.6 / np.sqrt(PLANTED_SURVIVAL)) * 3
    death, censor = rng.exponential(900 * np.exp(-risk)), rng.uniform(100, 3000, samples)
    patients = pl.DataFrame(
        {
            "case_id": case_ids,
            "project_id": np.where(gbm, "TCGA-GBM", "TCGA-LGG"),
            "overall_survival_days": np.minimum(death, censor).round(),
            "death_observed": death <= censor,
        }
    )
    markers = pl.DataFrame(
        {
            "case_id": case_ids,
            "idh_status": np.where(idh_mutant, "mutant", "wildtype"),
            "codeletion_1p19q": codeleted,
        }
    )
    risk_groups = pl.DataFrame(
        {"case_id": case_ids, "risk_group": np.where(risk > 0.5, "high", np.where(risk < -0.5, "low", "intermediate"))}
    )
    matrix = ExpressionMatrix(case_ids, ids, names, counts, normalised)
    truth = {
        "up": set(np.asarray(ids)[planted[:PLANTED_DE]]),
        "down": set(np.asarray(ids)[planted[PLANTED_DE:]]),
        "hazard": set(np.asarray(ids)[hazard_genes]),
        "subtype": subtype,
    }
    return matrix, patients, markers, risk_groups, truth


class _MemorySampler:
    """Largest RSS of this process, and of it plus its children, while it runs (psutil, every 0.2 s)."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.process, self.peak_self, self.peak_total = psutil.Process(), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            try:
                own = self.process.memory_info().rss
                children = sum(child.memory_info().rss for child in self.process.children(recursive=True))
            except psutil.Error:
                continue
            self.peak_self, self.peak_total = max(self.peak_self, own), max(self.peak_total, own + children)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def bare_pydeseq2(counts: np.ndarray, numerator: np.ndarray, n_cpus: int) -> float:
    import pandas as pd
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    started = time.monotonic()
    keep = (counts >= 10).sum(0) >= min(numerator.sum(), (~numerator).sum())
    frame = pd.DataFrame(counts[:, keep], index=[f"s{i}" for i in range(len(counts))])
    frame.columns = [f"g{j}" for j in range(frame.shape[1])]
    metadata = pd.DataFrame({"group": np.where(numerator, "B", "A")}, index=frame.index)
    inference = DefaultInference(n_cpus=n_cpus)
    dds = DeseqDataSet(
        counts=frame, metadata=metadata, design="~group", inference=inference, quiet=True, low_memory=True
    )
    dds.deseq2()
    stats = DeseqStats(dds, contrast=["group", "B", "A"], inference=inference, quiet=True)
    stats.summary()
    stats.lfc_shrink(coeff="group[T.B]")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=700)
    parser.add_argument("--genes", type=int, default=60_660)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args(argv)
    from analyses.cohorts import contrast_labels, survival_cohort_members

    matrix, patients, markers, risk_groups, truth = synthetic_release(args.samples, args.genes)
    sampler = _MemorySampler()
    labels = contrast_labels(patients, markers, risk_groups)
    seconds: dict[str, float] = {}

    def timed(name, function):
        started = time.monotonic()
        value = function()
        seconds[name] = round(time.monotonic() - started, 1)
        print(f"{name}: {seconds[name]} s", flush=True)
        return value

    differential, skipped = timed(
        "differential_expression", lambda: differential_expression_table(matrix, labels, "bench", n_cpus=args.cpus)
    )
    timed("enrichment", lambda: enrichment_table(differential, "bench", threads=args.cpus))
    subtypes = timed("subtypes", lambda: subtype_table(matrix, "bench"))
    survival = timed(
        "survival_by_gene", lambda: survival_by_gene_table(matrix, survival_cohort_members(patients, markers), "bench")
    )
    sampler.stop()
    total = sum(seconds.values())
    result: dict = {"samples": args.samples, "genes": args.genes, "seconds": seconds, "total_seconds": round(total, 1)}
    if not args.skip_bare:
        bare = 0.0
        for contrast in CONTRASTS:
            groups = labels.filter(pl.col("contrast") == contrast.name).sort("case_id")
            rows = matrix.rows(groups["case_id"])
            bare += timed(
                f"bare_pydeseq2_{contrast.name}",
                lambda rows=rows, groups=groups: bare_pydeseq2(
                    matrix.counts[rows], groups["in_numerator"].to_numpy(), args.cpus
                ),
            )
        result["bare_pydeseq2_seconds"] = round(bare, 1)
        result["de_over_bare"] = round(seconds["differential_expression"] / bare, 3)
    gbm = differential.filter(pl.col("contrast") == "gbm_vs_lgg")
    significant = gbm.filter(pl.col("adjusted_p_value") < 0.05)
    planted = truth["up"] | truth["down"]
    found = set(significant["gene_id"])
    cox = survival.filter(
        (pl.col("cohort") == "pooled") & (pl.col("method") == "cox") & (pl.col("adjusted_p_value") < 0.05)
    )
    called = subtypes["subtype"].replace_strict(dict(zip(SUBTYPES, range(3), strict=True))).to_numpy()
    order = np.argsort(matrix.case_ids)
    result["recovery"] = {
        "de_sensitivity": round(len(found & planted) / len(planted), 3),
        "de_false_discovery_proportion": round(len(found - planted) / max(len(found), 1), 3),
        "survival_genes_found": f"{len(set(cox['gene_id']) & truth['hazard'])} of {PLANTED_SURVIVAL}",
        "survival_false_discovery_proportion": round(
            len(set(cox["gene_id"]) - truth["hazard"]) / max(cox.height, 1), 3
        ),
        "subtype_accuracy_ssgsea": round(float((called == truth["subtype"][order]).mean()), 3),
        "subtype_accuracy_centroid": round(
            float(
                (
                    subtypes["centroid_subtype"].replace_strict(dict(zip(SUBTYPES, range(3), strict=True))).to_numpy()
                    == truth["subtype"][order]
                ).mean()
            ),
            3,
        ),
    }
    result["contrasts_without_result"] = skipped
    result["matrix_mb"] = round((matrix.counts.nbytes + matrix.log2_normalised.nbytes) / 2**20)
    result["peak_rss_mb"] = round(sampler.peak_self / 2**20)
    result["peak_rss_with_workers_mb"] = round(sampler.peak_total / 2**20)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
