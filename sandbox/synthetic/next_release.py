"""Publish the next GDC data release into an existing synthetic bundle root, as GDC would: a share of
the cases changed (follow-up extended, deaths, new file versions), some new, some removed.

    python -m sandbox.synthetic.next_release --root data/bundles/synthetic-1100-seed7

A running stand-in serving that root switches to the new release when `CURRENT` is rewritten, so a
running `make ui` sees it at the release sensor's next tick.

The history is regenerated deterministically beside the root (earlier releases come out byte-identical),
then only the new release directory is moved in and `CURRENT` is replaced last, atomically: the stand-in
never serves a half-written release.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from sandbox.synthetic.writer import CohortSpec, write_multi_release

SPEC_FILE = "_synthetic_spec.json"  # beside CURRENT; outside the bundle contract


def write_spec(root: Path, spec: CohortSpec) -> None:
    """Record how the root was generated, so the next release continues the same cohort."""
    fields = {
        "n_cases": spec.n_cases,
        "seed": spec.seed,
        "release_label": spec.release_label,
        "profile": spec.profile,
        "bad_value_share": spec.bad_value_share,
        "methylation_probes": spec.methylation_probes,
        "methylation_share": spec.methylation_share,
        "expression_genes": spec.expression_genes,
        "expression_on_demand": spec.expression_on_demand,
        "expression_bad_files": spec.expression_bad_files,
    }
    (root / SPEC_FILE).write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")


def read_spec(root: Path) -> CohortSpec:
    path = root / SPEC_FILE
    if not path.exists():
        raise ValueError(f"{root} has no {SPEC_FILE}: it was not written by the synthetic generator of this project")
    return CohortSpec(**json.loads(path.read_text(encoding="utf-8")))


def release_labels(root: Path) -> list[str]:
    releases = root / "releases"
    if not releases.is_dir():
        raise ValueError(f"{root} is not a bundle root (no releases/ directory)")
    labels = [p.name for p in releases.iterdir() if p.is_dir() and (p / "status.json").exists()]
    return sorted(labels, key=lambda label: tuple(int(x) for x in label.split(".")))


def next_label(label: str) -> str:
    major, _, _minor = label.partition(".")
    return f"{int(major) + 1}.0"


def append_release(root: Path, *, change_share: float = 0.1, label: str | None = None) -> str:
    """Write release N+1 into `root` and make it CURRENT; returns its label."""
    root = Path(root).resolve()
    spec = read_spec(root)
    labels = release_labels(root)
    new = label or next_label(labels[-1])
    if new in labels:
        raise ValueError(f"release {new} already exists in {root}")
    staging = root.parent / f".{root.name}.next-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_multi_release(
            staging,
            CohortSpec(**{**spec.__dict__, "release_label": labels[0]}),
            releases=(*labels, new),
            change_share=change_share,
        )
        os.replace(staging / "releases" / new, root / "releases" / new)
        current_tmp = root / f".CURRENT.{os.getpid()}.tmp"
        current_tmp.write_text(new + "\n", encoding="utf-8")
        os.replace(current_tmp, root / "CURRENT")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the synthetic bundle root (has CURRENT)")
    parser.add_argument("--change-share", type=float, default=0.1, help="share of cases changed, added or removed")
    parser.add_argument("--label", default=None, help="label of the new release (default: next major, e.g. 46.0)")
    args = parser.parse_args(argv)
    try:
        label = append_release(args.root, change_share=args.change_share, label=args.label)
    except ValueError as error:
        print(f"next_release: {error}", file=sys.stderr)
        return 2
    print(f"release {label} written to {args.root / 'releases' / label}; CURRENT is now {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
