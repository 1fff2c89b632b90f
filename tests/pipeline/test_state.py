"""Stage state in the database: round trips, upserts, checkpoints, and a stage that resumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shopfloor.bus.message import Envelope
from shopfloor.pipeline import BaseStage, Checkpointer, PipelineRunner, StageContext, StateStore
from tests.pipeline.helpers import unique, wait_until

DOCUMENT = {
    "mean": 41.25,
    "var": 1e-9,
    "count": 12_345,
    "window": [1.0, 2.5, -3.0],
    "nested": {"armed": True, "since": None, "label": "Öl-Temperatur ≥ 80 °C"},
}


async def test_states_round_trip_as_json(database):
    store = StateStore(database)
    stage = unique("detect")
    states = {"acme/press-1/oil-temp": DOCUMENT, "acme/press-1/vibration": {}}
    await store.save(stage, states)
    assert await store.load(stage) == states
    assert await store.load(unique("other")) == {}


async def test_save_upserts_and_keeps_stages_apart(database):
    store = StateStore(database)
    detect, alarm = unique("detect"), unique("alarm")
    await store.save(detect, {"a": {"v": 1}, "b": {"v": 2}})
    await store.save(alarm, {"a": {"debounce": 3}})
    await store.save(detect, {"b": {"v": 20}, "c": {"v": 30}})
    assert await store.load(detect) == {"a": {"v": 1}, "b": {"v": 20}, "c": {"v": 30}}
    assert await store.load(alarm) == {"a": {"debounce": 3}}

    await store.delete(detect, ["a", "c"])
    assert await store.load(detect) == {"b": {"v": 20}}
    await store.delete(detect)
    assert await store.load(detect) == {}
    assert await store.load(alarm) == {"a": {"debounce": 3}}


async def test_many_keys_are_saved_in_one_go(database):
    store = StateStore(database)
    stage = unique("bulk")
    states = {f"site/line/m{i:04d}": {"i": i} for i in range(2_500)}
    await store.save(stage, states)
    assert await store.load(stage) == states


async def test_numpy_values_are_stored_as_plain_json(database):
    store = StateStore(database)
    stage = unique("numpy")
    state = {"weights": np.array([0.5, 1.5]), "n": np.int64(3), "mean": np.float64(2.0)}
    await store.save(stage, {"k": state})
    assert await store.load(stage) == {"k": {"weights": [0.5, 1.5], "n": 3, "mean": 2.0}}


async def test_a_save_in_the_callers_transaction_rolls_back_with_it(database):
    store = StateStore(database)
    stage = unique("atomic")
    with pytest.raises(RuntimeError):
        async with database.write() as session:
            await store.save(stage, {"k": {"v": 1}}, session=session)
            raise RuntimeError("the batch's own writes failed")
    assert await store.load(stage) == {}
    async with database.write() as session:
        await store.save(stage, {"k": {"v": 2}}, session=session)
    assert await store.load(stage) == {"k": {"v": 2}}


async def test_checkpointer_saves_after_its_interval_and_on_close(database):
    store = StateStore(database)
    stage = unique("checkpoint")
    now = [0.0]
    checkpointer = Checkpointer(store, stage, interval_s=10, clock=lambda: now[0])
    checkpointer.put("a", {"v": 1})
    assert not await checkpointer.maybe_save()  # too soon
    assert await store.load(stage) == {}

    now[0] = 10.0
    assert await checkpointer.maybe_save()
    assert await store.load(stage) == {"a": {"v": 1}}
    assert checkpointer.pending == 0
    assert not await checkpointer.maybe_save()  # nothing changed

    checkpointer.put_many({"a": {"v": 2}, "b": {"v": 3}})
    await checkpointer.close()
    assert await store.load(stage) == {"a": {"v": 2}, "b": {"v": 3}}


async def test_checkpointer_saves_in_the_background_while_quiet(database):
    store = StateStore(database)
    stage = unique("background")
    checkpointer = Checkpointer(store, stage, interval_s=0.05)
    checkpointer.start()
    state = {"count": 1}
    checkpointer.put("k", state)
    state["count"] = 2  # the value at save time is what is written

    async def saved() -> bool:
        return await store.load(stage) == {"k": {"count": 2}}

    await wait_until(saved, what="a background save")
    await checkpointer.close()


class Baseline(BaseStage):
    """Learns a running mean per key; the last applied ``seq`` per key makes replays no-ops."""

    topic = "readings"
    batch_size = 4
    batch_wait_s = 0.01

    def __init__(self, name: str) -> None:
        self.name = name
        self.states: dict[str, dict] = {}
        self.loaded: dict[str, dict] = {}

    async def start(self, context: StageContext) -> None:
        await super().start(context)
        self.checkpointer = context.checkpointer(interval_s=60)
        self.loaded = await self.checkpointer.load()
        self.states = {key: dict(state) for key, state in self.loaded.items()}

    async def handle(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            state = self.states.setdefault(envelope.key, {"count": 0, "mean": 0.0, "seq": -1})
            seq, value = envelope.payload["seq"], envelope.payload["value"]
            if seq <= state["seq"]:
                continue  # already applied before a crash or a restart
            state["count"] += 1
            state["mean"] += (value - state["mean"]) / state["count"]
            state["seq"] = seq
            self.checkpointer.put(envelope.key, state)
        await self.checkpointer.maybe_save()

    async def stop(self) -> None:
        await self.checkpointer.close()


def readings(seqs: range) -> list[Envelope]:
    return [
        Envelope(topic="readings", key=key, payload={"seq": seq, "value": float(seq)})
        for seq in seqs
        for key in ("oil-temp", "vibration")
    ]


async def run_stage(bus, database, stage: Baseline, envelopes: list[Envelope]) -> None:
    last = max(envelope.payload["seq"] for envelope in envelopes)

    async def caught_up() -> bool:
        applied = [state["seq"] for state in stage.states.values()]
        return applied == [last, last] and await bus.lag_seconds("readings", stage.name) == 0

    async with PipelineRunner(bus, [stage], "worker-1", database=database, poll_s=0.05):
        await bus.publish(envelopes)
        await wait_until(caught_up, what="everything handled")


async def test_a_restarted_stage_resumes_and_replays_change_nothing(bus, database):
    name = unique("baseline")
    first = Baseline(name)
    await run_stage(bus, database, first, readings(range(10)))
    saved = await StateStore(database).load(name)
    assert saved == first.states
    assert saved["oil-temp"] == {"count": 10, "mean": 4.5, "seq": 9}

    # A new process: the stage starts from the checkpoint, and 5..9 arrive again.
    second = Baseline(name)
    await run_stage(bus, database, second, readings(range(5, 15)))
    assert second.loaded == saved
    for key in ("oil-temp", "vibration"):
        assert second.states[key]["count"] == 15
        assert math.isclose(second.states[key]["mean"], 7.0)
    assert await StateStore(database).load(name) == second.states


class LiveModel:
    """A stage's working object: saved as its document, taken when the checkpoint is saved."""

    def __init__(self) -> None:
        self.seen = 0

    def document(self) -> dict:
        return {"seen": self.seen}


async def test_an_object_is_saved_as_its_document_as_of_the_save(database):
    name = unique("live")
    model = LiveModel()
    checkpointer = Checkpointer(StateStore(database), name, interval_s=3600)
    checkpointer.put("oil-temp", model)
    model.seen = 7  # changed after the put: the save takes it as it is by then

    await checkpointer.save()

    assert await StateStore(database).load(name) == {"oil-temp": {"seen": 7}}
