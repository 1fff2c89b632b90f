"""The overview's states: per sensor, rolled up the tree, shelved, with alarms counted."""

from __future__ import annotations

import pytest

from shopfloor.web.status.rules import (
    AssetFacts,
    PlantFacts,
    SensorFacts,
    plant_status,
    stale_after_s,
    summary,
)

NOW_US = 1_800_000_000 * 1_000_000
S = 1_000_000
ASSETS = (
    AssetFacts(1, "acme", "site", "ACME"),
    AssetFacts(2, "acme/line", "line", "Line"),
    AssetFacts(3, "acme/line/m1", "machine", "M1"),
    AssetFacts(4, "acme/line/m2", "machine", "M2"),
    AssetFacts(5, "acme/line/m3", "machine", "M3"),
)


def sensor(sensor_id: int, machine: str, interval: float | None = 1.0) -> SensorFacts:
    path = f"acme/line/{machine}"
    return SensorFacts(sensor_id, f"{path}/s{sensor_id}", path, 0.0, 100.0, interval)


def facts(
    latest: dict[int, tuple[int, float]],
    alarms: dict[str, int] | None = None,
    shelved: dict[str, str] | None = None,
    sensors: tuple[SensorFacts, ...] | None = None,
) -> PlantFacts:
    return PlantFacts(
        assets=ASSETS,
        sensors=sensors or (sensor(1, "m1"), sensor(2, "m2"), sensor(3, "m2")),
        latest=latest,
        open_alarms=alarms or {},
        shelved=shelved or {},
        now_us=NOW_US,
    )


FRESH = NOW_US - 1 * S


@pytest.mark.parametrize(
    ("value", "age_s", "state"),
    [
        (50.0, 1, "ok"),
        (95.0, 1, "warning"),  # within a tenth of the range of the high limit
        (3.0, 1, "warning"),
        (120.0, 1, "warning"),  # outside, and no alarm (yet)
        (50.0, 11, "stale"),  # 1 s sampling: stale after 10 s
    ],
)
def test_a_machine_takes_the_state_of_its_sensor(value: float, age_s: int, state: str) -> None:
    status = plant_status(facts({1: (NOW_US - age_s * S, value)}))["acme/line/m1"]
    assert status.state == state


def test_an_open_alarm_outranks_everything_and_counts_up_the_tree() -> None:
    statuses = plant_status(
        facts(
            {1: (FRESH, 50.0), 2: (FRESH, 50.0), 3: (NOW_US - 60 * S, 50.0)},
            alarms={"acme/line/m2/s2": 2, "acme/line/m1/s1": 1},
        )
    )
    assert (statuses["acme/line/m2"].state, statuses["acme/line/m2"].open_alarms) == ("alarm", 2)
    assert (statuses["acme/line"].state, statuses["acme/line"].open_alarms) == ("alarm", 3)
    assert statuses["acme"].open_alarms == 3
    assert statuses["acme/line/m2"].label == "Alarm"


def test_a_shelf_wins_and_a_shelved_child_does_not_make_its_line_worse() -> None:
    statuses = plant_status(
        facts(
            {1: (FRESH, 50.0), 2: (NOW_US - 600 * S, 50.0), 3: (FRESH, 50.0)},
            shelved={"acme/line/m2": "shelved until 12:00: seals"},
        )
    )
    assert statuses["acme/line/m2"].state == "shelved"
    assert statuses["acme/line/m2"].reason == "shelved until 12:00: seals"
    assert statuses["acme/line"].state == "ok"


def test_machines_without_sensors_or_readings_say_so() -> None:
    statuses = plant_status(facts({1: (FRESH, 50.0)}))
    assert statuses["acme/line/m3"].state == "unmonitored"
    assert statuses["acme/line/m2"].state == "stale"
    assert "no reading yet" in statuses["acme/line/m2"].reason
    counts = summary(statuses.values(), {"acme/line/m1", "acme/line/m2", "acme/line/m3"})
    assert (counts["ok"], counts["stale"], counts["unmonitored"]) == (1, 1, 1)


def test_an_alarm_on_the_asset_itself_counts() -> None:
    statuses = plant_status(facts({1: (FRESH, 50.0)}, alarms={"acme/line/m1": 1}))
    assert statuses["acme/line/m1"].state == "alarm"


def test_staleness_follows_the_sampling_interval() -> None:
    assert stale_after_s(1.0) == 10.0  # never shorter than 10 s
    assert stale_after_s(60.0) == 180.0
    assert stale_after_s(None) == 600.0
    slow = (sensor(1, "m1", interval=60.0),)
    assert (
        plant_status(facts({1: (NOW_US - 120 * S, 50.0)}, sensors=slow))["acme/line/m1"].state
        == "ok"
    )


def test_a_state_sentence_does_not_change_while_nothing_else_does() -> None:
    # Otherwise every stale machine would be sent to every browser every second.
    earlier = plant_status(facts({1: (NOW_US - 30 * S, 50.0)}))
    later = plant_status(facts({1: (NOW_US - 31 * S, 50.0)}))
    assert earlier == later
