"""Tests leave nothing behind: test streams carry a short max_age and are deleted at teardown;
the nats-server log handle is not kept open by the parent."""
from __future__ import annotations

import gc
import os
import warnings

import nats
from nats.js.errors import NotFoundError

from shared.events.bus import EventBus
from shared.natsproc import NatsProcess
from shared.settings import settings_for
from tests.conftest import delete_streams


async def test_test_streams_have_a_max_age_and_are_deleted(nats_url):
    settings = settings_for("registry", nats_url=nats_url, events_prefix="thygiene" + os.urandom(3).hex())
    assert settings.events_max_age_seconds == 3600  # set for the whole suite by tests/conftest.py
    bus = EventBus(settings.nats_url, settings.events_prefix, max_age=settings.events_max_age_seconds)
    try:
        js = await bus.jetstream()
        info = await js.stream_info(bus.stream)
        assert info.config.max_age == 3600
    finally:
        await bus.close()
    await delete_streams(nats_url, settings.events_prefix)
    nc = await nats.connect(nats_url)
    try:
        try:
            await nc.jetstream().stream_info(bus.stream)
            raise AssertionError("stream survived teardown")
        except NotFoundError:
            pass
    finally:
        await nc.close()


def test_nats_process_closes_its_log_handle(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        proc = NatsProcess(tmp_path / "store").start()
        proc.stop()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]
