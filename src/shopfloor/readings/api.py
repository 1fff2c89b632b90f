"""HTTP: ``POST /readings``, range and aggregate queries, latest values."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from shopfloor.core.errors import MalformedBody, ValidationFailed
from shopfloor.core.pagination import decode_cursor, encode_cursor
from shopfloor.core.paths import checked_under
from shopfloor.plant import repository as plant_repository
from shopfloor.plant import service as plant_service
from shopfloor.readings.columns import MAX_TS_US, PayloadShapeError, flatten
from shopfloor.readings.schemas import IngestOut, LatestList, ReadingsBody, ReadingsPage
from shopfloor.readings.timeparams import format_times, parse_every, parse_time_param

router = APIRouter(tags=["readings"])
MAX_BUCKETS = 100_000


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # The standard parser also reads NaN and Infinity, which many clients emit: those values
    # then get a precise per-item error instead of the whole body being unreadable.
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None


def self_contained(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` written in place: an ``openapi_extra`` body
    is pasted into the document as is, where ``#/$defs/…`` would point at nothing."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return dict(inline(schema))


@router.post(
    "/readings",
    status_code=202,
    summary="Store readings (rows or columns); answers after the commit",
    response_model=IngestOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": self_contained(ReadingsBody)}},
        }
    },
    responses={413: {"description": "Too many readings or too large a body"}},
)
async def post_readings(request: Request) -> Response:
    document = load_json(await request.body())
    try:
        columns = flatten(document)
    except PayloadShapeError as exc:
        raise ValidationFailed("the body is not a readings batch", errors=exc.errors) from None
    result = await request.app.state.ingestor.ingest(columns)
    return json_response({"accepted": result.accepted, "duplicates": result.duplicates}, 202)


@router.get(
    "/sensors/{sensor_id}/readings",
    summary="Raw readings, or min/max/mean/count per interval with every=",
    response_model=ReadingsPage,
)
async def get_readings(
    request: Request,
    sensor_id: int,
    start: str | None = Query(None, description="RFC 3339 or epoch seconds; inclusive"),
    end: str | None = Query(None, description="RFC 3339 or epoch seconds; exclusive"),
    limit: int = Query(1000, ge=1, le=10_000),
    every: str | None = Query(None, description="bucket width: Nm, Nh or Nd (1m, 1h, 1d, …)"),
    cursor: str | None = None,
) -> Response:
    app = request.app.state
    start_us = parse_time_param("start", start)
    end_us = parse_time_param("end", end)
    async with app.db.read() as session:
        await plant_service.get_sensor(session, sensor_id)
        if every is not None:
            step = parse_every(every)
            return await _aggregated(app.store, session, sensor_id, start_us, end_us, step)
        after = decode_cursor(cursor)
        lo = start_us or 0
        if isinstance(after, int):
            lo = max(lo, after + 1)
        hi = MAX_TS_US if end_us is None else end_us
        rows = await app.store.range(session, sensor_id, lo, hi, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    items = [
        {"ts": stamp, "value": value}
        for stamp, (_, value) in zip(format_times(ts), rows, strict=True)
    ]
    next_cursor = encode_cursor(int(ts[-1])) if more else None
    return json_response({"items": items, "next_cursor": next_cursor})


async def _aggregated(store, session, sensor_id, start_us, end_us, step) -> Response:  # type: ignore[no-untyped-def]
    if start_us is None or end_us is None:
        bounds = await store.bounds(session, sensor_id)
        if bounds is None:
            return json_response({"items": [], "next_cursor": None})
        start_us = bounds[0] - bounds[0] % step if start_us is None else start_us
        end_us = bounds[1] + 1 if end_us is None else end_us
    if (end_us - start_us) // step > MAX_BUCKETS:
        raise ValidationFailed(
            f"that range holds more than {MAX_BUCKETS} buckets of every; widen every or narrow "
            "the range",
            errors=[{"loc": ["query", "every"], "msg": "too many buckets", "type": "value_error"}],
        )
    buckets = await store.aggregate(session, sensor_id, start_us, end_us, step)
    columns = zip(
        format_times(buckets.ts_us),
        buckets.mins.tolist(),
        buckets.maxs.tolist(),
        (buckets.sums / buckets.counts).tolist(),
        buckets.counts.tolist(),
        strict=True,
    )
    items = [
        {"ts": ts, "min": lo, "max": hi, "mean": mean, "count": count}
        for ts, lo, hi, mean, count in columns
    ]
    return json_response({"items": items, "next_cursor": None})


@router.get(
    "/readings/latest",
    summary="The newest reading of every sensor under a path",
    response_model=LatestList,
)
async def latest(request: Request, under: str | None = None) -> Response:
    app = request.app.state
    async with app.db.read() as session:
        sensors = await plant_repository.list_sensors(session, checked_under(under), None, None)
        by_id = {s.id: s.path for s in sensors}
        rows = await app.store.latest(session, list(by_id))
    rows.sort(key=lambda row: by_id[row[0]])
    stamps = format_times(np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)))
    items = [
        {"sensor": by_id[sid], "ts": stamp, "value": value}
        for stamp, (sid, _, value) in zip(stamps, rows, strict=True)
    ]
    return json_response({"items": items})
