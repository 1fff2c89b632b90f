"""Reading queries: raw ranges with paging, aggregates checked against numpy, latest values."""

from datetime import UTC, datetime

import numpy as np
import pytest

from tests.core.helpers import assert_problem, error_locs

OIL = "acme/press-line/press-1/oil-temp"
VIB = "acme/press-line/press-1/vibration"
US = 1_000_000
BASE_US = int(datetime(2024, 5, 6, 22, tzinfo=UTC).timestamp()) * US  # 6 h of data from here
EDGES_S = [9010, 10800, 14400, 15300, 7200]  # 00:30:10, 01:00, 02:00, 02:15, 00:00 on May 7


def dataset(n=3000, seed=7):
    """Unique millisecond timestamps over six hours (including bucket edges), random values."""
    rng = np.random.default_rng(seed)
    offsets_ms = rng.choice(6 * 3600 * 1000, n, replace=False)
    edges_ms = np.array([s * 1000 + d for s in EDGES_S for d in (-1, 0, 1)])
    offsets_ms = np.unique(np.concatenate([offsets_ms, edges_ms]))
    ts_us = BASE_US + offsets_ms * 1000
    values = np.round(rng.normal(60, 15, len(ts_us)), 3)
    order = rng.permutation(len(ts_us))  # sent out of order
    return ts_us[order], values[order]


def as_us(text):
    """Microseconds since the epoch of an RFC 3339 time or a string of epoch seconds."""
    try:
        return round(float(text) * US)
    except ValueError:
        return round(datetime.fromisoformat(text).timestamp() * US)


async def ingest(client, sensor, ts_us, values, chunk=1000):
    """Post in the series form; returns the summed {accepted, duplicates}."""
    total = {"accepted": 0, "duplicates": 0}
    for start in range(0, len(ts_us), chunk):
        part = slice(start, start + chunk)
        series = {
            "sensor": sensor,
            "ts": (ts_us[part] / US).tolist(),
            "values": values[part].tolist(),
        }
        response = await client.post("/readings", json={"series": [series]})
        assert response.status_code == 202, response.text
        for key in total:
            total[key] += response.json()[key]
    return total


def expected_buckets(ts_us, values, start_us, end_us, step_us):
    inside = (ts_us >= start_us) & (ts_us < end_us)
    ts, vals = ts_us[inside], values[inside]
    buckets = ts - ts % step_us
    out = []
    for bucket in np.unique(buckets):
        chosen = vals[buckets == bucket]
        out.append((int(bucket), chosen.min(), chosen.max(), chosen.mean(), len(chosen)))
    return out


async def assert_aggregates_match(client, sensor_id, ts_us, values, every, start, end):
    step = {"m": 60, "h": 3600, "d": 86400}[every[-1]] * int(every[:-1]) * US
    params = {
        "every": every,
        **({"start": start} if start else {}),
        **({"end": end} if end else {}),
    }
    response = await client.get(f"/sensors/{sensor_id}/readings", params=params)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    start_us = as_us(start) if start else ts_us.min() - ts_us.min() % step
    end_us = as_us(end) if end else ts_us.max() + 1
    expected = expected_buckets(ts_us, values, start_us, end_us, step)
    case = f"every={every} {start}..{end}"
    assert [as_us(item["ts"]) for item in items] == [b[0] for b in expected], case
    assert [item["count"] for item in items] == [b[4] for b in expected], case
    assert [item["min"] for item in items] == [b[1] for b in expected], case
    assert [item["max"] for item in items] == [b[2] for b in expected], case
    assert [item["mean"] for item in items] == pytest.approx([b[3] for b in expected], rel=1e-9)
    assert sum(item["count"] for item in items) > 0, case


AGGREGATE_CASES = [
    ("1m", "2024-05-07T00:30:10Z", "2024-05-07T02:15:00Z"),
    ("1h", "2024-05-07T00:30:10Z", "2024-05-07T02:15:00Z"),
    ("1d", "2024-05-06T22:30:10.5Z", "2024-05-07T03:15:00Z"),
    ("5m", "2024-05-07T02:59:59.999+02:00", "2024-05-07T01:00:00.001Z"),
    ("2h", "2024-05-06T23:00:00Z", "2024-05-07T03:59:59Z"),
    ("90m", "2024-05-06T22:00:00Z", "2024-05-07T04:00:00Z"),
    ("1d", "2024-05-06T00:00:00Z", "2024-05-08T00:00:00Z"),
    ("1h", None, None),
    ("1m", str(BASE_US / US + 3600.25), str(BASE_US / US + 3 * 3600)),
]


