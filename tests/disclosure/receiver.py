"""The tests' webhook receiver: the service's own ``Receiver`` (a real local HTTP server, uvicorn on a
free port in the test's loop), verifying every request with the ``standardwebhooks`` library."""
from __future__ import annotations

from standardwebhooks import Webhook

from services.disclosure.receiver import Receiver as _Receiver


def verify_with_library(secrets: list[str], headers: dict[str, str], body: bytes) -> str | None:
    error = "no secret"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
            return None
        except Exception as exc:  # noqa: BLE001
            error = repr(exc)
    return error


class Receiver(_Receiver):
    def __init__(self, secrets: list[str] | None = None, port: int | None = None):
        super().__init__(secrets, port, verifier=verify_with_library)
