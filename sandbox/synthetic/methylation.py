"""Methylation beta files (SeSAMe level-3 betas): probe id TAB beta-or-NA, no header, sorted by probe id.

Text is built with numpy byte arithmetic (no per-value Python formatting), so 485,000-probe files and
tens of thousands of 300-probe files are written quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.panels import MGMT_STP27_PROBES
from sandbox.synthetic.cohort_model import STP27_CUTOFF, mgmt_probe_betas, stp27_probability
from sandbox.synthetic.keyed import keyed_u64, keyed_uniform

HM450, HM27 = "Illumina Human Methylation 450", "Illumina Human Methylation 27"
HM27_PROBE_COUNT = 27578  # Illumina HumanMethylation27: 27,578 CpG probes; a 27k file cannot hold more.
NA_SHARE = 0.02  # SeSAMe masks ~2% of probes (pOOBAH detection) -> "NA"
GCIMP_PROBE_SHARE = 0.08  # probes hypermethylated in G-CIMP (IDH-mutant) tumours (Noushmehr2010)
GCIMP_SHIFT = 0.35
BETA_NOISE_SD = 0.06
DECIMALS = 6  # as in the real dev bundle's files ("0.145569")
_ID_WIDTH = 10  # "cg" + 8 digits
_LINE_WIDTH = _ID_WIDTH + 1 + 2 + DECIMALS + 1  # id TAB d.dddddd LF


@dataclass(frozen=True)
class ProbePanel:
    """The probes of one platform in one bundle: ids sorted, per-probe base beta, G-CIMP flag."""

    platform: str
    probe_ids: np.ndarray  # (P, 10) uint8 ASCII
    base_beta: np.ndarray  # (P,)
    gcimp: np.ndarray  # (P,) bool
    mgmt_rows: tuple[int, int]  # rows of cg12434587 (M1), cg12981137 (M2)

    @property
    def n_probes(self) -> int:
        return int(self.probe_ids.shape[0])


def probe_panel(seed: int, platform: str, n_other_probes: int) -> ProbePanel:
    """`n_other_probes` random cg ids plus the two MGMT-STP27 probes, sorted as real files are, so the
    MGMT probes land wherever their ids sort (not on the first lines)."""
    if platform == HM27:
        n_other_probes = min(n_other_probes, HM27_PROBE_COUNT - len(MGMT_STP27_PROBES))
    rng = np.random.default_rng([seed, 0x9E7, 27 if platform == HM27 else 450])
    mgmt_numbers = np.array([int(p[2:]) for p in MGMT_STP27_PROBES])
    numbers = rng.choice(10**8, size=n_other_probes + len(mgmt_numbers), replace=False)
    numbers = numbers[~np.isin(numbers, mgmt_numbers)][:n_other_probes]
    numbers = np.sort(np.concatenate([numbers, mgmt_numbers]))
    digits = (numbers[:, None] // (10 ** np.arange(7, -1, -1))[None, :]) % 10
    ids = np.empty((numbers.shape[0], _ID_WIDTH), dtype=np.uint8)
    ids[:, 0], ids[:, 1] = ord("c"), ord("g")
    ids[:, 2:] = (digits + ord("0")).astype(np.uint8)
    # Bimodal per-probe methylation: most CpGs are either unmethylated or methylated.
    mode = rng.random(numbers.shape[0])
    base = np.where(
        mode < 0.45,
        rng.beta(1.2, 12.0, numbers.shape[0]),
        np.where(mode < 0.9, rng.beta(12.0, 1.8, numbers.shape[0]), rng.beta(2.0, 2.0, numbers.shape[0])),
    )
    m1_row = int(np.searchsorted(numbers, mgmt_numbers[0]))
    m2_row = int(np.searchsorted(numbers, mgmt_numbers[1]))
    return ProbePanel(platform, ids, base, rng.random(numbers.shape[0]) < GCIMP_PROBE_SHARE, (m1_row, m2_row))


@dataclass(frozen=True)
class BetaFile:
    data: bytes
    beta_m1: float  # cg12434587 as written (rounded)
    beta_m2: float  # cg12981137 as written (rounded)
    stp27_probability: float  # MGMT-STP27 on the written values


def _format(panel: ProbePanel, betas: np.ndarray, na: np.ndarray) -> np.ndarray:
    """Fixed-width ASCII lines for a (F, P) matrix of betas; NA cells padded with 0 bytes to strip."""
    f, p = betas.shape
    out = np.empty((f, p, _LINE_WIDTH), dtype=np.uint8)
    out[:, :, :_ID_WIDTH] = panel.probe_ids[None, :, :]
    out[:, :, _ID_WIDTH] = ord("\t")
    micro = np.rint(betas * 10**DECIMALS).astype(np.int64)
    out[:, :, _ID_WIDTH + 1] = (micro // 10**DECIMALS + ord("0")).astype(np.uint8)
    out[:, :, _ID_WIDTH + 2] = ord(".")
    for k in range(DECIMALS):
        out[:, :, _ID_WIDTH + 3 + k] = ((micro // 10 ** (DECIMALS - 1 - k)) % 10 + ord("0")).astype(np.uint8)
    out[:, :, -1] = ord("\n")
    if na.any():
        cells = out[na]
        cells[:, _ID_WIDTH + 1] = ord("N")
        cells[:, _ID_WIDTH + 2] = ord("A")
        cells[:, _ID_WIDTH + 3 : -1] = 0
        out[na] = cells
    return out


def beta_files(
    panel: ProbePanel,
    seed: int,
    file_keys: np.ndarray,
    methylated: np.ndarray,
    gcimp: np.ndarray,
    chunk_bytes: int = 32 * 2**20,
) -> list[BetaFile]:
    """Build the bytes of several files of one platform. A file's values depend only on (seed, its key,
    probe), drawn from a keyed hash, so an unchanged file is byte-identical in every release. The MGMT
    probes are checked with MGMT-STP27 on the rounded values written, so a file can never disagree with
    its intended status."""
    results: list[BetaFile] = []
    per_chunk = max(1, chunk_bytes // (panel.n_probes * _LINE_WIDTH))
    r1, r2 = panel.mgmt_rows
    probe_index = np.arange(panel.n_probes, dtype=np.uint64)[None, :]
    file_keys = np.asarray(file_keys, dtype=np.uint64)
    for start in range(0, len(file_keys), per_chunk):
        stop = min(start + per_chunk, len(file_keys))
        keys = file_keys[start:stop]
        bits = keyed_u64(seed, "methylation-beta", keys[:, None], probe_index)
        # three 21-bit uniforms per hash: two make a triangular noise (mean 0, sd BETA_NOISE_SD), one the NA mask
        scale = 2.0**-21
        u1 = (bits & np.uint64(0x1FFFFF)).astype(np.float64) * scale
        u2 = ((bits >> np.uint64(21)) & np.uint64(0x1FFFFF)).astype(np.float64) * scale
        u3 = ((bits >> np.uint64(42)) & np.uint64(0x1FFFFF)).astype(np.float64) * scale
        betas = panel.base_beta[None, :] + (u1 + u2 - 1.0) * (BETA_NOISE_SD * 6**0.5)
        betas += np.where(gcimp[start:stop, None] & panel.gcimp[None, :], GCIMP_SHIFT, 0.0)
        betas = np.clip(betas, 0.0005, 0.9995)
        na = u3 < NA_SHARE
        # two standard normals per file for the MGMT probes (Box-Muller on keyed uniforms)
        mu = keyed_uniform(seed, "methylation-mgmt", keys[:, None], np.arange(2, dtype=np.uint64)[None, :])
        radius = np.sqrt(-2.0 * np.log1p(-mu[:, 0]))
        z1, z2 = radius * np.cos(2 * np.pi * mu[:, 1]), radius * np.sin(2 * np.pi * mu[:, 1])
        m1, m2 = mgmt_probe_betas(z1, z2, methylated[start:stop])
        betas[:, r1], betas[:, r2] = m1, m2
        na[:, r1] = na[:, r2] = False
        betas = np.round(betas, DECIMALS)
        probability = stp27_probability(betas[:, r1], betas[:, r2])
        called = probability > STP27_CUTOFF
        if not np.array_equal(called, methylated[start:stop].astype(bool)):
            bad = int(np.flatnonzero(called != methylated[start:stop])[0]) + start
            raise AssertionError(f"generated MGMT probe betas of file #{bad} disagree with its intended status")
        text = _format(panel, betas, na)
        has_na = na.any(axis=1)
        for row in range(stop - start):
            flat = text[row].reshape(-1)
            data = flat[flat != 0].tobytes() if has_na[row] else flat.tobytes()
            results.append(BetaFile(data, float(betas[row, r1]), float(betas[row, r2]), float(probability[row])))
    return results
