"""Release-lifecycle benchmark: how fast a new GDC release is scored by the champion, and what an
identical or a 5%-changed release costs.

    python bench/rescoring.py                    # 1,100 cases
    python bench/rescoring.py --cases 100000     # TCGA x 100

A synthetic root with releases 45.0 and 46.0 (46.0 changes 5% of the cases: follow-up, deaths, new,
removed, new file versions) and 47.0 (byte-identical to 46.0 but its label) is served by the stand-in in
its own process. In this process, as the sensors do in `dagster dev`:

  45.0  refresh_gdc_release (no champion yet) + train_challengers  -> the first champions ("full refresh")
  46.0  refresh_gdc_release: from the run request to champion scores published in scores.*_current
        ("score first"), then train_challengers (the fair comparison) reported apart
  47.0  refresh_gdc_release of an identical release

Figures: wall seconds per run; the latency of 46.0 is the refresh run (what an analyst waits for).
Training effort is the bench's `--splits/--repeats` (default 3 x 1), reported with the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_root(root: Path, cases: int) -> None:
    from sandbox.synthetic import CohortSpec, write_multi_release

    if (root / "releases" / "47.0" / "status.json").exists():
        return
    write_multi_release(root, CohortSpec(n_cases=cases, seed=7), releases=("45.0", "46.0"), change_share=0.05)
    # 47.0: GDC republished the same data under a new label.
    identical = root / "releases" / "47.0"
    shutil.copytree(root / "releases" / "46.0", identical)
    status = json.loads((identical / "status.json").read_text())
    status["data_release"] = status["data_release"].replace("46.0", "47.0")
    if isinstance(status.get("data_release_version"), dict):
        status["data_release_version"]["major"] = 47
    (identical / "status.json").write_text(json.dumps(status))


def serve(root: Path, release: str) -> None:
    (root / "CURRENT").write_text(release + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1100)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "data" / "bench" / "rescoring")
    args = parser.parse_args(argv)

    from dagster import DagsterInstance

    from assets.partitions import gdc_releases
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
    from orchestration.definitions import build_definitions

    root = args.work / f"root-{args.cases}"
    data_dir = args.work / f"data-{args.cases}"
    started = time.monotonic()
    build_root(root, args.cases)
    print(f"bundle root {root} ready in {time.monotonic() - started:.1f}s")
    shutil.rmtree(data_dir, ignore_errors=True)
    port = _free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gdc_standin", "--bundle-root", str(root), "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        import requests

        for _ in range(100):
            try:
                requests.get(f"{base_url}/status", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        defs = build_definitions(
            {
                "gdc": GdcApiResource(base_url=base_url, page_size=5000),
                "lake": LakeResource(data_dir=str(data_dir)),
                "gene_panels": GenePanelResource(),
                "model_training": ModelTrainingResource(
                    n_splits=args.splits, n_repeats=args.repeats, survival_baselines=False
                ),
            }
        )
        instance = DagsterInstance.ephemeral()
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        rows = []

        def run(job: str, release: str) -> float:
            if not instance.has_dynamic_partition(gdc_releases.name, release):
                instance.add_dynamic_partitions(gdc_releases.name, [release])
            began = time.monotonic()
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=release, instance=instance, raise_on_error=False, run_config=quiet
            )
            seconds = time.monotonic() - began
            if not result.success:
                failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
                raise SystemExit(f"{job} {release} failed: {failed}")
            rows.append((release, job, seconds))
            print(f"  {release:>5} {job:<20} {seconds:7.1f}s", flush=True)
            return seconds

        serve(root, "45.0")
        first = run("refresh_gdc_release", "45.0") + run("train_challengers", "45.0")
        serve(root, "46.0")
        scored = run("refresh_gdc_release", "46.0")
        trained = run("train_challengers", "46.0")
        serve(root, "47.0")
        identical = run("refresh_gdc_release", "47.0")
    finally:
        standin.terminate()
        standin.wait()

    import duckdb

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as catalog:
        current = catalog.execute("select distinct release from scores.grading_current").fetchall()
    print(
        f"\n{args.cases} cases, training {args.splits}x{args.repeats} CV, 2 cores:\n"
        f"  full refresh 45.0 (ingest .. first champions):       {first:7.1f}s\n"
        f"  46.0 (5% changed): run request -> champion scores published: {scored:7.1f}s "
        f"({scored / first:.2f}x the full refresh)\n"
        f"  46.0 challengers trained and judged (off the path):   {trained:7.1f}s\n"
        f"  47.0 identical release, refresh:                      {identical:7.1f}s\n"
        f"  scores.grading_current serves release {current}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
