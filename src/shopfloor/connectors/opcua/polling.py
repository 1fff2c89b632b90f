"""Polling: read every node each ``poll_interval_s`` and offer what changed since the last read.

For servers that refuse subscriptions, nodes beyond a server's monitored-item limit, and
``mode = "poll"``. Reads go in calls of at most ``nodes_per_read`` (the server's
MaxNodesPerRead when it states one) with MaxAge 0, so the server reads the device instead of
answering from a cache. A value read again unchanged (same source time, status and value) is
not offered again; the interval is kept from start to start, and a round that overran it is
followed at once by the next rather than by a burst of catching up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NoReturn

from asyncua import Client, ua

from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.opcua.values import Decoder, NodeSpec

NODES_PER_READ = 1000


async def poll(
    client: Client,
    nodes: Sequence[tuple[NodeSpec, ua.NodeId]],
    decoder: Decoder,
    batcher: Batcher,
    interval_s: float,
    nodes_per_read: int = NODES_PER_READ,
) -> NoReturn:
    loop = asyncio.get_running_loop()
    reads = [
        ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value) for _, node_id in nodes
    ]
    due = loop.time()
    while True:
        for start in range(0, len(nodes), nodes_per_read):
            parameters = ua.ReadParameters(
                MaxAge=0,
                TimestampsToReturn=ua.TimestampsToReturn.Both,
                NodesToRead=reads[start : start + nodes_per_read],
            )
            results = await client.uaclient.read(parameters)
            for (node, _), data in zip(nodes[start : start + nodes_per_read], results, strict=True):
                if decoder.changed(node, data):
                    decoder.accept(node, data)
        await batcher.room()
        due += interval_s
        now = loop.time()
        if due < now:
            due = now
        await asyncio.sleep(due - now)


async def operation_limits(client: Client) -> tuple[int | None, int | None]:
    """The server's (MaxNodesPerRead, MaxMonitoredItemsPerCall); None where it states none."""
    numbers = (
        ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
        ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    )
    parameters = ua.ReadParameters(
        NodesToRead=[
            ua.ReadValueId(NodeId=ua.NodeId(number), AttributeId=ua.AttributeIds.Value)
            for number in numbers
        ]
    )
    try:
        results = await client.uaclient.read(parameters)
    except ua.UaStatusCodeError:  # a server without the capability nodes
        return None, None
    found: list[int | None] = []
    for data in results:
        value = data.Value.Value if data.Value is not None else None
        good = data.StatusCode is None or data.StatusCode.is_good()
        # 0 means "no limit" in the specification.
        usable = good and isinstance(value, int) and not isinstance(value, bool) and value > 0
        found.append(value if usable else None)
    return found[0], found[1]
