"""The access line's status when the app sends nothing: 499 (the caller left), not 500."""
from __future__ import annotations

import logging

from shared.observability import RequestContextMiddleware


async def test_no_answer_and_no_error_is_logged_as_499(caplog):
    async def leaves(scope, receive, send):
        return  # e.g. the gateway after the caller hung up mid-body: nobody to answer

    async def fails(scope, receive, send):
        raise RuntimeError("a bug")

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        pass

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}
    with caplog.at_level(logging.INFO, logger="spotcheck.test.access"):
        await RequestContextMiddleware(leaves, "test")(dict(scope), receive, send)
        try:
            await RequestContextMiddleware(fails, "test")(dict(scope), receive, send)
        except RuntimeError:
            pass
    statuses = [getattr(r, "status", None) for r in caplog.records if r.name == "spotcheck.test.access"]
    assert statuses == [499, 500]
