"""One subscription for all the nodes: monitored items created in chunks, notifications read.

Every node gets a monitored item with the connector's sampling interval and, when its deadband
is above zero, an absolute-deadband DataChangeFilter (status or value changes). Items go to the
server in calls of at most ``items_per_call`` (the server's MaxMonitoredItemsPerCall when it
states one), so thousands of nodes do not make one oversized request. What the server will not
monitor is sorted out, not fatal: a node whose filter it refuses is monitored without one (the
connector applies the deadband itself anyway); nodes beyond its monitored-item limit are polled;
nodes it does not know are reported and left out until the next connection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from asyncua import Client, ua
from asyncua.common.subscription import (
    DataChangeEvent,
    OverflowPolicy,
    StatusChangeEvent,
    Subscription,
)

from shopfloor.connectors.batcher import Batcher
from shopfloor.connectors.config import OpcUaSettings
from shopfloor.connectors.opcua.values import Decoder, NodeSpec

S = ua.StatusCodes
# A server without (room for) subscriptions: the connector polls instead.
REFUSED = frozenset(
    {S.BadServiceUnsupported, S.BadTooManySubscriptions, S.BadNotSupported, S.BadNotImplemented}
)
FILTER_REFUSED = frozenset(
    {S.BadMonitoredItemFilterUnsupported, S.BadFilterNotAllowed, S.BadDeadbandFilterInvalid}
)
TOO_MANY_ITEMS = frozenset({S.BadTooManyMonitoredItems})

ITEMS_PER_CALL = 1000
# How often an idle subscription still sends a keep-alive: what tells a silent server from a
# dead subscription.
KEEPALIVE_S = 10.0
# Changes a monitored item may hold between two publishes, when the sampling interval does
# not say: a node changing a few times within a publishing interval loses none of them.
DEFAULT_QUEUE = 10
MAX_QUEUE = 100
# Notifications received and not yet handed to the batcher. The batcher has the backlog
# limit; this one only holds the burst of a reconnect or a slow flush.
MIN_BUFFER = 10_000


class SubscriptionRefused(Exception):
    """The server will not create a subscription; ``status`` names why."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the server refused the subscription: {status}")
        self.status = status


class SubscriptionLost(ConnectionError):
    """The server ended the subscription, or asyncua closed it after losing the connection."""


@dataclass
class Subscribed:
    subscription: Subscription
    by_handle: dict[int, NodeSpec] = field(default_factory=dict)
    to_poll: list[tuple[NodeSpec, ua.NodeId]] = field(default_factory=list)
    failed: list[tuple[NodeSpec, str]] = field(default_factory=list)


def queue_size(settings: OpcUaSettings) -> int:
    sampling = settings.sampling_interval_ms
    if not sampling:
        return DEFAULT_QUEUE
    return min(MAX_QUEUE, max(2, math.ceil(settings.publishing_interval_ms / sampling) + 1))


def subscription_parameters(settings: OpcUaSettings) -> ua.CreateSubscriptionParameters:
    interval = float(settings.publishing_interval_ms)
    keepalive = max(1, math.ceil(KEEPALIVE_S * 1000 / interval))
    return ua.CreateSubscriptionParameters(
        RequestedPublishingInterval=interval,
        RequestedMaxKeepAliveCount=keepalive,
        # The specification asks for at least three keep-alives; the server drops the
        # subscription after this many intervals without a publish request from us.
        RequestedLifetimeCount=keepalive * 6,
        MaxNotificationsPerPublish=0,
        PublishingEnabled=True,
        Priority=0,
    )


def _request(
    handle: int, node_id: ua.NodeId, node: NodeSpec, settings: OpcUaSettings, with_filter: bool
) -> ua.MonitoredItemCreateRequest:
    sampling = settings.sampling_interval_ms
    parameters = ua.MonitoringParameters(
        ClientHandle=handle,
        # -1: sample at the publishing interval (Part 4, 7.16).
        SamplingInterval=float(sampling) if sampling is not None else -1.0,
        QueueSize=queue_size(settings),
        DiscardOldest=True,
    )
    if with_filter and node.deadband > 0:
        parameters.Filter = ua.DataChangeFilter(
            Trigger=ua.DataChangeTrigger.StatusValue,
            DeadbandType=ua.DeadbandType.Absolute,
            DeadbandValue=node.deadband,
        )
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=parameters,
    )


async def subscribe(
    client: Client,
    nodes: Sequence[tuple[NodeSpec, ua.NodeId]],
    settings: OpcUaSettings,
    items_per_call: int = ITEMS_PER_CALL,
) -> Subscribed:
    """Create the subscription and its monitored items; raise ``SubscriptionRefused``."""
    try:
        subscription = await client.create_subscription(
            subscription_parameters(settings),
            None,
            queue_maxsize=max(MIN_BUFFER, 10 * len(nodes)),
            overflow=OverflowPolicy.DROP_OLDEST,
        )
    except ua.UaStatusCodeError as exc:
        if exc.code in REFUSED:
            raise SubscriptionRefused(ua.StatusCode(exc.code).name) from None
        raise
    result = Subscribed(subscription)
    # Client handles are positions in the node list (from 1): a notification finds its node
    # without a lookup by node id.
    pending = [(index + 1, node, node_id) for index, (node, node_id) in enumerate(nodes)]
    unfiltered: list[tuple[int, NodeSpec, ua.NodeId]] = []
    for with_filter, todo in ((True, pending), (False, unfiltered)):
        for start in range(0, len(todo), items_per_call):
            chunk = todo[start : start + items_per_call]
            requests = [_request(h, nid, node, settings, with_filter) for h, node, nid in chunk]
            answers = await subscription.create_monitored_items(requests)
            for (handle, node, node_id), answer in zip(chunk, answers, strict=True):
                if not isinstance(answer, ua.StatusCode):
                    result.by_handle[handle] = node
                elif answer.value in FILTER_REFUSED and with_filter:
                    unfiltered.append((handle, node, node_id))
                elif answer.value in TOO_MANY_ITEMS:
                    result.to_poll.append((node, node_id))
                else:
                    result.failed.append((node, answer.name))
    return result


async def consume(subscribed: Subscribed, decoder: Decoder, batcher: Batcher) -> NoReturn:
    """Hand every notification to the decoder until the subscription ends."""
    by_handle = subscribed.by_handle
    async for event in subscribed.subscription:
        if isinstance(event, DataChangeEvent):
            item = event.data.monitored_item
            node = by_handle.get(item.ClientHandle)
            if node is not None and item.Value is not None:
                decoder.accept(node, item.Value)
            await batcher.room()
        elif isinstance(event, StatusChangeEvent):
            status = event.notification.Status
            if status is not None and status.is_bad():
                raise SubscriptionLost(f"the subscription ended: {status.name}")
    raise SubscriptionLost("the subscription was closed")
