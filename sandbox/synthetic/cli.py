"""Command line: write a synthetic GDC bundle (one release or a history of releases)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.synthetic.profiles import RELEASE_PROFILES
from sandbox.synthetic.writer import BundleSummary, CohortSpec, write_bundle, write_multi_release


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glioma-synthetic", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="bundle root (gets releases/<label>/ and CURRENT)")
    parser.add_argument("--cases", type=int, default=1100, help="number of cases, 1 to 200000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", default="dr45", choices=sorted(RELEASE_PROFILES))
    parser.add_argument("--release", default="45.0", help="release label of a single-release bundle")
    parser.add_argument("--releases", default=None, help="comma-separated labels for a history, e.g. 45.0,46.0")
    parser.add_argument("--change-share", type=float, default=0.1, help="share of cases changed per release")
    parser.add_argument("--bad-value-share", type=float, default=0.0)
    parser.add_argument("--methylation-probes", type=int, default=300, help="probes besides the 2 MGMT ones")
    parser.add_argument("--methylation-share", type=float, default=None, help="default: realistic (~80%%)")
    parser.add_argument(
        "--expression-genes", type=int, default=0, help="RNA-seq genes per file (GDC: 60660); 0 = no expression files"
    )
    parser.add_argument(
        "--expression-on-demand",
        action="store_true",
        help="do not write expression files; the stand-in generates them on request (md5 still matches)",
    )
    parser.add_argument("--expression-bad-files", type=int, default=0, help="expression files broken on purpose")
    return parser


def _report(summary: BundleSummary) -> str:
    projects = ", ".join(f"{p} {n}" for p, n in summary.cases_per_project.items())
    return (
        f"release {summary.release_label} ({summary.profile}) -> {summary.release_dir}: {summary.n_cases} cases "
        f"({projects}), {summary.n_ssm_occurrences} ssm, {summary.n_cnv_occurrences} cnv, "
        f"{summary.n_files} files, {summary.total_bytes / 2**20:.1f} MiB in {summary.seconds:.1f} s"
        + (f"; changes {summary.changes}" if summary.changes else "")
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    labels = [x.strip() for x in args.releases.split(",") if x.strip()] if args.releases else [args.release]
    try:
        spec = CohortSpec(
            n_cases=args.cases,
            seed=args.seed,
            release_label=labels[0],
            profile=args.profile,
            bad_value_share=args.bad_value_share,
            methylation_probes=args.methylation_probes,
            methylation_share=args.methylation_share,
            expression_genes=args.expression_genes,
            expression_on_demand=args.expression_on_demand,
            expression_bad_files=args.expression_bad_files,
        )
        if len(labels) > 1:
            summaries = write_multi_release(args.out, spec, releases=labels, change_share=args.change_share)
        else:
            summaries = [write_bundle(args.out, spec)]
    except ValueError as error:
        print(f"glioma-synthetic: {error}", file=sys.stderr)
        return 2
    for summary in summaries:
        print(_report(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
