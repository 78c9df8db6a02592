"""Raw-ingest benchmark: the raw layer's wall time and peak memory against a bare fetch loop.

    python bench/ingest.py                      # 1,100 and 100,000 synthetic cases
    python bench/ingest.py --cases 1100         # one size only

For each cohort size: write a synthetic bundle (cached under data/bench/), serve it with the GDC
stand-in in its own process, then
  1. materialise the raw assets with Dagster in a child process (wall time, peak RSS of that process),
  2. run a bare loop in another child process that POSTs the same searches (same filters, fields,
     page size, sort) and streams the same files, doing nothing but `json.loads`,
and print both with their ratio. Goal: ratio <= 1.5; 100k cases in < 2 min with peak RSS < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

PAGE_SIZE = 5000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _searches() -> list[tuple[str, dict, list[str] | None, list[str] | None, str]]:
    """The searches the raw assets send, as (endpoint, filters, fields, expand, sort)."""
    from contracts.panels import CNV_PANEL_GENES, GLIOMA_PROJECTS, SSM_PANEL_GENES
    from gdc import queries as raw  # the fields and filters the raw assets send

    projects = list(GLIOMA_PROJECTS)
    methylation = [raw.in_filter(field, [value]) for field, value in raw.METHYLATION_FILTER_VALUES.items()]
    return [
        (
            "cases",
            raw.in_filter("project.project_id", projects),
            list(raw.CASE_FIELDS),
            list(raw.CASE_EXPAND),
            "case_id:asc",
        ),
        (
            "ssm_occurrences",
            raw.and_filter(
                raw.in_filter("case.project.project_id", projects),
                raw.in_filter("ssm.consequence.transcript.gene.symbol", list(SSM_PANEL_GENES)),
            ),
            list(raw.SSM_OCCURRENCE_FIELDS),
            None,
            "ssm_occurrence_id:asc",
        ),
        (
            "cnv_occurrences",
            raw.and_filter(
                raw.in_filter("case.project.project_id", projects),
                raw.in_filter("cnv.consequence.gene.symbol", list(CNV_PANEL_GENES)),
            ),
            list(raw.CNV_OCCURRENCE_FIELDS),
            None,
            "cnv_occurrence_id:asc",
        ),
        (
            "files",
            raw.and_filter(raw.in_filter("cases.project.project_id", projects), *methylation),
            list(raw.METHYLATION_FILE_FIELDS),
            None,
            "file_id:asc",
        ),
    ]


def child_ingest(base_url: str, data_dir: str, release: str) -> dict:
    from dagster import DagsterInstance, materialize

    from assets.partitions import gdc_releases
    from assets.raw import RAW_ASSETS
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(gdc_releases.name, [release])
    started = time.perf_counter()
    result = materialize(
        RAW_ASSETS,
        partition_key=release,
        instance=instance,
        resources={
            "gdc": GdcApiResource(base_url=base_url, page_size=PAGE_SIZE),
            "lake": LakeResource(data_dir=data_dir),
            "gene_panels": GenePanelResource(),
        },
    )
    elapsed = time.perf_counter() - started
    per_table = {}
    for asset in RAW_ASSETS:
        event = instance.get_latest_materialization_event(asset.key)
        duration = event.asset_materialization.metadata.get("duration_seconds") if event else None
        if duration is not None:
            per_table[asset.key.path[-1]] = duration.value
    return {"seconds": elapsed, "success": result.success, "peak_rss_mb": _peak_rss_mb(), "per_table": per_table}


def child_bare_loop(base_url: str) -> dict:
    import requests

    session = requests.Session()
    started = time.perf_counter()
    hits_seen = 0
    files: list[dict] = []
    per_table = {}
    for endpoint, filters, fields, expand, sort in _searches():
        endpoint_started = time.perf_counter()
        offset = 0
        while True:
            body = {"filters": filters, "size": PAGE_SIZE, "from": offset, "sort": sort, "format": "json"}
            if fields:
                body["fields"] = ",".join(fields)
            if expand:
                body["expand"] = ",".join(expand)
            page = json.loads(session.post(f"{base_url}/{endpoint}", json=body).content)["data"]
            hits_seen += len(page["hits"])
            if endpoint == "files":
                files.extend(page["hits"])
            offset += PAGE_SIZE
            if offset >= page["pagination"]["total"]:
                break
        per_table[endpoint] = time.perf_counter() - endpoint_started
    # The same files the raw layer fetches for the MGMT probes, in the same POST /data archives.
    from assets.resources import GdcApiResource

    batch = GdcApiResource().archive_batch_files
    files_started = time.perf_counter()
    ids = [document["file_id"] for document in files]
    for start in range(0, len(ids), batch):
        with session.post(f"{base_url}/data", json={"ids": ids[start : start + batch]}, stream=True) as response:
            with tarfile.open(fileobj=response.raw, mode="r|*") as archive:
                for member in archive:
                    if member.isfile():
                        archive.extractfile(member).read().splitlines()
    per_table["data (archives)"] = time.perf_counter() - files_started
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "hits": hits_seen,
        "files": len(files),
        "peak_rss_mb": _peak_rss_mb(),
        "per_table": per_table,
    }


def _run_child(*args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=REPO_ROOT
    )
    if completed.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_one(n_cases: int, work_dir: Path) -> dict:
    from sandbox.synthetic import CohortSpec, write_bundle

    bundle = work_dir / f"bundle-{n_cases}"
    if not (bundle / "CURRENT").exists():
        started = time.perf_counter()
        write_bundle(bundle, CohortSpec(n_cases=n_cases, seed=20261122))
        print(f"  wrote {n_cases}-case bundle in {time.perf_counter() - started:.1f}s", flush=True)
    release = (bundle / "CURRENT").read_text().strip()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gdc_standin", "--bundle-root", str(bundle), "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base_url)
        # Warm the stand-in's per-release caches so neither contender pays the bundle load.
        _run_child("bare", base_url)
        bare = _run_child("bare", base_url)
        data_dir = work_dir / f"lake-{n_cases}"
        subprocess.run(["rm", "-rf", str(data_dir)], check=True)
        ingest = _run_child("ingest", base_url, str(data_dir), release)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"cases": n_cases, "ingest": ingest, "bare": bare, "ratio": ingest["seconds"] / bare["seconds"]}


def _wait_for(base_url: str, timeout: float = 120.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/status", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"stand-in at {base_url} did not answer within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, nargs="*", default=[1100, 100_000])
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "data" / "bench")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        outcome = child_ingest(*rest) if kind == "ingest" else child_bare_loop(*rest)
        print(json.dumps(outcome))
        return

    args.work_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_cases in args.cases:
        print(f"cohort of {n_cases} cases", flush=True)
        rows.append(bench_one(n_cases, args.work_dir))
    print()
    print(
        f"{'cases':>8} | {'raw ingest s':>12} | {'bare loop s':>11} | {'ratio':>5} | {'ingest peak RSS MB':>18} | hits | files"
    )
    for row in rows:
        print(
            f"{row['cases']:>8} | {row['ingest']['seconds']:>12.1f} | {row['bare']['seconds']:>11.1f} | "
            f"{row['ratio']:>5.2f} | {row['ingest']['peak_rss_mb']:>18.0f} | {row['bare']['hits']} | {row['bare']['files']}"
        )
    print("goal: ratio <= 1.5; 100,000 cases ingested in < 120 s with peak RSS < 2,048 MB")
    print()
    print("per table (seconds): raw asset | bare loop of the same requests")
    pairs = [
        ("gdc_cases", "cases"),
        ("gdc_ssm_occurrences", "ssm_occurrences"),
        ("gdc_cnv_occurrences", "cnv_occurrences"),
        ("gdc_methylation_files", "files"),
        ("mgmt_probe_betas", "data (archives)"),
    ]
    for row in rows:
        cells = [
            f"{asset} {row['ingest']['per_table'].get(asset, float('nan')):.1f} | {row['bare']['per_table'].get(bare, float('nan')):.1f}"
            for asset, bare in pairs
        ]
        print(f"{row['cases']:>8}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
