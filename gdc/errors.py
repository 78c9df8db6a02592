"""What can go wrong talking to GDC, as exception types, and which of them are worth retrying a whole step for.
Every caller (raw assets, sensors, the release probe) classifies a failure with `is_transient`, the one mapping."""

from __future__ import annotations


class GdcError(RuntimeError):
    """Any failure talking to the GDC API (after retries)."""


class GdcEnvelopeError(GdcError):
    """A response body was not the documented envelope (non-JSON, truncated, wrong shape or types)."""


class GdcHttpError(GdcEnvelopeError):
    """The server answered with a non-success status after all retries; `status_code` holds it.

    `application_error`: the body is the API application's own JSON error (`{"message": ...}`), not a gateway's
    HTML page or an empty body. GDC answers such a 5xx the same way each time (an internal error on that
    request), so once the client's own retries are spent it is not worth retrying the whole step; a gateway
    5xx, 429 or timeout is an outage that does clear (GDC_API_FACTS.md section 6)."""

    def __init__(self, message: str, status_code: int, application_error: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.application_error = application_error


class GdcConsistencyError(GdcError):
    """Paging gave duplicates/skips or a moving total, and the single-page re-fetch did not fix it."""


class GdcReleaseChangedError(GdcError):
    """The data release changed while reading, more often than can be recovered from."""

    def __init__(self, message: str, release_before: str, release_after: str) -> None:
        super().__init__(message)
        self.release_before = release_before
        self.release_after = release_after


class GdcIntegrityError(GdcError):
    """A downloaded file's size or md5 differs from what the file's metadata says."""


def is_transient(error: GdcError) -> bool:
    """Worth retrying the step: gateway 5xx, 503 and 429 that outlasted the client's retries (outages clear),
    consistency problems of a moving index. Not: 4xx (the request is wrong), a 500 that is the API's own JSON
    error (the same request fails the same way; the client already retried it) or a malformed answer."""
    if isinstance(error, GdcHttpError):
        if error.status_code == 500 and error.application_error:
            return False
        return error.status_code >= 500 or error.status_code == 429
    return not isinstance(error, GdcEnvelopeError)
