"""The event bus: a protocol, an in-process backend and a Redis Streams backend, chosen by URL.

``memory://`` (the default) runs in the process; ``redis://host:port/db`` (or ``rediss://``)
uses Redis Streams with consumer groups.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from shopfloor.bus.base import Bus, BusUnavailable, RetryPolicy
from shopfloor.bus.message import DeadLetter, Delivery, Envelope


def _memory(url: str, **options: object) -> Bus:
    from shopfloor.bus.memory import MemoryBus

    return MemoryBus.from_url(url, **options)


def _redis(url: str, **options: object) -> Bus:
    # imported on demand: the embedded mode never loads the Redis client
    from shopfloor.bus.redis import RedisBus

    return RedisBus.from_url(url, **options)


FACTORIES: dict[str, Callable[..., Bus]] = {
    "memory": _memory,
    "redis": _redis,
    "rediss": _redis,
}


def create_bus(url: str, **options: object) -> Bus:
    """The bus a URL names; ``options`` go to the backend (retry, visibility_timeout_s, …)."""
    scheme = urlsplit(url).scheme
    factory = FACTORIES.get(scheme)
    if factory is None:
        supported = ", ".join(f"{name}://" for name in FACTORIES)
        raise ValueError(f"unsupported bus URL {url!r}: the scheme must be one of {supported}")
    return factory(url, **options)


__all__ = [
    "Bus",
    "BusUnavailable",
    "DeadLetter",
    "Delivery",
    "Envelope",
    "RetryPolicy",
    "create_bus",
]
