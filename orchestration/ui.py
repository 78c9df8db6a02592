"""`make ui`: the Dagster UI against the demo's GDC stand-in, offline, in one command.

    python -m orchestration.ui                      # serve data/bundles/synthetic-1100-seed7 (make demo's)
    python -m orchestration.ui --bundle-root PATH   # another bundle root
    python -m orchestration.ui --live               # the live GDC API: the sensor starts a FULL download

Starts the GDC stand-in on 127.0.0.1 serving the bundle root, then `dagster dev` with GDC_BASE_URL
pointing at it, so the release sensor ticks green at once. Write the next release into the root
(`python -m sandbox.synthetic.next_release --root PATH`) and the running sensor starts its refresh.
Ctrl-C, or SIGTERM to this process, stops dagster dev (and everything it started) and the stand-in.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gdc.client import LIVE_GDC_BASE_URL

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_BUNDLE = Path("data") / "bundles" / "synthetic-1100-seed7"
STOP_GRACE_SECONDS = 20.0


def dagster_dev_command(port: int, host: str = "127.0.0.1") -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)]


def ui_environment(base_url: str, data_dir: Path, dagster_home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GDC_BASE_URL": base_url,
        "GLIOMA_DATA_DIR": str(data_dir.resolve()),
        "DAGSTER_HOME": str(dagster_home.resolve()),
    }


def _stop_group(pgid: int) -> None:
    """SIGTERM what is left of dagster dev's process group, then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle-root", type=Path, default=None, help=f"bundle root to serve (default {DEMO_BUNDLE})")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("GLIOMA_DATA_DIR", "data")))
    parser.add_argument("--dagster-home", type=Path, default=Path(os.environ.get("DAGSTER_HOME", ".dagster_home")))
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port on 127.0.0.1")
    parser.add_argument("--standin-port", type=int, default=0, help="stand-in port (default: a free one)")
    parser.add_argument(
        "--live",
        action="store_true",
        help=f"use the live GDC API ({LIVE_GDC_BASE_URL}); the sensor then downloads every glioma case",
    )
    args = parser.parse_args(argv)

    from sandbox.gdc_standin import GdcStandIn

    args.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = args.dagster_home / "dagster.yaml"
    if not instance_yaml.exists():  # `make ui` copies it; a direct call gets the same instance settings
        instance_yaml.write_text((REPO_ROOT / "orchestration" / "dagster.yaml").read_text())
    standin = None
    if args.live:
        base_url = os.environ.get("GDC_BASE_URL") or LIVE_GDC_BASE_URL
        print(
            f"LIVE GDC API {base_url}: the release sensor will start a full download of TCGA-GBM/LGG "
            "when it sees a release that is not a partition yet.",
            flush=True,
        )
    else:
        bundle_root = (args.bundle_root or args.data_dir / "bundles" / DEMO_BUNDLE.name).resolve()
        if not (bundle_root / "CURRENT").exists() and not (bundle_root / "status.json").exists():
            print(f"no GDC bundle at {bundle_root}: run `make demo` first (or pass --bundle-root)", file=sys.stderr)
            return 2
        standin = GdcStandIn(bundle_root, port=args.standin_port)
        standin.start()
        base_url = standin.base_url
        print(
            f"GDC stand-in serving {bundle_root} at {base_url}\n"
            f"next release: .venv/bin/python -m sandbox.synthetic.next_release --root {bundle_root}",
            flush=True,
        )

    # Its own process group: on Ctrl-C/SIGTERM this launcher stops the whole group (webserver, daemon,
    # code servers, run workers), also when dagster dev itself does not exit in time.
    child = subprocess.Popen(
        dagster_dev_command(args.port),
        cwd=REPO_ROOT,
        start_new_session=True,
        env=ui_environment(base_url, args.data_dir, args.dagster_home),
    )
    print(f"Dagster UI: http://127.0.0.1:{args.port} (Ctrl-C stops it and the stand-in)", flush=True)

    stopping: list[float] = []

    def forward(_signum, _frame):
        # SIGTERM for either: dagster dev shuts its webserver, daemon and code servers down on it, while a
        # SIGINT may be ignored by a child started from a non-interactive shell (background jobs ignore it).
        if child.poll() is None and not stopping:
            stopping.append(time.monotonic())
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        # dagster dev may wait for in-progress runs before it exits: after the grace period the group is stopped.
        while child.poll() is None and not (stopping and time.monotonic() - stopping[0] > STOP_GRACE_SECONDS):
            time.sleep(0.5)
    finally:
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        _stop_group(child.pid)
        if standin is not None:
            standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
