"""Keep asyncua's logging to what an operator needs.

asyncua logs every publish response at INFO, formatting thousands of values each time: left at
the root's level that is a log flood and most of a connector's CPU, so its level defaults to
WARNING (unless configured otherwise). And each lost connection makes it log a traceback from
its publish loop and two warnings about closing an already closed connection; the connector
reports the loss itself, once, with the reason, so those three records are dropped.
"""

from __future__ import annotations

import logging

_EXPECTED_ON_LOSS = (
    "close_session was called but connection is closed",
    "close_secure_channel was called but connection is closed",
)


class _ExpectedOnLoss(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message in _EXPECTED_ON_LOSS:
            return False
        if message.startswith("Publish iteration crashed") and record.exc_info:
            return not isinstance(record.exc_info[1], ConnectionError)
        return True


def quiet_asyncua() -> None:
    root = logging.getLogger("asyncua")
    if root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    for name in ("asyncua.client.ua_session.UaSession", "asyncua.client.ua_client.UaClient"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ExpectedOnLoss) for f in logger.filters):
            logger.addFilter(_ExpectedOnLoss())
