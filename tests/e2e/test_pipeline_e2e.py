"""The pipeline end to end (issue 3, "What must hold"): real processes on Redis and PostgreSQL.

One API process (``serve --no-pipeline``: ingest, outbox relay) and ``shopfloor worker``
processes (the detect and alarm stages) share a real redis-server and a real PostgreSQL
database. The readings are deterministic, so the alarm counts they must produce (one ``limits``
alarm per sensor, counting every reading outside the sensor's limits once) are computed from
the input and compared with the ``alarms`` table.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from shopfloor.bus import create_bus
from shopfloor.bus.base import RetryPolicy
from shopfloor.bus.message import Envelope
from shopfloor.bus.redis import RedisBus
from shopfloor.storage.migrate import upgrade
from tests.fixtures.process import ServeProcess
from tests.fixtures.servers import PostgresServer, RedisServer, redis_server
from tests.fixtures.workers import WorkerProcess, run_cli

pytestmark = pytest.mark.slow

MACHINE = "plant/line/m1"
LOW, HIGH = 0.0, 100.0
BASE_S = 1_700_000_000
VISIBILITY_TIMEOUT_S = 4.0
# What the stages consume: stream key → consumer group (namespace "shopfloor", the default).
GROUPS = {"shopfloor:readings.accepted": "detect", "shopfloor:scores": "alarm"}
_databases = itertools.count()


# --- the input ---------------------------------------------------------------------------------


def post_body(number: int, paths: list[str], per_sensor: int) -> tuple[dict, np.ndarray]:
    """Post ``number``: ``per_sensor`` readings for each sensor, timestamps after the previous
    post's, values from a seeded generator (about a third outside 0..100). Returns the body and
    how many readings of each sensor break the limits."""
    values = np.random.default_rng(number).uniform(-25.0, 125.0, (len(paths), per_sensor))
    values = values.round(3)
    first = BASE_S + number * per_sensor
    ts = list(range(first, first + per_sensor))
    body = {
        "series": [
            {"sensor": path, "ts": ts, "values": row.tolist()}
            for path, row in zip(paths, values, strict=True)
        ]
    }
    return body, ((values < LOW) | (values > HIGH)).sum(axis=1)


# --- the processes -----------------------------------------------------------------------------


@dataclass
class Stack:
    pg: PostgresServer
    database: str
    redis_server: RedisServer
    redis: redis.Redis
    env: dict[str, str]
    data_dir: Path
    api: ServeProcess | None = None
    workers: list[WorkerProcess] = field(default_factory=list)

    def start_api(self) -> httpx.Client:
        self.api = ServeProcess(self.data_dir, self.env, args=["--no-pipeline"])
        self.api.start()
        return httpx.Client(
            base_url=f"{self.api.base_url}/api/v1", timeout=60, headers=self.api.admin_headers()
        )

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.data_dir, f"worker-{len(self.workers)}", self.env)
        self.workers.append(worker)
        worker.start()
        worker.wait_subscribed(self.redis, GROUPS)
        return worker

    def sql(self, query: str) -> list[list[str]]:
        out = self.pg.psql(query, database=self.database)
        return [line.split("|") for line in out.splitlines() if line]

    def alarms(self) -> dict[int, tuple[int, int]]:
        """sensor id → (alarms not closed, summed count of all) of the ``limits`` rule.

        An alarm whose condition clears resolves and a recurrence opens a new one, so a sensor
        can have several rows; at most one is not closed, and the counts add up to the breaches.
        """
        rows = self.sql(
            "SELECT sensor_id, count(*) FILTER (WHERE state <> 'closed'), sum(count) FROM alarms "
            "WHERE rule = 'limits' GROUP BY sensor_id"
        )
        return {int(sid): (int(n), int(total)) for sid, n, total in rows}

    def bus_idle(self) -> bool:
        """Nothing pending, undelivered or waiting for a retry in either group."""
        for stream, group in GROUPS.items():
            try:
                infos = self.redis.xinfo_groups(stream)
            except redis.ResponseError:
                continue
            for info in infos:
                if info["name"].decode() == group and (info["pending"] or info.get("lag")):
                    return False
            topic = stream.split(":", 1)[1]
            if self.redis.zcard(f"shopfloor:retry:{topic}:{group}"):
                return False
            if self.redis.xlen(f"shopfloor:retrying:{topic}:{group}"):
                return False
        return True

    def logs(self) -> str:
        parts = [f"--- {w.name}\n{w.log_tail()}" for w in self.workers]
        if self.api is not None:
            parts.insert(0, f"--- api\n{self.api.log_tail()}")
        return "\n".join(parts)


@pytest.fixture
def stack(pg_server: PostgresServer, tmp_path: Path) -> Iterator[Stack]:
    name = f"pipeline_e2e_{next(_databases)}"
    url = pg_server.create_database(name)
    upgrade(url)
    # As deployed: Redis keeps an append-only file, so a restart keeps streams and groups.
    with redis_server(appendonly=True) as server:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        env = {
            "SHOPFLOOR_DATABASE_URL": url,
            "SHOPFLOOR_BUS_URL": server.url,
            "SHOPFLOOR_DATA_DIR": str(tmp_path / "data"),
            "SHOPFLOOR_LOG_LEVEL": "WARNING",
            "SHOPFLOOR_BUS_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        }
        built = Stack(pg_server, name, server, client, env, tmp_path / "data")
        try:
            yield built
        finally:
            for worker in built.workers:
                worker.stop()
            if built.api is not None:
                built.api.stop()
            client.close()
    pg_server.drop_database(name)


def create_sensors(http: httpx.Client, count: int) -> dict[str, int]:
    """``count`` sensors with limits 0..100 under one machine; path → id."""
    for path, kind in [("plant", "site"), ("plant/line", "line"), (MACHINE, "machine")]:
        response = http.post("/assets", json={"path": path, "kind": kind})
        assert response.status_code == 201, response.text
    ids = {}
    for i in range(count):
        path = f"{MACHINE}/s{i:02d}"
        response = http.post(
            "/sensors", json={"path": path, "unit": "degC", "low_limit": LOW, "high_limit": HIGH}
        )
        assert response.status_code == 201, response.text
        ids[path] = response.json()["id"]
    return ids


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval=0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settle_alarms(
    stack: Stack, expected: dict[int, int], timeout: float = 90.0, quiet_s: float = 10.0
) -> dict[int, tuple[int, int]]:
    """Poll the alarms until they match ``expected`` (sensor id → count), or until they have not
    changed for ``quiet_s`` with the bus idle, or the deadline; returns the last observation."""
    want = {sid: (1, count) for sid, count in expected.items() if count}
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        seen = stack.alarms()
        if seen == want:
            return seen
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since > quiet_s and stack.bus_idle():
            return seen
        time.sleep(0.25)
    return stack.alarms()


def describe_mismatch(seen: dict[int, tuple[int, int]], expected: dict[int, int]) -> str:
    lines = []
    for sid in sorted(set(seen) | set(expected)):
        rows, total = seen.get(sid, (0, 0))
        if (rows, total) != (1, expected.get(sid, 0)):
            lines.append(f"sensor {sid}: {rows} alarm row(s), count {total}, want {expected[sid]}")
    return "\n".join(lines)


# --- 1. worker failure -------------------------------------------------------------------------

SENSORS_1 = 20
POSTS_1 = 40  # of 5,000 readings: 200,000
PER_SENSOR_1 = 250


def test_worker_killed_midway_every_reading_scored_once(stack: Stack) -> None:
    http = stack.start_api()
    ids = create_sensors(http, SENSORS_1)
    paths = list(ids)
    victim = stack.start_worker()
    survivor = stack.start_worker()

    expected = np.zeros(len(paths), dtype=np.int64)
    posted = threading.Event()
    half = threading.Event()
    errors: list[str] = []

    def stream() -> None:
        with httpx.Client(base_url=http.base_url, timeout=60, headers=http.headers) as client:
            for number in range(POSTS_1):
                body, breaches = post_body(number, paths, PER_SENSOR_1)
                response = client.post("/readings", json=body)
                if response.status_code != 202 or response.json()["accepted"] != 5_000:
                    errors.append(f"post {number}: {response.status_code} {response.text}")
                    break
                expected[:] += breaches
                if number + 1 == POSTS_1 // 2:
                    half.set()
        posted.set()

    poster = threading.Thread(target=stream)
    poster.start()
    try:
        wait_for(half.is_set, 120, "half of the readings to be posted")
        # The victim has provably done work (an alarm counted: a batch went through both
        # stages) ...
        wait_for(lambda: any(t for _, t in stack.alarms().values()), 60, "a first alarm count")
        # ... and holds deliveries it has not settled: frozen, its pending entries cannot change
        # until the kill.
        held = _freeze_holding(stack, victim)
        victim.kill()
        assert not errors, errors
    finally:
        poster.join(timeout=180)
    assert posted.is_set() and not errors, errors
    assert not poster.is_alive()

    want = {ids[path]: int(n) for path, n in zip(paths, expected, strict=True)}
    assert int(expected.sum()) > 0
    seen = settle_alarms(stack, want)
    # What the victim held when it died was claimed by the survivor and settled.
    assert sum(held.values()) > 0 and survivor.process.poll() is None
    for stream, group in GROUPS.items():
        left = stack.redis.xpending_range(
            stream, group, "-", "+", 1000, consumername=victim.consumer
        )
        assert left == [], (group, left)
    # No alarm exists twice.
    assert {sid: rows for sid, (rows, _) in seen.items()} == dict.fromkeys(want, 1)
    print(f"victim held {held} at SIGKILL; {int(expected.sum())} breaches in 200,000 readings")
    # Every reading scored exactly once in effect: each count equals the input's breaches.
    assert seen == {sid: (1, n) for sid, n in want.items()}, (
        describe_mismatch(seen, want) + "\n" + stack.logs()
    )


def _freeze_holding(stack: Stack, worker: WorkerProcess, timeout: float = 30) -> dict[str, int]:
    """SIGSTOP ``worker`` at a moment it has unsettled deliveries; returns them per group."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.pause()
        held = worker.pending(stack.redis, GROUPS)
        if any(held.values()):
            return held
        worker.resume()
        time.sleep(0.01)
    raise AssertionError(f"the worker never held a delivery:\n{worker.log_tail()}")


