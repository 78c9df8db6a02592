"""Synthetic RNA-seq expression files in GDC's augmented STAR counts format (GDC_API_FACTS.md 4.4), with biology
tied to the synthetic cohort's truth, generated deterministically per file so the stand-in can also serve them on
request (a 10,000-sample release without 40 GB of bundle on disk).

Genes: the 1,542 real GENCODE v36 genes of the real dev files (`gencode_v36_genes.tsv`: ids, names, types), then,
up to `n_genes` (at most 60,660), synthetic genes `ENSG99<9 digits>.1` named `SYNTH<n>` with GENCODE's mix of gene
types. They are synthetic, not GENCODE genes; only their number and shape are GDC's.

Counts: negative binomial around per-gene means (a quarter of the genes barely expressed), a library size per
sample, and planted effects on the log mean (EXPRESSION_EFFECTS): EGFR, VEGFA, CD44, MET, HOXA9 and a random set
higher in IDH-wildtype tumours, OLIG2 and a set higher in IDH-mutant ones, a set rising with WHO grade, a set
lower with 1p/19q codeletion, a set following the latent risk of death, and three subtype programs (classical,
mesenchymal, proneural; proneural mostly in IDH-mutant tumours). TPM, FPKM and FPKM-UQ follow GDC's formulas with
synthetic gene lengths.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from contracts.schemas import EXPECTED_GENE_MODEL, MAX_GENES_PER_FILE, STAR_COUNTS_COLUMNS, STAR_SUMMARY_ROWS

REAL_GENES_FILE = Path(__file__).with_name("gencode_v36_genes.tsv")
SUBTYPES = ("classical", "mesenchymal", "proneural")
# Effects on the natural-log mean of a gene (per unit of the covariate).
EXPRESSION_EFFECTS: dict[str, dict[str, float]] = {
    "idh_wildtype": {"EGFR": 1.4, "VEGFA": 0.8, "CD44": 0.9, "MET": 0.8, "HOXA9": 1.0},
    "idh_mutant": {"OLIG2": 0.9},
}
RANDOM_SET_SIZES = {"idh_wildtype": 120, "idh_mutant": 80, "grade": 80, "codeletion": 80, "risk": 50}
RANDOM_SET_EFFECTS = {"idh_wildtype": 0.8, "idh_mutant": 0.8, "grade": 0.35, "codeletion": -0.6, "risk": 0.5}
SUBTYPE_PROGRAM_GENES = 50
SUBTYPE_EFFECT = 1.0
# Bad files on request (sandbox.synthetic.writer): the kinds the ingest must quarantine by file, line and value.
BAD_FILE_KINDS = ("truncated", "non_numeric_cell", "wrong_header", "duplicate_gene")
_GENE_TYPES = (
    ("protein_coding", 0.33),
    ("lncRNA", 0.28),
    ("processed_pseudogene", 0.17),
    ("misc_RNA", 0.04),
    ("snRNA", 0.03),
    ("unprocessed_pseudogene", 0.04),
    ("miRNA", 0.03),
    ("other", 0.08),
)


@dataclass(frozen=True)
class GeneCatalogue:
    gene_id: list[str]
    gene_name: list[str]
    gene_type: list[str]
    length_kb: np.ndarray  # synthetic gene lengths (kb) for TPM / FPKM
    base_log_share: np.ndarray  # natural log of the gene's share of a library, before effects
    dispersion: np.ndarray  # negative-binomial dispersion per gene
    effects: dict[str, np.ndarray]  # covariate -> per-gene effect on the log mean
    planted: dict[str, list[str]]  # covariate -> gene names it moves (truth)

    @property
    def n_genes(self) -> int:
        return len(self.gene_id)


@functools.lru_cache(maxsize=4)
def gene_catalogue(n_genes: int, seed: int) -> GeneCatalogue:
    """The first `n_genes` genes (real ones first) with their means and planted effects; deterministic."""
    if not 1 <= n_genes <= MAX_GENES_PER_FILE:
        raise ValueError(f"n_genes must be 1..{MAX_GENES_PER_FILE}, got {n_genes}")
    real = pl.read_csv(
        REAL_GENES_FILE,
        separator="\t",
        comment_prefix="#",
        has_header=False,
        new_columns=["gene_id", "gene_name", "gene_type"],
    )
    rng = np.random.default_rng([seed, 1_007])
    # The genes with named effects first, so a small catalogue still carries them.
    named = {gene for effects in EXPRESSION_EFFECTS.values() for gene in effects} | {"PDGFRA"}
    real = real.sort(pl.col("gene_name").is_in(list(named)), descending=True, maintain_order=True)
    ids, names, types = real["gene_id"].to_list(), real["gene_name"].to_list(), real["gene_type"].to_list()
    extra = max(0, n_genes - len(ids))
    labels, shares = zip(*_GENE_TYPES, strict=True)
    drawn = rng.choice(len(labels), size=extra, p=np.array(shares) / sum(shares))
    ids += [f"ENSG99{k:09d}.1" for k in range(extra)]
    names += [f"SYNTH{k}" for k in range(extra)]
    types += [labels[d] for d in drawn]
    order = np.argsort(np.array(ids[:n_genes]))  # GDC files list genes sorted by gene id
    ids = [ids[k] for k in order]
    names = [names[k] for k in order]
    types = [types[k] for k in order]
    n = len(ids)
    low = rng.random(n) < 0.25
    base = np.where(low, rng.normal(-17.0, 1.5, n), rng.normal(-10.5, 1.8, n))
    base[np.array([t == "protein_coding" for t in types])] += 1.0
    dispersion = np.exp(rng.normal(np.log(0.15), 0.5, n))
    length_kb = np.exp(rng.normal(np.log(2.5), 0.8, n)).clip(0.1, 100)
    index = {name: k for k, name in enumerate(names)}
    effects: dict[str, np.ndarray] = {}
    planted: dict[str, list[str]] = {}
    expressed = np.flatnonzero(~low)
    for covariate, size in RANDOM_SET_SIZES.items():
        effect = np.zeros(n)
        named = {g: e for g, e in EXPRESSION_EFFECTS.get(covariate, {}).items() if g in index}
        for gene, value in named.items():
            effect[index[gene]] = value
        chosen = rng.choice(expressed, size=min(size, expressed.size), replace=False)
        chosen = chosen[effect[chosen] == 0]
        effect[chosen] = RANDOM_SET_EFFECTS[covariate] * rng.uniform(0.6, 1.4, chosen.size)
        effects[covariate] = effect
        planted[covariate] = sorted(names[k] for k in np.flatnonzero(effect))
    for subtype in SUBTYPES:
        effect = np.zeros(n)
        chosen = rng.choice(expressed, size=min(SUBTYPE_PROGRAM_GENES, expressed.size), replace=False)
        effect[chosen] = SUBTYPE_EFFECT
        effects[f"subtype_{subtype}"] = effect
        planted[f"subtype_{subtype}"] = sorted(names[k] for k in chosen)
    return GeneCatalogue(ids, names, types, length_kb, base, dispersion, effects, planted)


@dataclass(frozen=True)
class ExpressionSource:
    """What one file's bytes depend on (and nothing else): the stand-in regenerates a file from this row."""

    seed: int
    n_genes: int
    file_key: int  # (case, sample, version, aliquot) packed
    idh_mutant: bool
    codeletion_1p19q: bool
    who_grade: int
    risk: float  # standardised latent risk of death (higher = shorter survival)
    subtype: str
    bad_kind: str | None = None


