"""Many ingest requests at once: each is answered after its own commit, none is lost."""

from __future__ import annotations

import asyncio

SENSOR = "acme/press-line/press-1/oil-temp"


def _batch(number: int, size: int = 200) -> dict:
    base = 1_700_000_000 + number * size
    return {
        "series": [
            {
                "sensor": SENSOR,
                "ts": [base + i for i in range(size)],
                "values": [float(number) for _ in range(size)],
            }
        ]
    }


async def test_concurrent_batches_are_all_stored_and_counted(client, plant):
    responses = await asyncio.gather(*(client.post("/readings", json=_batch(n)) for n in range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    assert all(r.json() == {"accepted": 200, "duplicates": 0} for r in responses)

    # Re-sent at once, overlapping with new ones: duplicates are counted per request.
    again = await asyncio.gather(*(client.post("/readings", json=_batch(n)) for n in range(15, 25)))
    assert [r.json()["duplicates"] for r in again] == [200] * 5 + [0] * 5

    hourly = await client.get(f"/sensors/{plant[SENSOR]}/readings", params={"every": "1d"})
    assert sum(item["count"] for item in hourly.json()["items"]) == 25 * 200
