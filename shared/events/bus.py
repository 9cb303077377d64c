"""One NATS connection per process, established lazily and re-established when lost."""
from __future__ import annotations

import asyncio
import logging
import os

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from .envelope import stream_name

log = logging.getLogger("spotcheck.bus")


class EventBus:
    def __init__(self, url: str, prefix: str = "spotcheck", duplicate_window: float = 600.0, max_age: float = 0):
        self.url = url
        self.max_age = max_age  # seconds; 0 keeps events (tests set a short age so strays expire)
        self.prefix = prefix
        self.stream = stream_name(prefix)
        self.duplicate_window = duplicate_window
        self._nc: nats.NATS | None = None
        self._js = None
        self._lock = asyncio.Lock()
        self._stream_ready = False

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def jetstream(self):
        """The JetStream context; connects (and creates the stream) on first use.

        Raises when NATS cannot be reached, so callers retry later."""
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            if not self._nc.is_connected:
                raise ConnectionError("NATS 连接已断开，正在重连")
            if not self._stream_ready:
                await self._ensure_stream()
            return self._js
        async with self._lock:
            if self._js is None or self._nc is None or self._nc.is_closed:
                self._nc = await nats.connect(
                    self.url,
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnect,
                )
                self._js = self._nc.jetstream(timeout=5)
                self._stream_ready = False
            await self._ensure_stream()
        return self._js

    async def _ensure_stream(self) -> None:
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[f"{self.prefix}.>"],
                storage=StorageType.FILE,
                duplicate_window=min(self.duplicate_window, self.max_age) if self.max_age else self.duplicate_window,
                **({"max_age": self.max_age} if self.max_age else {}),
                # 3 in a JetStream cluster (deploy/k8s): the stream survives the loss of a server
                num_replicas=int(os.environ.get("SPOTCHECK_EVENTS_REPLICAS", "1")),
            )
            try:
                await self._js.add_stream(config)
            except BadRequestError as exc:
                # another process created the stream between our look and our create (JetStream answers
                # 10058 "already in use with a different configuration" when its settings differ from ours);
                # the stream is there, which is all a publisher or consumer needs
                if exc.err_code != 10058:
                    raise
                await self._js.stream_info(self.stream)
        self._stream_ready = True

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats: %s", exc)

    async def _on_disconnect(self) -> None:
        log.info("nats: disconnected from %s", self.url)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.close(), 3)
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass
        self._nc, self._js = None, None
