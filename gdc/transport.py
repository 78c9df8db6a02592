"""The HTTP layer of the GDC client (gdc.client): one requests session, its retries, and the bookkeeping of
every request. `GdcTransport` is the base of `GdcClient`; the searches (gdc.search) and downloads
(gdc.downloads) send every request through `_send` / `_fetch_json`.

Retries of HTTP statuses (429/500/502/503/504) and of connection/read errors are done by urllib3's `Retry`
mounted on the session (exponential backoff with jitter, Retry-After honoured). The one application-level
retry is the re-request of a response whose status was fine but whose *body* was not (truncated JSON,
connection dropped mid-body): urllib3 has already handed the response over by then and cannot retry it.
Those re-requests reuse the same `Retry` object for their backoff (`_body_retry`), so both layers back off
alike.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gdc.errors import GdcEnvelopeError, GdcError, GdcHttpError
from gdc.responses import ClientStats, excerpt

LIVE_GDC_BASE_URL = "https://api.gdc.cancer.gov"
RETRY_STATUS_CODES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
# GDC searches are idempotent reads sent as POST (big filters do not fit a URL); urllib3 excludes POST by default.
RETRY_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "POST", "OPTIONS"})

# The logger the client has always logged to (gdc.client), kept when the HTTP layer moved here.
_LOGGER_NAME = "gdc.client"


class _Logger(Protocol):
    def info(self, msg: str, *args: Any) -> Any: ...

    def warning(self, msg: str, *args: Any) -> Any: ...


@dataclass
class Tally:
    """Per-call retry count, so results report their own retries even when calls interleave."""

    retries: int = 0


# ---------------------------------------------------------------------------------------------------------
# Retry policy


class _GdcRetry(Retry):
    """urllib3 Retry that also accepts fractional Retry-After seconds ("0.2"); stock urllib3 only
    accepts integers or HTTP dates and would raise InvalidHeader on a decimal value."""

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            return super().parse_retry_after(retry_after)
        if math.isnan(seconds):
            return 0.0
        return min(max(seconds, 0.0), float(self.retry_after_max))


# ---------------------------------------------------------------------------------------------------------
# The HTTP layer


class GdcTransport:
    """Session, retry policy, timeouts and counters of a GDC client; every request goes through `_send`."""

    def __init__(
        self,
        base_url: str = LIVE_GDC_BASE_URL,
        token: str | None = None,
        page_size: int = 1000,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 8,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        logger: _Logger | None = None,
        *,
        max_body_retries: int = 3,
        retry_after_max: float = 300.0,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        if max_retries < 0 or max_body_retries < 0:
            raise ValueError(
                f"retry counts must be >= 0, got max_retries={max_retries}, max_body_retries={max_body_retries}"
            )
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.max_body_retries = max_body_retries
        self.log: _Logger = logger if logger is not None else logging.getLogger(_LOGGER_NAME)
        self._token = token
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()

        self._retry = _GdcRetry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            redirect=5,
            status_forcelist=RETRY_STATUS_CODES,
            allowed_methods=RETRY_METHODS,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_factor,  # jitter of the same order as the base step de-synchronises clients
            respect_retry_after_header=True,
            retry_after_max=retry_after_max,  # type: ignore[arg-type]  # float is fine at runtime
            raise_on_status=False,  # hand back the last response so the error can quote its body
        )
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=self._retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["X-Auth-Token"] = token

    def close(self) -> None:
        self._session.close()

    def _fetch_json(self, method: str, path: str, body: dict[str, Any] | None, *, what: str, tally: Tally) -> Any:
        """One JSON request; a 200 whose body is truncated/undecodable is re-requested (bounded)."""
        retry = self._retry.new()
        while True:
            response = self._send(method, path, body, what=what, tally=tally)
            try:
                try:
                    content = response.content
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                    retry = self._body_retry(retry, what, f"response body broken: {exc}", tally)
                    continue
                self._bump(bytes_received=len(content))
                raise_for_status(response, what)
                try:
                    return json.loads(content)
                except ValueError as exc:
                    problem = f"body is not valid JSON ({exc}); body starts {excerpt(content)}"
                    retry = self._body_retry(retry, what, problem, tally)
            finally:
                response.close()

    def _body_retry(self, retry: Retry, what: str, problem: str, tally: Tally) -> Retry:
        """Count and back off before re-requesting a response whose body was bad, or raise when out of tries."""
        if len(retry.history) >= self.max_body_retries:
            raise GdcEnvelopeError(f"{what}: {problem} (gave up after {self.max_body_retries} re-requests)")
        # increment() appends to history; sleep() then uses urllib3's own backoff formula (with jitter).
        retry = retry.new(total=None, other=None).increment(method=None, url=what, error=None)
        self._bump(retries=1)
        tally.retries += 1
        self.log.warning(f"{what}: {problem}; re-requesting ({len(retry.history)}/{self.max_body_retries})")
        retry.sleep()
        return retry

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        what: str,
        tally: Tally,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        url = f"{self.base_url}/{path}"
        self._bump(requests=1)
        try:
            response = self._session.request(method, url, json=body, headers=headers, timeout=self.timeout, stream=True)
        except requests.exceptions.RequestException as exc:
            # Exhausted urllib3 retries on connection/read errors land here; all attempts were retries.
            self._bump(retries=self.max_retries)
            tally.retries += self.max_retries
            raise GdcError(
                f"{what}: request to {url} failed after {self.max_retries} retries: "
                f"{type(exc).__name__}: {_short(str(exc))}"
            ) from None
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        if history:
            self._bump(retries=len(history))
            tally.retries += len(history)
            causes = ", ".join(str(h.status) if h.status else type(h.error).__name__ for h in history)
            self.log.warning(f"{what}: answered after {len(history)} retries ({causes})")
        response.gdc_retries = len(history)  # type: ignore[attr-defined]  # quoted by raise_for_status
        return response

    def _bump(self, *, requests: int = 0, retries: int = 0, pages: int = 0, bytes_received: int = 0) -> None:
        with self._stats_lock:
            self.stats.requests += requests
            self.stats.retries += retries
            self.stats.pages += pages
            self.stats.bytes_received += bytes_received


# ---------------------------------------------------------------------------------------------------------
# Helpers (pure)


def raise_for_status(response: requests.Response, what: str) -> None:
    if response.status_code in (200, 203, 206):
        return
    try:
        body = response.content
    except requests.exceptions.RequestException:
        body = b"<unreadable>"
    retries = getattr(response, "gdc_retries", 0)
    raise GdcHttpError(
        f"{what}: HTTP {response.status_code} {response.reason or ''}".rstrip()
        + (f" after {retries} retries" if retries else "")
        + f"; body starts {excerpt(body)}",
        response.status_code,
        application_error=_is_application_error(body),
    )


def _is_application_error(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("message"), str)


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + "..."