async def test_aggregates_match_numpy(client, plant):
    ts_us, values = dataset()
    await ingest(client, OIL, ts_us, values)
    for every, start, end in AGGREGATE_CASES:
        await assert_aggregates_match(client, plant[OIL], ts_us, values, every, start, end)


async def test_aggregates_stay_exact_after_overlapping_resends(client, plant):
    ts_us, values = dataset(n=2000, seed=11)
    n = len(ts_us)
    first, second = slice(0, n * 6 // 10), slice(n * 4 // 10, n)
    assert await ingest(client, OIL, ts_us[first], values[first]) == {
        "accepted": n * 6 // 10,
        "duplicates": 0,
    }
    # The overlap comes again with other values: the first values must stay, counted once.
    changed = values.copy()
    changed[: n * 6 // 10] += 1000
    overlap = n * 6 // 10 - n * 4 // 10
    assert await ingest(client, OIL, ts_us[second], changed[second], chunk=300) == {
        "accepted": n - n * 6 // 10,
        "duplicates": overlap,
    }
    assert await ingest(client, OIL, ts_us, changed, chunk=700) == {"accepted": 0, "duplicates": n}
    for every, start, end in AGGREGATE_CASES[:4]:
        await assert_aggregates_match(client, plant[OIL], ts_us, values, every, start, end)


async def test_raw_range_is_start_inclusive_end_exclusive(client, plant):
    ts_us, values = dataset(n=500)
    await ingest(client, OIL, ts_us, values)
    order = np.argsort(ts_us)
    ts_sorted, values_sorted = ts_us[order], values[order]
    for start, end in [
        ("2024-05-07T00:30:10Z", "2024-05-07T02:15:00Z"),
        ("2024-05-07T02:30:10+02:00", "2024-05-07T04:15:00+02:00"),
        (str(BASE_US // US + 9010), str(BASE_US // US + 15300)),
    ]:
        response = await client.get(
            f"/sensors/{plant[OIL]}/readings", params={"start": start, "end": end, "limit": 10_000}
        )
        items = response.json()["items"]
        inside = (ts_sorted >= as_us("2024-05-07T00:30:10Z")) & (
            ts_sorted < as_us("2024-05-07T02:15:00Z")
        )
        assert [as_us(item["ts"]) for item in items] == ts_sorted[inside].tolist()
        assert [item["value"] for item in items] == values_sorted[inside].tolist()
        assert items[0]["ts"].startswith("2024-05-07T00:30:10")
        assert not any(item["ts"].startswith("2024-05-07T02:15:00") for item in items)
    # An unescaped "+" in the query string arrives as a space and is still understood.
    response = await client.get(
        f"/sensors/{plant[OIL]}/readings?start=2024-05-07T04:14:59.999+02:00&limit=5"
    )
    assert [item["ts"] for item in response.json()["items"]][:2] == [
        "2024-05-07T02:14:59.999Z",
        "2024-05-07T02:15:00.000Z",
    ]


async def test_raw_readings_page_with_next_cursor(client, plant):
    ts_us, values = dataset(n=1000)
    await ingest(client, OIL, ts_us, values)
    start, end = "2024-05-06T23:00:00Z", "2024-05-07T03:00:00Z"
    inside = np.sort(ts_us[(ts_us >= as_us(start)) & (ts_us < as_us(end))])
    walked, cursor, sizes = [], None, []
    while True:
        params = {
            "start": start,
            "end": end,
            "limit": 150,
            **({"cursor": cursor} if cursor else {}),
        }
        body = (await client.get(f"/sensors/{plant[OIL]}/readings", params=params)).json()
        sizes.append(len(body["items"]))
        walked += [as_us(item["ts"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(sizes) < 50
    assert walked == inside.tolist()
    assert sizes[:-1] == [150] * (len(sizes) - 1) and 0 < sizes[-1] <= 150


async def test_bad_query_parameters_are_422(client, plant):
    url = f"/sensors/{plant[OIL]}/readings"
    for every in ("5x", "0m", "1M", "m", "1.5h", "-1h", "10000m", "1w", ""):
        response = await client.get(url, params={"every": every})
        assert ["query", "every"] in error_locs(assert_problem(response, 422)), every
    for name, value in [("start", "yesterday"), ("end", "2024-13-01T00:00:00Z"), ("start", "nan")]:
        response = await client.get(url, params={name: value})
        assert ["query", name] in error_locs(assert_problem(response, 422)), value
    assert_problem(await client.get(url, params={"limit": 0}), 422)
    assert_problem(await client.get(url, params={"limit": 10_001}), 422)
    # Every minute of two centuries is more buckets than the server will compute.
    response = await client.get(url, params={"every": "1m", "start": "0", "end": "4102444799"})
    assert_problem(response, 422)


async def test_unknown_sensor_is_404(client, plant):
    for params in ({}, {"every": "1h"}, {"every": "1h", "start": "0", "end": "100000"}):
        response = await client.get("/sensors/987654/readings", params=params)
        assert "987654" in assert_problem(response, 404, "not-found")["detail"]


async def test_a_sensor_without_readings_has_empty_results(client, plant):
    for params in ({}, {"every": "1m"}, {"every": "1d", "start": "0", "end": "86400"}):
        response = await client.get(f"/sensors/{plant[VIB]}/readings", params=params)
        assert response.status_code == 200
        assert response.json()["items"] == []
        assert response.json()["next_cursor"] is None


async def test_latest_under_a_path(client, plant):
    for path, kind in [("acme/press-line/press-10", "machine"), ("acme/paint", "area")]:
        assert (await client.post("/assets", json={"path": path, "kind": kind})).status_code == 201
    for path in ("acme/press-line/press-10/oil-temp", "acme/paint/humidity"):
        assert (await client.post("/sensors", json={"path": path})).status_code == 201
    readings = [
        {"sensor": OIL, "ts": "2024-05-07T10:00:00Z", "value": 3.0},
        {"sensor": OIL, "ts": "2024-05-07T08:00:00Z", "value": 1.0},
        {"sensor": OIL, "ts": "2024-05-07T11:00:00+02:00", "value": 2.0},
        {"sensor": "acme/press-line/press-10/oil-temp", "ts": "2024-05-08T00:00:00Z", "value": 9},
        {"sensor": "acme/paint/humidity", "ts": "2024-05-07T09:00:00Z", "value": 45.5},
    ]
    response = await client.post("/readings", json={"readings": readings})
    assert response.json() == {"accepted": 5, "duplicates": 0}
    older = {"sensor": OIL, "ts": "2024-05-07T09:59:59Z", "value": -1.0}
    assert (await client.post("/readings", json={"readings": [older]})).status_code == 202

    async def latest(**params):
        response = await client.get("/readings/latest", params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    assert await latest(under="acme/press-line/press-1") == [
        {"sensor": OIL, "ts": "2024-05-07T10:00:00Z", "value": 3.0}
    ]
    assert [item["sensor"] for item in await latest(under="acme/press-line")] == [
        OIL,
        "acme/press-line/press-10/oil-temp",
    ]
    assert await latest(under="acme/paint/humidity") == [
        {"sensor": "acme/paint/humidity", "ts": "2024-05-07T09:00:00Z", "value": 45.5}
    ]
    assert len(await latest(under="acme")) == 3
    assert len(await latest()) == 3
    assert await latest(under="elsewhere") == []


async def test_lower_case_rfc3339_times_are_accepted(client, plant):
    readings = [{"sensor": OIL, "ts": "2024-05-07t10:00:00z", "value": 1.0}]
    response = await client.post("/readings", json={"readings": readings})
    assert response.status_code == 202, response.text
    items = (await client.get(f"/sensors/{plant[OIL]}/readings")).json()["items"]
    assert items == [{"ts": "2024-05-07T10:00:00Z", "value": 1.0}]


async def test_latest_refuses_an_invalid_path(client, plant):
    response = await client.get("/readings/latest", params={"under": "Acme//Press"})
    assert ["query", "under"] in error_locs(assert_problem(response, 422))
