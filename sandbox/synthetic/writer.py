"""Write synthetic GDC release bundles (format: shared/GDC_BUNDLE.md), one release or a series of them.

Each release is written into a temporary directory beside its final place and renamed into place, and
CURRENT is replaced atomically afterwards, so a stand-in never serves a half-written release.

What changes from release to release is in sandbox.synthetic.history, the ground truth sidecars in
sandbox.synthetic.truth; this module writes the documents, data files and sidecars of each release.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from contracts.panels import MGMT_STP27_PROBES, SSM_PANEL_GENES
from sandbox.synthetic import cohort_model as cm
from sandbox.synthetic import documents as docs
from sandbox.synthetic.defects import Defect, apply_defect, choose_defects, defect_rng
from sandbox.synthetic.history import (
    ADDED_SHARE_OF_CHANGES,
    State,
    apply_changes,
    cohort_namespace,
    initial_state,
    methylation_file_id,
)
from sandbox.synthetic.keyed import keyed_u64, keyed_uuids
from sandbox.synthetic.methylation import HM27, HM450, beta_files, probe_panel
from sandbox.synthetic.profiles import RELEASE_PROFILES, ReleaseProfile, release_date, status_document
from sandbox.synthetic.ssm_catalog import VARIANTS
from sandbox.synthetic.truth import FILES_TRUTH_SCHEMA, TRUTH_FILE, TRUTH_FILES_FILE, truth_frame

MAX_CASES = 200_000
# json.dumps with default separators (as the real bundle), without per-call option handling
_ENCODE = json.JSONEncoder(check_circular=False).encode
SAMPLE_TYPES = {1: ("Primary Tumor", "01A"), 2: ("Recurrent Tumor", "02A")}


@dataclass(frozen=True)
class CohortSpec:
    """What to generate. `methylation_share=None` keeps the realistic per-project share (~80% overall);
    each case gets a recorded bad value with probability `bad_value_share` (keyed by the case, so it keeps
    it in later releases; the truth sidecar lists exactly which)."""

    n_cases: int
    seed: int = 7
    release_label: str = "45.0"
    profile: str = "dr45"
    bad_value_share: float = 0.0
    methylation_probes: int = 300
    methylation_share: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_cases, (int, np.integer)) or not 1 <= self.n_cases <= MAX_CASES:
            raise ValueError(f"CohortSpec.n_cases must be an integer from 1 to {MAX_CASES}, got {self.n_cases!r}")
        if self.profile not in RELEASE_PROFILES:
            raise ValueError(f"CohortSpec.profile {self.profile!r} is unknown; known: {', '.join(RELEASE_PROFILES)}")
        if not 0.0 <= self.bad_value_share <= 1.0:
            raise ValueError(f"CohortSpec.bad_value_share must be in [0, 1], got {self.bad_value_share!r}")
        if self.methylation_share is not None and not 0.0 <= self.methylation_share <= 1.0:
            raise ValueError(f"CohortSpec.methylation_share must be None or in [0, 1], got {self.methylation_share!r}")
        if not 0 <= self.methylation_probes <= 10**6:
            raise ValueError(f"CohortSpec.methylation_probes must be in [0, 1000000], got {self.methylation_probes!r}")
        release_date(self.release_label)  # validates the label form


@dataclass(frozen=True)
class BundleSummary:
    root: Path
    release_dir: Path
    release_label: str
    profile: str
    n_cases: int  # distinct cases in the release
    cases_per_project: dict[str, int]
    n_case_documents: int  # lines of cases.jsonl (duplicates included)
    n_ssm_occurrences: int
    n_cnv_occurrences: int
    n_files: int
    data_bytes: int  # bytes under data/
    total_bytes: int  # bytes of the whole release directory (sidecars included)
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)  # release_change -> cases (multi-release)


def _updated_datetimes(seed: int, members: np.ndarray, labels: list[str]) -> list[str]:
    """Deterministic timestamps (GDC style: microseconds, Chicago offset) in the weeks before the release
    that last touched each case, so an untouched case keeps its timestamp from release to release."""
    out = [""] * len(members)
    by_label: dict[str, list[int]] = {}
    for pos, label in enumerate(labels):
        by_label.setdefault(label, []).append(pos)
    for label, positions in by_label.items():
        h = keyed_u64(seed, f"updated-datetime:{label}", members[positions])
        days = (h % np.uint64(40)).astype(np.int64) + 20
        seconds = ((h >> np.uint64(8)) % np.uint64(86400)).astype(np.int64)
        micro = ((h >> np.uint64(30)) % np.uint64(1_000_000)).astype(np.int64)
        base = np.datetime64(release_date(label).isoformat(), "s")
        stamps = base - days.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
        text = np.datetime_as_string(stamps, unit="s")
        for pos, stamp, us in zip(positions, text.tolist(), micro.tolist(), strict=True):
            out[pos] = f"{stamp}.{us:06d}-06:00"
    return out


def _exchange_paths(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _write_lines(path: Path, lines: Iterable[str]) -> int:
    """Stream lines to a file (no giant joined copy in memory); returns the bytes written."""
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 22) as handle:
        handle.writelines(lines)
    return path.stat().st_size


def _write_release(
    root: Path, spec: CohortSpec, label: str, profile: ReleaseProfile, cohort: cm.Cohort, state: State
) -> BundleSummary:
    """Write one release beside its final place, then publish it; on any failure the temporary
    directory is removed and the published release and CURRENT stay as they were."""
    try:
        return _write_and_publish(root, spec, label, profile, cohort, state)
    except BaseException:
        shutil.rmtree(root / "releases" / f".tmp-{label}-{os.getpid()}", ignore_errors=True)
        raise


def _write_and_publish(
    root: Path, spec: CohortSpec, label: str, profile: ReleaseProfile, cohort: cm.Cohort, state: State
) -> BundleSummary:
    started = time.perf_counter()
    namespace = cohort_namespace(spec.seed)
    releases = root / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    final = releases / label
    tmp = releases / f".tmp-{label}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "data").mkdir(parents=True)

    members = np.asarray(state.members, dtype=np.int64)
    project_ids = [cm.PROJECT_IDS[p] for p in cohort.project[members]]
    barcodes = [docs.barcode(int(cohort.project[i]), int(i)) for i in members]
    case_ids = [docs.fast_uuid5(namespace, f"case:{i}") for i in members]
    case_refs = [docs.case_ref_json(c, b, p) for c, b, p in zip(case_ids, barcodes, project_ids, strict=True)]

    # --- cases + recorded defects ---
    censor = state.censor_days[members]
    dead = (cohort.true_death_days[members] <= censor) & ~cohort.vital_status_not_reported[members]
    chosen = choose_defects(spec.seed, members, spec.bad_value_share, dead)
    defects: dict[int, Defect] = {}
    case_lines: list[str] = []
    rand = docs.case_random(spec.seed, members)
    updated = _updated_datetimes(spec.seed, members, [state.touched_label[i] for i in members.tolist()])
    for pos, i in enumerate(members.tolist()):
        view = docs.CaseView(i, case_ids[pos], barcodes[pos], project_ids[pos], int(censor[pos]), updated[pos])
        doc = docs.case_document(cohort, view, profile, rand, pos, force_children=pos in chosen)
        if pos in chosen:
            defects[pos] = apply_defect(doc, chosen[pos], profile, defect_rng(spec.seed, i))
        line = _ENCODE(doc) + "\n"
        case_lines.append(line)
        if pos in chosen and chosen[pos] == "duplicate_case_document":
            case_lines.append(line)
    total = _write_lines(tmp / "cases.jsonl", case_lines)
    n_case_documents = len(case_lines)
    del case_lines

    # --- ssm occurrences: (case, gene) pairs in case order, then panel order ---
    mutated = docs.mutated_matrix(cohort)[members] & cohort.ssm_profiled[members][:, None]
    rows, gene_cols = np.nonzero(mutated)
    # occurrence ids keyed by (case, gene): stable from release to release
    occurrence_ids = keyed_uuids(spec.seed, "ssm-occurrence", members[rows], gene_cols)
    ssm_lines = []
    for pos, g, occurrence in zip(rows.tolist(), gene_cols.tolist(), occurrence_ids, strict=True):
        gene = SSM_PANEL_GENES[g]
        variant = int(cohort.variant_index[gene][members[pos]]) % len(VARIANTS[gene])
        ssm_lines.append(
            f'{{"id": "{occurrence}", "ssm_occurrence_id": "{occurrence}", '
            f'"case": {case_refs[pos]}, "ssm": {docs.SSM_JSON[gene][variant]}}}\n'
        )
    total += _write_lines(tmp / "ssm_occurrences.jsonl", ssm_lines)
    n_ssm = len(ssm_lines)
    del ssm_lines

    # --- cnv occurrences: only changed marker genes of cnv-profiled cases ---
    calls = docs.cnv_call_matrix(cohort, members)
    calls[~cohort.cnv_profiled[members]] = 0
    rows, gene_cols = np.nonzero(calls)
    codes = calls[rows, gene_cols].tolist()
    occurrence_ids = keyed_uuids(spec.seed, "cnv-occurrence", members[rows], gene_cols)
    cnv_lines = (
        f'{{"id": "{occurrence}", "cnv_occurrence_id": "{occurrence}", '
        f'"case": {case_refs[pos]}, "cnv": {docs.CNV_JSON_BY_CODE[g][code]}}}\n'
        for pos, g, code, occurrence in zip(rows.tolist(), gene_cols.tolist(), codes, occurrence_ids, strict=True)
    )
    total += _write_lines(tmp / "cnv_occurrences.jsonl", cnv_lines)
    n_cnv = len(codes)
    del occurrence_ids, codes

    # --- methylation files ---
    file_rows: dict[str, list] = {name: [] for name in FILES_TRUTH_SCHEMA}  # truth, column-wise
    file_lines: list[tuple[int, int, str]] = []
    data_bytes = 0
    data_dir = str(tmp / "data") + os.sep
    keys = [
        (pos, int(i), s)
        for pos, i in enumerate(members.tolist())
        if cohort.methylation_profiled[i]
        for s in ((1, 2) if cohort.recurrent_sample[i] else (1,))
    ]
    for platform in (HM450, HM27):
        group = [k for k in keys if (HM27 if cohort.methylation_hm27[k[1]] else HM450) == platform]
        if not group:
            continue
        panel = probe_panel(spec.seed, platform, spec.methylation_probes)
        versions = [state.file_version.get((i, s), 1) for _, i, s in group]
        # a file's key: (case, sample, version) -> its bytes never depend on other files
        file_keys = np.array(
            [(i << 16) | (s << 8) | v for (_, i, s), v in zip(group, versions, strict=True)], dtype=np.uint64
        )
        methylated = np.array([cohort.mgmt_methylated[i] for _, i, _ in group], dtype=bool)
        gcimp = np.array([cohort.idh_mutant[i] for _, i, _ in group], dtype=bool)
        # generate in slices so memory stays flat for 485k-probe files
        step = 4096
        for start in range(0, len(group), step):
            built = beta_files(
                panel,
                spec.seed,
                file_keys[start : start + step],
                methylated[start : start + step],
                gcimp[start : start + step],
            )
            for offset, beta in enumerate(built):
                pos, i, sample = group[start + offset]
                version = versions[start + offset]
                file_id = methylation_file_id(namespace, i, sample, version)
                with open(data_dir + file_id, "wb") as handle:
                    handle.write(beta.data)
                data_bytes += len(beta.data)
                sample_type, suffix = SAMPLE_TYPES[sample]
                document = {
                    "id": file_id,
                    "file_id": file_id,
                    "file_name": f"{file_id}.methylation_array.sesame.level3betas.txt",
                    "data_category": "DNA Methylation",
                    "data_type": "Methylation Beta Value",
                    "data_format": "TXT",
                    "experimental_strategy": "Methylation Array",
                    "platform": platform,
                    "access": "open",
                    "state": "released",
                    "version": str(version),
                    "md5sum": hashlib.md5(beta.data).hexdigest(),
                    "file_size": len(beta.data),
                    "analysis": {"workflow_type": "SeSAMe Methylation Beta Estimation"},
                    "cases": [
                        {
                            "case_id": case_ids[pos],
                            "submitter_id": barcodes[pos],
                            "project": {"project_id": project_ids[pos]},
                            "samples": [
                                {
                                    "sample_id": docs.fast_uuid5(namespace, f"sample:{i}:{sample}"),
                                    "sample_type": sample_type,
                                    "submitter_id": f"{barcodes[pos]}-{suffix}",
                                }
                            ],
                        }
                    ],
                }
                file_lines.append((pos, sample, _ENCODE(document) + "\n"))
                change, previous = state.file_change.get((i, sample), ("unchanged", None))
                for name, value in {
                    "release": label,
                    "file_id": file_id,
                    "case_id": case_ids[pos],
                    "submitter_id": barcodes[pos],
                    "sample_submitter_id": f"{barcodes[pos]}-{suffix}",
                    "sample_type": sample_type,
                    "platform": platform,
                    "version": str(version),
                    "md5sum": document["md5sum"],
                    "file_size": len(beta.data),
                    "mgmt_promoter_methylated": bool(cohort.mgmt_methylated[i]),
                    f"beta_{MGMT_STP27_PROBES[0]}": beta.beta_m1,
                    f"beta_{MGMT_STP27_PROBES[1]}": beta.beta_m2,
                    "stp27_probability": beta.stp27_probability,
                    "file_change": change,
                    "previous_file_id": previous,
                }.items():
                    file_rows[name].append(value)
    file_lines.sort(key=lambda t: (t[0], t[1]))  # case order, primary before recurrent
    total += _write_lines(tmp / "files.jsonl", [line for _, _, line in file_lines])
    total += data_bytes

    status = json.dumps(status_document(label, profile)) + "\n"
    total += _write_lines(tmp / "status.json", [status])

    # --- truth sidecars (outside the bundle contract) ---
    truth = truth_frame(cohort, state, label, members, case_ids, barcodes, project_ids, defects, namespace)
    truth.write_parquet(tmp / TRUTH_FILE)
    files_truth = pl.DataFrame(file_rows, schema=FILES_TRUTH_SCHEMA)
    files_truth = files_truth.sort("case_id", "sample_submitter_id")
    files_truth.write_parquet(tmp / TRUTH_FILES_FILE)
    total += (tmp / TRUTH_FILE).stat().st_size + (tmp / TRUTH_FILES_FILE).stat().st_size

    # --- publish: rename into place, then point CURRENT at it ---
    if final.exists():
        if _exchange_paths(tmp, final):  # atomic swap: readers see the old or the new release, never none
            shutil.rmtree(tmp)
        else:  # no renameat2: a short moment without the release, never a half-written one
            old = releases / f".old-{label}-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old)
    else:
        os.rename(tmp, final)
    current_tmp = root / f".CURRENT.tmp-{os.getpid()}"
    current_tmp.write_text(label + "\n")
    os.replace(current_tmp, root / "CURRENT")

    counts = Counter(project_ids)
    return BundleSummary(
        root=root,
        release_dir=final,
        release_label=label,
        profile=profile.name,
        n_cases=len(members),
        cases_per_project={p: counts.get(p, 0) for p in cm.PROJECT_IDS},
        n_case_documents=n_case_documents,
        n_ssm_occurrences=n_ssm,
        n_cnv_occurrences=n_cnv,
        n_files=len(file_lines),
        data_bytes=data_bytes,
        total_bytes=total,
        seconds=time.perf_counter() - started,
        changes=dict(
            Counter(state.case_change.get(int(i), "unchanged") for i in members)
            + Counter({"removed": len(state.removed)} if state.removed else {})
        ),
    )


def write_bundle(root: Path, spec: CohortSpec) -> BundleSummary:
    """Write one release (root/releases/<label>/) and point root/CURRENT at it."""
    root = Path(root)
    cohort = cm.draw_cohort(spec.n_cases, spec.seed, spec.methylation_share)
    state = initial_state(cohort, spec.n_cases, spec.release_label)
    state.file_change = {(i, s): ("initial", None) for i in range(spec.n_cases) for s in (1, 2)}
    return _write_release(root, spec, spec.release_label, RELEASE_PROFILES[spec.profile], cohort, state)


def write_multi_release(
    root: Path,
    spec: CohortSpec,
    releases: Sequence[str] = ("45.0", "46.0"),
    change_share: float = 0.1,
    profiles: Sequence[str] | None = None,
) -> list[BundleSummary]:
    """Write a history of releases; each later release changes `change_share` of the cases: new cases
    added, follow-up extended (some deaths appear), cases removed, new methylation file versions (new
    UUID, version+1, new bytes); everything else keeps its ids and bytes. The first release equals
    write_bundle(spec with that label). `profiles` (default: spec.profile for all) lets a history cross
    a field move (e.g. dr42 -> dr43). CURRENT ends at the last release."""
    root = Path(root)
    releases = list(releases)
    if not releases:
        raise ValueError("write_multi_release needs at least one release label")
    if len(set(releases)) != len(releases):
        raise ValueError(f"release labels must be distinct, got {releases}")
    if not 0.0 <= change_share <= 1.0:
        raise ValueError(f"change_share must be in [0, 1], got {change_share!r}")
    profile_names = list(profiles) if profiles is not None else [spec.profile] * len(releases)
    if len(profile_names) != len(releases):
        raise ValueError(f"{len(profile_names)} profiles given for {len(releases)} releases")
    for name in profile_names:
        if name not in RELEASE_PROFILES:
            raise ValueError(f"profile {name!r} is unknown; known: {', '.join(RELEASE_PROFILES)}")
    for label in releases:
        release_date(label)

    # Pool large enough for every case any release may add (members can only grow by the added ones).
    added_bound = sum(
        math.ceil(ADDED_SHARE_OF_CHANGES * math.ceil(change_share * spec.n_cases * (1 + change_share) ** k)) + 1
        for k in range(len(releases))
    )
    pool_n = spec.n_cases + added_bound
    if pool_n > docs.MAX_POOL_CASES:
        raise ValueError(f"{pool_n} cases over all releases exceed the barcode space ({docs.MAX_POOL_CASES})")
    cohort = cm.draw_cohort(pool_n, spec.seed, spec.methylation_share)
    state = initial_state(cohort, spec.n_cases, releases[0])
    state.file_change = {(i, s): ("initial", None) for i in range(spec.n_cases) for s in (1, 2)}
    namespace = cohort_namespace(spec.seed)
    next_new = spec.n_cases
    summaries = []
    for ordinal, (label, profile_name) in enumerate(zip(releases, profile_names, strict=True)):
        if ordinal > 0:
            next_new = apply_changes(cohort, state, label, ordinal, spec.seed, change_share, next_new, namespace)
        summaries.append(_write_release(root, spec, label, RELEASE_PROFILES[profile_name], cohort, state))
    return summaries
