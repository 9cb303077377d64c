"""Revocation of access tokens at the services, within about a second of the change at the gateway.

Access tokens are short-lived (≤ 15 min) and verified by every service without calling the
gateway. When the gateway deactivates a user, resets their password or changes their roles,
region or bindings, it emits ``gateway.user.deactivated`` / ``.password_reset`` / ``.updated``
through its outbox (same transaction as the change). Every service (the gateway too) follows
those subjects with an ephemeral *ordered* JetStream consumer that starts
``MAX_TOKEN_LIFETIME`` seconds in the past, so a service that (re)starts also learns the
revocations whose tokens could still be alive. It keeps, per subject (user name), the time of
the latest such change: a token of that subject issued at or before it is refused (401
``token-revoked``). Entries older than the longest token lifetime are dropped (those tokens have
expired anyway), so the list stays small.

Chosen over an introspection call per request (or a cache of it): no extra hop or gateway
dependency on the hot path, the services keep working when the gateway is down, and the
outbox already guarantees the event is published once the change commits. While NATS is down
revocations wait in the gateway's outbox; the worst case is then the token lifetime.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time

log = logging.getLogger("spotcheck.revocation")

MAX_TOKEN_LIFETIME = 900  # seconds: the longest access token the services accept (gateway ≤ 900)
LEEWAY = 10
REVOKING_VERBS = ("deactivated", "password_reset", "updated")


class RevocationList:
    """subject → time (epoch seconds) before or at which its tokens are refused."""

    def __init__(self, horizon: float = MAX_TOKEN_LIFETIME + LEEWAY, clock=time.time):
        self.horizon = horizon
        self.clock = clock
        self._not_before: dict[str, float] = {}

    def revoke(self, subject: str, at: float) -> None:
        if at > self._not_before.get(subject, 0.0):
            self._not_before[subject] = at
        self._prune()

    def _prune(self) -> None:
        if len(self._not_before) < 1024:
            return
        cutoff = self.clock() - self.horizon
        for k in [k for k, v in self._not_before.items() if v < cutoff]:
            del self._not_before[k]

    def is_revoked(self, subject: str, issued_at: float) -> bool:
        at = self._not_before.get(subject)
        return at is not None and issued_at <= at

    def __len__(self) -> int:
        return len(self._not_before)


def revocation_from_event(event: dict) -> tuple[str, float] | None:
    """(subject, time) from a gateway user event, or None when it revokes nothing."""
    etype = str(event.get("type", ""))
    if not any(etype.endswith(f".user.{verb}") for verb in REVOKING_VERBS):
        return None
    data = event.get("data") or {}
    username = data.get("username") if isinstance(data, dict) else None
    if not isinstance(username, str) or not username:
        return None
    try:
        at = dt.datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        at = time.time()
    return username, at


class RevocationWatcher:
    """Follows ``<prefix>.gateway.user.>`` and feeds a RevocationList; reconnects by itself."""

    def __init__(self, bus, revocations: RevocationList, retry_seconds: float = 2.0):
        self.bus = bus
        self.revocations = revocations
        self.retry_seconds = retry_seconds
        self._task: asyncio.Task | None = None
        self._sub = None
        self._stopping = False
        self.ready = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="revocation-watcher")

    async def _on_message(self, msg) -> None:
        try:
            event = json.loads(msg.data)
            found = revocation_from_event(event)
        except (ValueError, TypeError, AttributeError):
            return
        if found:
            self.revocations.revoke(*found)
            log.info("tokens of %s issued before %s refused", found[0], found[1])

    async def _subscribe(self) -> None:
        from nats.js.api import ConsumerConfig, DeliverPolicy

        js = await self.bus.jetstream()
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=MAX_TOKEN_LIFETIME + LEEWAY)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=start.isoformat().replace("+00:00", "Z"),
        )
        self._sub = await js.subscribe(
            f"{self.bus.prefix}.gateway.user.>", cb=self._on_message, ordered_consumer=True,
            config=config, stream=self.bus.stream,
        )

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if self._sub is None:
                    await self._subscribe()
                    self.ready.set()
                await asyncio.sleep(self.retry_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS away: retry, tokens still expire
                if self._stopping:  # the client library may turn our cancellation into an error
                    return
                log.info("revocation watcher waiting for NATS: %s", exc)
                self._sub = None
                await asyncio.sleep(self.retry_seconds)

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        for _ in range(5):
            if task is None or task.done():
                break
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        # no explicit unsubscribe: an ordered consumer's unsubscribe can wait on the server while
        # its first deliveries are in flight; closing the connection (EventBus.close) ends it
        self._sub = None
