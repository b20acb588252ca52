"""``record --otlp URL``: the capture's traced calls streamed to an OpenTelemetry collector
while it records (``store.export.OtlpStream``), polled about once a second in a worker thread
so the capture's own work on the event loop never waits for the network. A failing endpoint
stops the stream with a warning; it never stops the capture."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..render import Output

POLL_SECONDS = 1.0


class LiveOtlp:
    def __init__(self, rec: Any, url: str, out: Output) -> None:
        from elixir_scope.store.export import OtlpStream

        self._stream = OtlpStream(rec, url)
        self._out = out
        self._last = time.monotonic()
        self._failed: str | None = None

    async def tick(self) -> None:
        """Poll the stream when a second has passed since the last poll."""
        if self._failed is None and time.monotonic() - self._last >= POLL_SECONDS:
            self._last = time.monotonic()
            await self._run(self._stream.poll)

    async def finish(self) -> dict | None:
        """Send the rest once the capture has ended; the report as a dict (None if it failed)."""
        if self._failed is None:
            await self._run(self._stream.finish)
        if self._failed is not None:
            return None
        return self._stream.report.as_dict()

    async def _run(self, fn) -> None:
        from elixir_scope.store import ExportError

        try:
            await asyncio.to_thread(fn)
        except ExportError as exc:
            self._failed = str(exc)
            self._out.warn(f"OpenTelemetry export stopped (the recording goes on): {exc}")
