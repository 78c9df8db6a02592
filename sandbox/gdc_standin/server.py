"""The HTTP side of the stand-in: routing, envelopes, downloads, faults, keep-alive, start/stop.

`GdcStandIn` (here) owns the release store, the fault injector and the server thread. The rest, by concern:
    sandbox.gdc_standin.endpoints       routing and every endpoint (search, single, data, versions, manifest)
    sandbox.gdc_standin.http_server     sockets, keep-alive, request parsing, faults, /_admin, writing answers
    sandbox.gdc_standin.http_messages   request parameters, `Response`, JSON / TSV / error bodies
"""

from __future__ import annotations

import threading
from pathlib import Path

from sandbox.gdc_standin.bundle import HIT_CACHE_BYTES, ReleaseStore
from sandbox.gdc_standin.endpoints import App
from sandbox.gdc_standin.faults import FaultInjector
from sandbox.gdc_standin.http_server import StandInHttpServer

__all__ = ["GdcStandIn"]


class GdcStandIn:
    """A local GDC REST API serving a release bundle on 127.0.0.1 (see the package README).

    `GdcStandIn(bundle_root, host="127.0.0.1", port=0, tsv_style="dots", missing_parent_quirk=True,
    query_cache_entries=64, cache_hits=True, hit_cache_bytes=384 MiB, head_data="reject", admin=False)`;
    `admin=True` opens the `/_admin/faults` and `/_admin/release` HTTP endpoints (anyone who can reach the port
    could then inject faults or switch releases, so they are off by default; in-process callers use `.faults`
    and `set_release`); `cache_hits=False` re-projects and re-serialises every hit on every request (for
    benchmarks where the first of two timed loops must not warm the second); `hit_cache_bytes` bounds the
    compressed serialised hits kept between requests (hit_cache.py); `head_data="headers"` answers
    `HEAD /data/<id>` with GET's headers instead of the live API's 400;
    `start()` serves in a background thread and returns self; `stop()`; usable as a context manager.
    """

    def __init__(
        self,
        bundle_root: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tsv_style: str = "dots",
        missing_parent_quirk: bool = True,
        query_cache_entries: int = 64,
        cache_hits: bool = True,
        hit_cache_bytes: int = HIT_CACHE_BYTES,
        head_data: str = "reject",
        admin: bool = False,
    ) -> None:
        if tsv_style not in ("dots", "underscores"):
            raise ValueError(f"tsv_style must be 'dots' or 'underscores', got {tsv_style!r}")
        if head_data not in ("reject", "headers"):
            raise ValueError(f"head_data must be 'reject' (the live API: 400) or 'headers', got {head_data!r}")
        self.bundle_root = Path(bundle_root)
        self.admin = admin
        self.host = host
        self.port = port
        self.store = ReleaseStore(
            self.bundle_root,
            query_cache_entries=query_cache_entries,
            missing_parent_quirk=missing_parent_quirk,
            hit_cache_bytes=hit_cache_bytes,
        )
        self.faults = FaultInjector()
        self.request_log: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()
        self._app = App(self.store, self.faults, tsv_style, cache_hits, head_data)
        self._httpd: StandInHttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> GdcStandIn:
        if self._httpd is not None:
            return self
        self._httpd = StandInHttpServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gdc-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()  # wakes requests sleeping in a latency fault
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GdcStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_release(self, label: str) -> None:
        """Serve `label` from the next request on (as rewriting CURRENT does); a later CURRENT rewrite wins."""
        self.store.set_release(label)

    @property
    def current_release(self) -> str:
        return self.store.current_label()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive clients reuse one)."""
        return self._httpd.connections_accepted if self._httpd is not None else 0

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.request_log.append((method, path, status))
