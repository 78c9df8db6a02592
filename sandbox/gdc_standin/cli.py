"""`python -m sandbox.gdc_standin --bundle-root PATH [--host 127.0.0.1] [--port 8765]` (script `gdc-standin`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sandbox.gdc_standin.bundle import BundleError
from sandbox.gdc_standin.server import GdcStandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gdc-standin", description="Serve a GDC release bundle as the GDC REST API.")
    parser.add_argument(
        "--bundle-root",
        required=True,
        type=Path,
        help="bundle root (CURRENT + releases/<label>/) or one release directory",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--tsv-style",
        choices=("dots", "underscores"),
        default="dots",
        help="TSV header style: current `cases.0.x` or the 2016 `cases_0_x`",
    )
    parser.add_argument(
        "--head-data",
        choices=("reject", "headers"),
        default="reject",
        help="HEAD /data/<id>: 400 as the live API (default) or GET's headers without the body",
    )
    parser.add_argument(
        "--admin", action="store_true", help="open the /_admin/faults and /_admin/release endpoints (off by default)"
    )
    args = parser.parse_args(argv)

    try:
        server = GdcStandIn(
            args.bundle_root,
            host=args.host,
            port=args.port,
            tsv_style=args.tsv_style,
            head_data=args.head_data,
            admin=args.admin,
        )
    except BundleError as exc:
        print(f"gdc-standin: {exc}", file=sys.stderr)
        return 2
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    server.start()
    print(
        f"GDC stand-in serving {args.bundle_root} (release {server.current_release}) at {server.base_url}", flush=True
    )
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        server.stop()
    print("GDC stand-in stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
