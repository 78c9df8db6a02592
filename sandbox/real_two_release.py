"""A two-release bundle root made from a real one-release GDC bundle (GDC_BUNDLE.md, multi-release layout).

Why: release-to-release behaviour (the release sensor, raw files not fetched twice, release diffs,
prospective validation) should also be exercised on real TCGA documents, not only on synthetic ones.
The real dev bundle holds one release, so this simulates its predecessor: the first release holds a
seeded share of the cases, the second all of them, i.e. the second release *adds* the other cases and
changes nothing else.

    <target>/releases/<first>/   the chosen cases' documents, byte for byte as in the source, with their
                                 ssm/cnv occurrences and methylation files (a file only when every case
                                 it names is in the release) and data/ for those files
    <target>/releases/<second>/  every document of the source release, and all of data/
    <target>/CURRENT             the second label

Which cases go into the first release is decided by ranking sha256(f"{seed}:{case_id}"): deterministic,
independent of line order and library versions, and a larger share always includes a smaller one.
`status.json` keeps the source's document with `data_release` (and `data_release_version`, when present)
naming the new label; a label equal to the source's keeps the source file verbatim.

The target is written outside the repository (tests: a tmp dir) — the real data must not be copied into
the repo. data/ files are copied by default: a hard link (`link_data=True`, `--link-data`) shares the inode
with the source, and a test that corrupts a served file in place would corrupt the shared real data (root
ignores the read-only mode of the source files).

CLI: `python -m sandbox.real_two_release --source ../shared/realdata/bundles/tcga_gbmlgg_dev --target /tmp/x`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.synthetic.profiles import release_date

DOCUMENT_FILES = ("cases.jsonl", "ssm_occurrences.jsonl", "cnv_occurrences.jsonl", "files.jsonl")


@dataclass(frozen=True)
class RealTwoReleaseRoot:
    root: Path
    first_release: str
    second_release: str
    first_case_ids: tuple[str, ...]  # in the source's document order
    new_case_ids: tuple[str, ...]  # only in the second release, in the source's document order


def source_release_dir(source_bundle: Path) -> tuple[Path, str]:
    """(release directory, label) of a bundle root (CURRENT + releases/) or of a single release directory."""
    source_bundle = Path(source_bundle)
    if (source_bundle / "status.json").exists():
        status = json.loads((source_bundle / "status.json").read_text(encoding="utf-8"))
        label = str(status.get("data_release", "")).removeprefix("Data Release ").split(" ", 1)[0]
        return source_bundle, label or source_bundle.name
    current = source_bundle / "CURRENT"
    if not current.exists():
        raise ValueError(f"{source_bundle} is not a GDC bundle: no status.json and no CURRENT")
    label = current.read_text(encoding="utf-8").strip()
    directory = source_bundle / "releases" / label
    if not (directory / "cases.jsonl").exists():
        raise ValueError(f"{directory} has no cases.jsonl")
    return directory, label


def choose_first_cases(case_ids: Sequence[str], share: float, seed: int) -> set[str]:
    """round(share * n) case ids, the ones with the smallest sha256(f"{seed}:{case_id}")."""
    n_first = round(share * len(case_ids))
    ranked = sorted(set(case_ids), key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).digest())
    return set(ranked[:n_first])


def _documents(path: Path) -> Iterable[tuple[bytes, dict[str, Any]]]:
    """(line bytes as stored, parsed document) per non-blank line; nothing when the optional file is absent."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {line_number}: invalid JSON ({exc.msg})") from exc
            if not line.endswith(b"\n"):
                line += b"\n"
            yield line, doc


def _filter_lines(source: Path, target: Path, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Stream the kept lines verbatim into `target`; returns the kept documents."""
    kept: list[dict[str, Any]] = []
    with target.open("wb", buffering=1 << 20) as out:
        for line, doc in _documents(source):
            if keep(doc):
                out.write(line)
                kept.append(doc)
    return kept


def _case_of_occurrence(doc: dict[str, Any]) -> str | None:
    case = doc.get("case")
    return case.get("case_id") if isinstance(case, dict) else None


def _file_case_ids(doc: dict[str, Any]) -> list[str | None]:
    return [c.get("case_id") if isinstance(c, dict) else None for c in doc.get("cases") or []]


def _place(source: Path, target: Path, link: bool) -> None:
    """Hard-link `source` to `target` when allowed and possible (same filesystem), copy otherwise."""
    if link:
        try:
            os.link(source, target)
            return
        except OSError:  # EXDEV (other filesystem), EPERM (protected_hardlinks), unsupported filesystem
            pass
    shutil.copyfile(source, target)


def _status_bytes(source_dir: Path, source_label: str, label: str) -> bytes:
    """The source's status.json, re-labelled (verbatim when the label is the source's)."""
    raw = (source_dir / "status.json").read_bytes()
    if label == source_label:
        return raw
    status = json.loads(raw)
    when = release_date(label)
    status["data_release"] = f"Data Release {label} - {when.strftime('%B')} {when.day:02d}, {when.year}"
    version = status.get("data_release_version")
    if isinstance(version, dict):
        major, minor = label.split(".")
        version.update({"major": int(major), "minor": int(minor), "release_date": when.isoformat()})
    return (json.dumps(status) + "\n").encode("utf-8")


def _publish(staging: Path, final: Path) -> None:
    """Move a fully written release into place, replacing an older one of the same label."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old)
    else:
        os.rename(staging, final)


