"""End the live streams as soon as the process is asked to stop.

The server waits for open responses before it runs the application's shutdown, and an event
stream never finishes by itself: without this, every browser tab left open would hold a stop
up for the whole graceful-shutdown timeout. The handlers already installed (the server's) still
run after ours, so a second Ctrl-C still forces the exit.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ExitWatch:
    """Calls ``on_exit`` (in the event loop) on SIGINT or SIGTERM, then the previous handler."""

    def __init__(self, on_exit: Callable[[], None]) -> None:
        self.on_exit = on_exit
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        # Signal handlers belong to the main thread; elsewhere (a server run in a thread by a
        # test) there is nothing to chain to, and streams end with their connections.
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.on_exit)
        previous = self._previous.get(sig)
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)
