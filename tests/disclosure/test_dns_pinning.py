"""DNS pinning of webhook deliveries: the delivery client resolves the subscriber's host once per
connection (through a stub resolver here), checks every address against the SSRF guard and
connects to the checked address with the original name in ``Host`` — so a DNS answer that changes
between the check and the connect (rebinding) cannot reach a private address."""
from __future__ import annotations

import httpcore
import pytest
from sqlalchemy import select

from services.disclosure.models import DeliveryAttempt
from services.disclosure.settings import disclosure_settings
from services.disclosure.webhooks import Blocked, PinnedBackend
from tests.helpers import eventually, running

from .conftest import PROVINCE, make_app, publish
from .receiver import Receiver


class StubDNS:
    """Answers from a table, one answer list per call in turn (the last one repeats); counts calls."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        seq = self.answers[host]
        n = sum(1 for h in self.calls if h == host) - 1
        return seq[min(n, len(seq) - 1)]


async def test_delivery_connects_to_the_checked_address_with_the_original_host(db_url, keys, nats_url, events_prefix):
    # a name the system cannot resolve: only a client that connects to the stub's (checked) address reaches the receiver
    dns = StubDNS({"credit-receiver.invalid": [["127.0.0.1"]]})
    app = make_app(db_url, keys, nats_url, events_prefix, webhook_allow_hosts="127.0.0.1/32")
    app.state.ctx.extras["webhook_resolver"] = dns
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            url = f"http://credit-receiver.invalid:{rec.port}/hooks"
            sub = await c.post("/subscriptions", headers={**keys.headers(**PROVINCE), "Idempotency-Key": "pin"}, json={"url": url})
            assert sub.status_code == 201, sub.text
            rec.secrets = [sub.json()["secret"]]
            saved = len(dns.calls)
            pub = await publish(c, keys, app)

            async def arrived():
                return rec.received or None

            got = (await eventually(arrived))[0]
            assert got["body"]["data"]["id"] == pub["id"]
            assert got["headers"]["host"] == f"credit-receiver.invalid:{rec.port}"  # the name, not the address
            assert len(dns.calls) - saved == 1  # resolved once for the connection: nothing resolved it again by name
        finally:
            await rec.stop()


async def test_rebinding_to_a_private_address_after_the_check_is_refused(db_url, keys, nats_url, events_prefix):
    # public when the subscription is saved, loopback when the delivery connects
    dns = StubDNS({"rebind.invalid": [["93.184.216.34"], ["127.0.0.1"]]})
    app = make_app(db_url, keys, nats_url, events_prefix, webhook_allow_hosts="")
    app.state.ctx.extras["webhook_resolver"] = dns
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            url = f"http://rebind.invalid:{rec.port}/hooks"
            sub = await c.post("/subscriptions", headers={**keys.headers(**PROVINCE), "Idempotency-Key": "rebind"}, json={"url": url})
            assert sub.status_code == 201, sub.text
            rec.secrets = [sub.json()["secret"]]
            await publish(c, keys, app)

            async def refused():
                async with app.state.ctx.db.session() as s:
                    return (await s.execute(select(DeliveryAttempt).where(DeliveryAttempt.error.like("SSRF%")))).scalars().first()

            attempt = await eventually(refused)
            assert "127.0.0.1" in attempt.error and attempt.status_code is None
            assert rec.received == [] and rec.rejected == []  # nothing reached the loopback receiver
        finally:
            await rec.stop()


async def test_every_address_is_checked_before_connecting():
    settings = disclosure_settings(webhook_allow_hosts="")
    mixed = PinnedBackend(settings, StubDNS({"mixed.invalid": [["93.184.216.34", "10.0.0.7"]]}))
    with pytest.raises(Blocked, match="10.0.0.7"):
        await mixed.connect_tcp("mixed.invalid", 80)
    literal = PinnedBackend(settings, StubDNS({}))
    with pytest.raises(Blocked):
        await literal.connect_tcp("169.254.169.254", 80)  # an address literal is checked too (no resolver call)
    # allowed by network: connects to the stub's address; a refused port is a connect error, not a block
    allowed = PinnedBackend(disclosure_settings(webhook_allow_hosts="127.0.0.0/8"), StubDNS({"x.invalid": [["127.0.0.1"]]}))
    from shared.natsproc import free_port

    with pytest.raises(httpcore.ConnectError):
        await allowed.connect_tcp("x.invalid", free_port(), timeout=2)