def _rng(seed: int, file_key: int) -> np.random.Generator:
    return np.random.default_rng([seed, 2_029, file_key])


def expression_counts(source: ExpressionSource) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """unstranded, stranded_first, stranded_second counts and the STAR summary rows of one file."""
    genes = gene_catalogue(source.n_genes, source.seed)
    rng = _rng(source.seed, source.file_key)
    log_mean = genes.base_log_share.copy()
    covariates = {
        "idh_wildtype": 0.0 if source.idh_mutant else 1.0,
        "idh_mutant": 1.0 if source.idh_mutant else 0.0,
        "grade": float(source.who_grade - 3),
        "codeletion": 1.0 if source.codeletion_1p19q else 0.0,
        "risk": source.risk,
        **{f"subtype_{s}": 1.0 if s == source.subtype else 0.0 for s in SUBTYPES},
    }
    for covariate, value in covariates.items():
        if value:
            log_mean += genes.effects[covariate] * value
    share = np.exp(log_mean - log_mean.max())
    share /= share.sum()
    library = rng.uniform(20e6, 60e6)
    mean = share * library
    shape = 1.0 / genes.dispersion
    unstranded = rng.poisson(rng.gamma(shape, mean / shape)).astype(np.int64)
    first = rng.binomial(unstranded, 0.5).astype(np.int64)
    second = unstranded - first
    total = int(unstranded.sum())
    summary = {
        "N_unmapped": int(total * rng.uniform(0.03, 0.12)),
        "N_multimapping": int(total * rng.uniform(0.05, 0.15)),
        "N_noFeature": int(total * rng.uniform(0.02, 0.08)),
        "N_ambiguous": int(total * rng.uniform(0.03, 0.09)),
    }
    return unstranded, first, second, summary