def _write_release(source_dir: Path, staging: Path, status: bytes, case_ids: set[str] | None, link_data: bool) -> None:
    """One release directory: all documents (case_ids None) or the documents of `case_ids` only."""
    (staging / "data").mkdir(parents=True)
    (staging / "status.json").write_bytes(status)
    if case_ids is None:
        for name in DOCUMENT_FILES:
            if (source_dir / name).exists():
                shutil.copyfile(source_dir / name, staging / name)
        file_ids = [p.name for p in (source_dir / "data").iterdir()] if (source_dir / "data").is_dir() else []
    else:
        _filter_lines(
            source_dir / "cases.jsonl", staging / "cases.jsonl", lambda d: (d.get("case_id") or d.get("id")) in case_ids
        )
        for name in ("ssm_occurrences.jsonl", "cnv_occurrences.jsonl"):
            if (source_dir / name).exists():
                _filter_lines(source_dir / name, staging / name, lambda d: _case_of_occurrence(d) in case_ids)
        file_ids = []
        if (source_dir / "files.jsonl").exists():

            def only_these_cases(doc: dict[str, Any]) -> bool:
                named = _file_case_ids(doc)
                return bool(named) and all(c in case_ids for c in named)

            files = _filter_lines(source_dir / "files.jsonl", staging / "files.jsonl", only_these_cases)
            file_ids = [str(d.get("file_id") or d.get("id")) for d in files]
    for file_id in file_ids:
        if (source_dir / "data" / file_id).is_file():
            _place(source_dir / "data" / file_id, staging / "data" / file_id, link_data)


def write_real_two_release_root(
    source_bundle: Path,
    target_root: Path,
    *,
    first_share: float = 0.7,
    seed: int = 20261201,
    first_release: str = "45.0",
    second_release: str = "46.0",
    link_data: bool = False,
) -> RealTwoReleaseRoot:
    """Write `target_root` (releases/<first>, releases/<second>, CURRENT = second); see the module docstring.

    Each release is written beside its final place and renamed in, and CURRENT is replaced last, so a
    stand-in already serving `target_root` never sees a half-written release.
    """
    if not 0.0 < first_share <= 1.0:
        raise ValueError(f"first_share must be in (0, 1], got {first_share!r}")
    if first_release == second_release:
        raise ValueError(f"the two release labels must differ, got {first_release!r} twice")
    for label in (first_release, second_release):
        release_date(label)  # validates '<major>.<minor>'
    source_dir, source_label = source_release_dir(Path(source_bundle))
    target_root = Path(target_root)

    ordered: list[str] = []
    for _, doc in _documents(source_dir / "cases.jsonl"):
        case_id = doc.get("case_id") or doc.get("id")
        if isinstance(case_id, str):
            ordered.append(case_id)
    if not ordered:
        raise ValueError(f"{source_dir / 'cases.jsonl'} holds no case documents")
    first = choose_first_cases(ordered, first_share, seed)

    releases = target_root / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    for label, subset in ((first_release, first), (second_release, None)):
        staging = releases / f".tmp-{label}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _write_release(source_dir, staging, _status_bytes(source_dir, source_label, label), subset, link_data)
            _publish(staging, releases / label)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    current_tmp = target_root / f".CURRENT.tmp-{os.getpid()}"
    current_tmp.write_text(second_release + "\n", encoding="utf-8")
    os.replace(current_tmp, target_root / "CURRENT")
    return RealTwoReleaseRoot(
        root=target_root,
        first_release=first_release,
        second_release=second_release,
        first_case_ids=tuple(dict.fromkeys(c for c in ordered if c in first)),
        new_case_ids=tuple(dict.fromkeys(c for c in ordered if c not in first)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.real_two_release",
        description="Write a two-release GDC bundle root from a real one-release bundle.",
    )
    parser.add_argument("--source", type=Path, required=True, help="bundle root (CURRENT + releases/) or release dir")
    parser.add_argument("--target", type=Path, required=True, help="new bundle root, outside the repository")
    parser.add_argument("--first-share", type=float, default=0.7, help="share of the cases in the first release")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--first-release", default="45.0")
    parser.add_argument("--second-release", default="46.0")
    parser.add_argument("--link-data", action="store_true", help="hard-link data/ files instead of copying them")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        result = write_real_two_release_root(
            args.source,
            args.target,
            first_share=args.first_share,
            seed=args.seed,
            first_release=args.first_release,
            second_release=args.second_release,
            link_data=args.link_data,
        )
    except (ValueError, OSError) as error:
        print(f"real_two_release: {error}", file=sys.stderr)
        return 2
    n_first, n_new = len(result.first_case_ids), len(result.new_case_ids)
    print(
        f"{result.root}: release {result.first_release} {n_first} cases, release {result.second_release} "
        f"{n_first + n_new} cases ({n_new} added); CURRENT={result.second_release}; "
        f"{time.perf_counter() - started:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
