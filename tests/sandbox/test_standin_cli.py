"""`python -m sandbox.gdc_standin` starts, prints its base URL, answers /status and stops cleanly on signals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox.gdc_standin.testing import small_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_status_and_stops_cleanly_on_signal(tmp_path, stop_signal):
    bundle = small_bundle(tmp_path / "bundle")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gdc_standin", "--bundle-root", str(bundle), "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first_line
        status = requests.get(f"http://127.0.0.1:{port}/status", timeout=10).json()
        assert status["data_release"] == "Data Release 45.0 - December 04, 2025"
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/status", timeout=2)


def test_cli_refuses_a_path_that_is_no_bundle(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.gdc_standin", "--bundle-root", str(tmp_path), "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "not a GDC bundle" in result.stderr