def _frame(source: ExpressionSource) -> tuple[pl.DataFrame, dict[str, int]]:
    genes = gene_catalogue(source.n_genes, source.seed)
    unstranded, first, second, summary = expression_counts(source)
    per_kb = unstranded / genes.length_kb
    tpm = per_kb / per_kb.sum() * 1e6 if per_kb.sum() > 0 else per_kb
    coding = _coding(source.n_genes, source.seed)
    coding_total = max(int(unstranded[coding].sum()), 1)
    fpkm = unstranded * 1e9 / (genes.length_kb * 1e3 * coding_total)
    positive = unstranded[coding & (unstranded > 0)]
    upper_quartile = float(np.percentile(positive, 75)) if positive.size else 1.0
    fpkm_uq = unstranded * 1e9 / (genes.length_kb * 1e3 * upper_quartile * max(int(coding.sum()), 1))
    frame = _gene_columns(source.n_genes, source.seed).with_columns(
        pl.Series("unstranded", unstranded),
        pl.Series("stranded_first", first),
        pl.Series("stranded_second", second),
        pl.Series("tpm_unstranded", tpm),
        pl.Series("fpkm_unstranded", fpkm),
        pl.Series("fpkm_uq_unstranded", fpkm_uq),
    )
    return frame, summary


@functools.lru_cache(maxsize=4)
def _gene_columns(n_genes: int, seed: int) -> pl.DataFrame:
    """The catalogue's text columns, built once (a file only adds its numbers)."""
    genes = gene_catalogue(n_genes, seed)
    return pl.DataFrame({"gene_id": genes.gene_id, "gene_name": genes.gene_name, "gene_type": genes.gene_type})


@functools.lru_cache(maxsize=4)
def _coding(n_genes: int, seed: int) -> np.ndarray:
    return np.array([t == "protein_coding" for t in gene_catalogue(n_genes, seed).gene_type])