# --- 2. poison message -------------------------------------------------------------------------


def test_poison_message_dead_lettered_then_replayed(stack: Stack) -> None:
    http = stack.start_api()
    ids = create_sensors(http, 5)
    paths = list(ids)
    stack.start_worker()

    # A scores message for a sensor that does not exist yet fails on every attempt. The id is the
    # one the next sensor created will get.
    ghost_id = max(ids.values()) + 1
    ghost_path = f"{MACHINE}/ghost"
    ts_us = [(BASE_S - 10 + i) * 1_000_000 for i in range(3)]
    poison = Envelope(
        topic="scores",
        key=ghost_path,
        payload={
            "sensor_id": ghost_id,
            "sensor": ghost_path,
            "detector": "seasonal",
            "ts": ts_us,
            "values": [150.0, -5.0, 50.0],
            "scores": [0.0, 0.0, 0.0],
        },
        id="poison-1",
    )

    async def publish() -> None:
        bus = create_bus(stack.redis_server.url)
        await bus.start()
        try:
            await bus.publish([poison])
        finally:
            await bus.close()

    asyncio.run(publish())
    # The rest flows on meanwhile.
    expected = np.zeros(len(paths), dtype=np.int64)
    for number in range(10):
        body, breaches = post_body(number, paths, 200)
        response = http.post("/readings", json=body)
        assert response.status_code == 202, response.text
        expected += breaches
    want = {ids[path]: int(n) for path, n in zip(paths, expected, strict=True)}

    policy = RetryPolicy()  # the worker's (RedisBus default): 5 attempts, backoff from 0.5 s
    letters = _wait_dead_letters(stack, 1, timeout=30)
    [letter] = letters
    assert letter.envelope.id == "poison-1" and letter.group == "alarm"
    assert letter.attempts == policy.max_attempts
    assert f"unknown sensor {ghost_id}" in letter.error, letter.error
    # Four retries after backoffs of at least half of 0.5, 1, 2 and 4 s (the jitter).
    min_backoff = sum(policy.base_delay_s * 2 ** (n - 1) * (1 - policy.jitter) for n in range(1, 5))
    assert letter.failed_at - letter.envelope.created_at >= min_backoff

    seen = settle_alarms(stack, want, timeout=60)
    assert seen == {sid: (1, n) for sid, n in want.items()}, describe_mismatch(seen, want)
    assert ghost_id not in stack.alarms()

    cli_env = {**stack.env, "COLUMNS": "400"}
    listed = run_cli("deadletters", "list", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    assert "poison-1" in listed.stdout and "scores" in listed.stdout, listed.stdout
    assert "unknown sensor" in listed.stdout, listed.stdout

    # Fix the fault: the sensor now exists, under the id the message names.
    response = http.post(
        "/sensors", json={"path": ghost_path, "unit": "degC", "low_limit": LOW, "high_limit": HIGH}
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"] == ghost_id

    replayed = run_cli("deadletters", "replay", env=cli_env)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letter" in replayed.stdout, replayed.stdout

    want[ghost_id] = 2  # its two readings outside the limits
    seen = settle_alarms(stack, want, timeout=30)
    assert seen == {sid: (1, n) for sid, n in want.items()}, describe_mismatch(seen, want)
    assert _dead_letters(stack) == []
    after = run_cli("deadletters", "list", env=cli_env)
    assert after.returncode == 0 and "no dead letters" in after.stdout, after.stdout


def _dead_letters(stack: Stack) -> list:
    async def read() -> list:
        bus = RedisBus.from_url(stack.redis_server.url)
        try:
            return await bus.dead_letters()
        finally:
            await bus.close()

    return asyncio.run(read())


def _wait_dead_letters(stack: Stack, count: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        letters = _dead_letters(stack)
        if len(letters) >= count:
            return letters
        time.sleep(0.2)
    raise AssertionError(f"no dead letter after {timeout}s:\n{stack.logs()}")


# --- 3. Redis restarted mid-stream -------------------------------------------------------------

PER_SENSOR_3 = 200


@dataclass
class Outcome:
    number: int
    phase: str  # "before", "during" (posted while Redis was down) or "after" its restart
    paths: list[str]
    status: int
    retry_after: str | None


def test_redis_restart_mid_stream_api_accepts_durably_and_pipeline_recovers(
    stack: Stack,
) -> None:
    """Readings go to sensors ``s*`` all along, to ``b*`` only while Redis is down and to ``c*``
    only after its restart. Every 202 is stored; what was posted during the outage (held by the
    relay) and after the restart is scored exactly once, and so is what Redis held when it
    stopped (its append-only file keeps the streams and the consumer groups)."""
    http = stack.start_api()
    ids = create_sensors(http, 6)
    for extra in ("b0", "b1", "c0", "c1"):
        response = http.post(
            "/sensors",
            json={"path": f"{MACHINE}/{extra}", "low_limit": LOW, "high_limit": HIGH},
        )
        assert response.status_code == 201, response.text
        ids[f"{MACHINE}/{extra}"] = response.json()["id"]
    steady = [p for p in ids if p.split("/")[-1].startswith("s")]
    by_phase = {
        "before": steady,
        "during": [*steady, f"{MACHINE}/b0", f"{MACHINE}/b1"],
        "after": [*steady, f"{MACHINE}/c0", f"{MACHINE}/c1"],
    }
    stack.start_worker()

    outcomes: list[Outcome] = []
    phase = ["before"]
    stop = threading.Event()
    failures: list[str] = []

    def stream() -> None:
        with httpx.Client(base_url=http.base_url, timeout=60, headers=http.headers) as client:
            for number in itertools.count():
                if stop.is_set():
                    return
                now = phase[0]
                body, _ = post_body(number, by_phase[now], PER_SENSOR_3)
                try:
                    response = client.post("/readings", json=body)
                except httpx.TransportError as exc:
                    failures.append(f"post {number}: {exc!r}")
                    return
                retry_after = response.headers.get("retry-after")
                outcomes.append(
                    Outcome(number, now, by_phase[now], response.status_code, retry_after)
                )

    def posted(which: str) -> int:
        return sum(o.phase == which for o in outcomes)

    poster = threading.Thread(target=stream)
    poster.start()
    try:
        wait_for(lambda: posted("before") >= 10, 60, "10 posts before the outage")
        wait_for(lambda: any(t for _, t in stack.alarms().values()), 60, "a first alarm count")
        stack.redis_server.stop()
        phase[0] = "during"
        began = time.monotonic()
        wait_for(
            lambda: time.monotonic() - began > 3 and posted("during") >= 5,
            60,
            "3 s and 5 posts while Redis is down",
        )
        stack.redis_server.start()
        phase[0] = "after"
        wait_for(lambda: posted("after") >= 10, 60, "10 posts after the restart")
    finally:
        stop.set()
        poster.join(timeout=120)
    assert not failures, failures

    statuses = {
        which: sorted({o.status for o in outcomes if o.phase == which}) for which in phase_names()
    }
    print(f"{len(outcomes)} posts; statuses by phase: {statuses}")
    assert {o.status for o in outcomes} <= {202, 503}, statuses
    assert all(o.retry_after for o in outcomes if o.status == 503)
    acknowledged = [o for o in outcomes if o.status == 202]
    assert posted("during") >= 5 and acknowledged

    # Every acknowledged reading is stored, with its value.
    stored = {path: _stored(http, ids[path]) for path in ids}
    for o in acknowledged:
        body, _ = post_body(o.number, o.paths, PER_SENSOR_3)
        for series in body["series"]:
            have = stored[series["sensor"]]
            for ts, value in zip(series["ts"], series["values"], strict=True):
                assert have.get(ts) == value, (series["sensor"], o.number, ts)

    expected = dict.fromkeys(ids.values(), 0)
    for o in acknowledged:
        _, breaches = post_body(o.number, o.paths, PER_SENSOR_3)
        for path, n in zip(o.paths, breaches, strict=True):
            expected[ids[path]] += int(n)
    seen = settle_alarms(stack, expected, timeout=90)
    exact = {ids[p] for p in ids if not p.split("/")[-1].startswith("s")}
    assert all(expected[sid] for sid in exact)
    # What the relay could not publish during the outage, and what came after: exactly once.
    assert {sid: seen.get(sid) for sid in exact} == {sid: (1, expected[sid]) for sid in exact}, (
        describe_mismatch(seen, expected) + "\n" + stack.logs()
    )
    # The steady sensors, streaming across the restart: one alarm each, every breach once.
    for path in steady:
        assert seen[ids[path]] == (1, expected[ids[path]]), (path, seen[ids[path]])


def phase_names() -> tuple[str, ...]:
    return ("before", "during", "after")


def test_redis_restart_loses_nothing_published_but_not_yet_consumed(stack: Stack) -> None:
    """Deterministic form of the gap: the worker is paused (a slow worker) while one post is
    published and waits undelivered on the stream; then Redis restarts."""
    http = stack.start_api()
    ids = create_sensors(http, 2)
    paths = list(ids)
    worker = stack.start_worker()

    expected = np.zeros(len(paths), dtype=np.int64)
    body, breaches = post_body(0, paths, 500)
    assert http.post("/readings", json=body).status_code == 202
    expected += breaches
    first = {ids[p]: int(n) for p, n in zip(paths, expected, strict=True)}
    assert settle_alarms(stack, first, timeout=60) == {sid: (1, n) for sid, n in first.items()}

    worker.pause()
    # A blocked XREADGROUP of the paused worker would still be served: wait until none is.
    wait_for(lambda: not _blocked_clients(stack), 10, "the paused worker's reads to time out")
    body, breaches = post_body(1, paths, 500)
    assert http.post("/readings", json=body).status_code == 202
    expected += breaches
    wait_for(
        lambda: _undelivered(stack, "shopfloor:readings.accepted", "detect") >= len(paths),
        30,
        "the post to be published and wait on the stream",
    )
    stack.redis_server.stop()
    stack.redis_server.start()
    worker.resume()

    want = {ids[p]: int(n) for p, n in zip(paths, expected, strict=True)}
    seen = settle_alarms(stack, want, timeout=60, quiet_s=8)
    assert seen == {sid: (1, n) for sid, n in want.items()}, describe_mismatch(seen, want)


def _blocked_clients(stack: Stack) -> list[dict]:
    return [c for c in stack.redis.client_list() if "b" in c.get("flags", "")]


def _undelivered(stack: Stack, stream: str, group: str) -> int:
    try:
        infos = stack.redis.xinfo_groups(stream)
    except redis.ResponseError:
        return 0
    info = next((i for i in infos if i["name"].decode() == group), None)
    return int(info.get("lag") or 0) if info else 0


def _stored(http: httpx.Client, sensor_id: int) -> dict[int, float]:
    """A sensor's readings, epoch seconds → value."""
    stored: dict[int, float] = {}
    cursor = None
    while True:
        params = {"limit": 10_000, **({"cursor": cursor} if cursor else {})}
        response = http.get(f"/sensors/{sensor_id}/readings", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            stored[_epoch(item["ts"])] = item["value"]
        cursor = page["next_cursor"]
        if cursor is None:
            return stored


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