def expression_file_bytes(source: ExpressionSource) -> bytes:
    """The file exactly as GDC writes it: gene-model line, header, the four STAR rows, one row per gene (sorted by
    gene id; counts as integers, TPM / FPKM / FPKM-UQ with 4 decimals). A `bad_kind` breaks it the way real
    downloads and pipelines break: cut short, a non-numeric cell, a wrong header, a gene listed twice."""
    frame, summary = _frame(source)
    header = "\t".join(STAR_COUNTS_COLUMNS)
    if source.bad_kind == "wrong_header":
        header = header.replace("tpm_unstranded", "tpm")
    if source.bad_kind == "duplicate_gene" and frame.height > 2:
        frame = pl.concat([frame.head(2), frame.slice(1, 1), frame.slice(2)])
    body = frame.write_csv(separator="\t", include_header=False, float_precision=4, quote_style="never")
    summary_rows = "".join(f"{name}\t\t\t{count}\t{count}\t{count}\t\t\t\n" for name, count in summary.items())
    assert tuple(summary) == STAR_SUMMARY_ROWS
    text = f"# gene-model: {EXPECTED_GENE_MODEL}\n{header}\n{summary_rows}{body}"
    if source.bad_kind == "non_numeric_cell":
        lines = text.split("\n")
        middle = 6 + (len(lines) - 8) // 2
        cells = lines[middle].split("\t")
        cells[3] = "NA"
        lines[middle] = "\t".join(cells)
        text = "\n".join(lines)
    data = text.encode()
    if source.bad_kind == "truncated":
        data = data[: len(data) - max(5, len(data) // 3)]
        data = data.rstrip(b"\n")
    return data


def file_digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- the files of a release (sandbox.synthetic.writer) ------------------------------------------------------------
EXPRESSION_SOURCES_FILE = "_expression_sources.parquet"  # one row per file: what its bytes are generated from
EXPRESSION_TRUTH_FILE = "_synthetic_truth_expression.json"  # planted genes per effect
EXPRESSION_SHARE = {0: 0.30, 1: 0.95}  # by project (0 GBM, 1 LGG): TCGA has RNA-seq for ~1/4 of GBM, most LGG
SECOND_ALIQUOT_SHARE = 0.05
RISK_CENTRE_DAYS, RISK_SCALE = 1000.0, 1.2  # log survival days ~ centre, scale of the synthetic cohort
SOURCES_SCHEMA = {
    "file_id": pl.String,
    "case_id": pl.String,
    "submitter_id": pl.String,
    "sample_submitter_id": pl.String,
    "sample_type": pl.String,
    "aliquot_submitter_id": pl.String,
    "version": pl.Int64,
    "seed": pl.Int64,
    "n_genes": pl.Int64,
    "file_key": pl.UInt64,
    "idh_mutant": pl.Boolean,
    "codeletion_1p19q": pl.Boolean,
    "who_grade": pl.Int64,
    "risk": pl.Float64,
    "subtype": pl.String,
    "bad_kind": pl.String,
    "md5sum": pl.String,
    "file_size": pl.Int64,
}


def source_of(row: dict) -> ExpressionSource:
    return ExpressionSource(
        seed=int(row["seed"]),
        n_genes=int(row["n_genes"]),
        file_key=int(row["file_key"]),
        idh_mutant=bool(row["idh_mutant"]),
        codeletion_1p19q=bool(row["codeletion_1p19q"]),
        who_grade=int(row["who_grade"]),
        risk=float(row["risk"]),
        subtype=str(row["subtype"]),
        bad_kind=row["bad_kind"],
    )


def plan_expression_files(
    cohort,
    members: np.ndarray,
    case_ids: list[str],
    barcodes: list[str],
    state,
    *,
    seed: int,
    n_genes: int,
    bad_files: int,
    namespace,
) -> pl.DataFrame:
    """One row per expression file of the release (SOURCES_SCHEMA without md5/size): which cases are profiled
    (keyed by case, so a case keeps its files), a second aliquot or a recurrent tumour for some, bad files."""
    from sandbox.synthetic.documents import fast_uuid5
    from sandbox.synthetic.keyed import keyed_uniform

    members = np.asarray(members, dtype=np.int64)
    profiled = keyed_uniform(seed, "expression-profiled", members) < np.where(
        cohort.project[members] == 0, EXPRESSION_SHARE[0], EXPRESSION_SHARE[1]
    )
    second = keyed_uniform(seed, "expression-second-aliquot", members) < SECOND_ALIQUOT_SHARE
    subtype_draw = keyed_uniform(seed, "expression-subtype", members)
    # Fixed centre and scale (not the release's): a case's file bytes must not change when other cases come and go.
    risk = -(np.log(cohort.true_death_days[members].astype(float)) - np.log(RISK_CENTRE_DAYS)) / RISK_SCALE
    rows = []
    for pos, i in enumerate(members.tolist()):
        if not profiled[pos]:
            continue
        idh = bool(cohort.idh_mutant[i])
        cut = (0.1, 0.2) if idh else (0.4, 0.8)  # IDH-mutant tumours are mostly proneural
        draw = subtype_draw[pos]
        subtype = SUBTYPES[0] if draw < cut[0] else SUBTYPES[1] if draw < cut[1] else SUBTYPES[2]
        samples = [(1, 1)] + ([(1, 2)] if second[pos] else []) + ([(2, 1)] if cohort.recurrent_sample[i] else [])
        version = state.file_version.get((i, 1), 1)
        for sample, aliquot in samples:
            sample_type, suffix = ("Primary Tumor", "01A") if sample == 1 else ("Recurrent Tumor", "02A")
            rows.append(
                {
                    "file_id": fast_uuid5(namespace, f"expression:{i}:{sample}:{aliquot}:v{version}"),
                    "case_id": case_ids[pos],
                    "submitter_id": barcodes[pos],
                    "sample_submitter_id": f"{barcodes[pos]}-{suffix}",
                    "sample_type": sample_type,
                    "aliquot_submitter_id": f"{barcodes[pos]}-{suffix}-{aliquot}1R-A{i % 1000:03d}-07",
                    "version": version,
                    "seed": seed,
                    "n_genes": n_genes,
                    "file_key": (i << 24) | (sample << 16) | (aliquot << 12) | version,
                    "idh_mutant": idh,
                    "codeletion_1p19q": bool(cohort.codeletion_1p19q[i]),
                    "who_grade": int(cohort.who_grade[i]),
                    "risk": float(risk[pos]),
                    "subtype": subtype,
                    "bad_kind": None,
                    "md5sum": None,
                    "file_size": None,
                }
            )
    plan = pl.DataFrame(rows, schema=SOURCES_SCHEMA)
    if bad_files and plan.height:
        order = np.argsort(keyed_uniform(seed, "expression-bad", np.arange(plan.height)))[:bad_files]
        kinds = [None] * plan.height
        for rank, row in enumerate(sorted(order.tolist())):
            kinds[row] = BAD_FILE_KINDS[rank % len(BAD_FILE_KINDS)]
        plan = plan.with_columns(pl.Series("bad_kind", kinds, dtype=pl.String))
    return plan


_GENERATION_KEYS = [c for c in SOURCES_SCHEMA if c not in ("md5sum", "file_size")]


def write_expression_files(
    plan: pl.DataFrame, data_dir: Path | None, known: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Generate every planned file once: its md5 and size go into the plan (the documents need them); the bytes
    are written to `data_dir`, or not at all when the stand-in will generate them on request (data_dir None).
    `known`: an earlier release's sources; an on-demand file generated from the same row there has its md5 and size
    already (the bytes depend on the row alone), so a new release of 10,000 files generates only what changed."""
    reuse: dict[tuple, tuple[str, int]] = {}
    if known is not None and data_dir is None:
        for row in known.iter_rows(named=True):
            reuse[tuple(row[c] for c in _GENERATION_KEYS)] = (row["md5sum"], row["file_size"])
    md5s, sizes = [], []
    for row in plan.iter_rows(named=True):
        found = reuse.get(tuple(row[c] for c in _GENERATION_KEYS))
        if found is not None:
            md5s.append(found[0])
            sizes.append(found[1])
            continue
        data = expression_file_bytes(source_of(row))
        md5s.append(file_digest(data))
        sizes.append(len(data))
        if data_dir is not None:
            (data_dir / row["file_id"]).write_bytes(data)
    return plan.with_columns(pl.Series("md5sum", md5s, dtype=pl.String), pl.Series("file_size", sizes, dtype=pl.Int64))


def expression_document(row: dict, project_id: str, namespace) -> dict:
    from sandbox.synthetic.documents import fast_uuid5

    file_id = row["file_id"]
    return {
        "id": file_id,
        "file_id": file_id,
        "file_name": f"{file_id}.rna_seq.augmented_star_gene_counts.tsv",
        "data_category": "Transcriptome Profiling",
        "data_type": "Gene Expression Quantification",
        "data_format": "TSV",
        "experimental_strategy": "RNA-Seq",
        "platform": "Illumina",
        "access": "open",
        "state": "released",
        "version": str(row["version"]),
        "md5sum": row["md5sum"],
        "file_size": row["file_size"],
        "analysis": {"workflow_type": "STAR - Counts"},
        "cases": [
            {
                "case_id": row["case_id"],
                "submitter_id": row["submitter_id"],
                "project": {"project_id": project_id},
                "samples": [
                    {
                        "sample_id": fast_uuid5(namespace, f"sample:{row['sample_submitter_id']}"),
                        "sample_type": row["sample_type"],
                        "submitter_id": row["sample_submitter_id"],
                        "portions": [{"analytes": [{"aliquots": [{"submitter_id": row["aliquot_submitter_id"]}]}]}],
                    }
                ],
            }
        ],
    }


def expression_files_of_release(spec, cohort, members, case_ids, barcodes, project_ids, state, namespace, release_dir):
    """The release's expression files: (case position, sample order, files.jsonl line) per file and the data bytes
    written; the sources sidecar (what the stand-in generates on-demand files from) and the planted genes."""
    import json

    plan = plan_expression_files(
        cohort,
        members,
        case_ids,
        barcodes,
        state,
        seed=spec.seed,
        n_genes=spec.expression_genes,
        bad_files=spec.expression_bad_files,
        namespace=namespace,
    )
    on_disk = None if spec.expression_on_demand else release_dir / "data"
    # The newest release already written beside this one (write_multi_release writes them in order).
    earlier = sorted(release_dir.parent.glob(f"[0-9]*/{EXPRESSION_SOURCES_FILE}"), key=lambda p: p.stat().st_mtime)
    known = pl.read_parquet(earlier[-1]) if earlier else None
    plan = write_expression_files(plan, on_disk, known)
    plan.write_parquet(release_dir / EXPRESSION_SOURCES_FILE)
    planted = gene_catalogue(spec.expression_genes, spec.seed).planted
    (release_dir / EXPRESSION_TRUTH_FILE).write_text(json.dumps({"planted_genes": planted}, indent=1))
    position = {case_id: pos for pos, case_id in enumerate(case_ids)}
    lines = []
    for order, row in enumerate(plan.iter_rows(named=True)):
        pos = position[row["case_id"]]
        document = expression_document(row, project_ids[pos], namespace)
        lines.append((pos, 10 + order, json.dumps(document) + "\n"))
    written = 0 if on_disk is None else int(plan["file_size"].sum() or 0)
    return lines, written
