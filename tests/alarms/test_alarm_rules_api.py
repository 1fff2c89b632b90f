"""Alarm rules through the API: the built-in rules, CRUD, and each validation error."""

from __future__ import annotations

import pydantic
import pytest

from shopfloor.alarms.schemas import rule_params
from tests.alarms.helpers import MACHINE, OIL, alarm_row, insert_alarm
from tests.core.helpers import assert_problem, error_locs

RULE = {
    "name": "oil-too-hot",
    "scope": MACHINE,
    "kind": "threshold",
    "params": {"high": 90, "deadband": 1.5},
    "severity": "critical",
}
LIFECYCLE_DEFAULTS = {
    "clear_seconds": 30.0,
    "escalate_after_seconds": 900.0,
    "remind_every_seconds": 1800.0,
}


async def create(client, **fields):
    response = await client.post("/alarm-rules", json={**RULE, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def rule_names(client) -> list[str]:
    response = await client.get("/alarm-rules", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_the_built_in_rules_are_there_out_of_the_box(client):
    items = (await client.get("/alarm-rules")).json()["items"]
    rules = {item["name"]: item for item in items}
    assert list(rules) == ["limits", "anomaly", "no_data"]
    for rule in rules.values():
        assert (rule["scope"], rule["severity"], rule["enabled"]) == ("", "warning", True)
        assert rule["for_seconds"] == 0
        assert rule["params"]["escalate_to"] == "critical"
        assert rule["params"].items() >= LIFECYCLE_DEFAULTS.items()
    limits = rules["limits"]["params"]
    assert rules["limits"]["kind"] == "threshold"
    assert (limits["low"], limits["high"], limits["deadband_percent"]) == (None, None, 2)
    assert rules["anomaly"]["params"]["threshold"] == 0.8
    assert rules["no_data"]["params"]["intervals"] == 5


async def test_create_and_read_a_rule(client):
    rule = await create(client)
    assert {key: rule[key] for key in ("name", "scope", "kind", "severity")} == {
        key: RULE[key] for key in ("name", "scope", "kind", "severity")
    }
    assert (rule["for_seconds"], rule["enabled"]) == (0, True)
    assert rule["params"] == {
        "low": None,
        "high": 90,
        "deadband": 1.5,
        "deadband_percent": None,
        **LIFECYCLE_DEFAULTS,
        "escalate_to": "critical",  # critical stays critical
    }
    assert (await client.get(f"/alarm-rules/{rule['id']}")).json() == rule
    assert await rule_names(client) == ["limits", "anomaly", "no_data", "oil-too-hot"]


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("rate_of_change", {"max_per_second": 2.5}, {"max_per_second": 2.5}),
        ("anomaly", {"threshold": 1}, {"threshold": 1}),
        ("no_data", {"intervals": 3, "clear_seconds": 0}, {"intervals": 3, "clear_seconds": 0}),
        ("spc", {"rules": ["WE1", "N2"]}, {"rules": ["WE1", "N2"]}),
        ("spc", {}, {"rules": None}),
        ("threshold", {"low": -5}, {"low": -5, "deadband": 0}),
        ("threshold", {"low": 1, "high": 2, "deadband_percent": 50}, {"deadband_percent": 50}),
    ],
)
async def test_each_kind_with_its_params(client, kind, params, expected):
    rule = await create(client, kind=kind, params=params, severity="info", scope="")
    assert rule["params"].items() >= expected.items()
    assert rule["params"]["escalate_to"] == "warning"
    assert rule["scope"] == ""


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"kind": "magic"}, ["kind"]),
        ({"severity": "urgent"}, ["severity"]),
        ({"scope": "Acme/Press"}, ["scope"]),
        ({"name": ""}, ["name"]),
        ({"name": "  "}, ["name"]),
        ({"name": "n" * 101}, ["name"]),
        ({"for_seconds": -1}, ["for_seconds"]),
        ({"enabled": "sometimes"}, ["enabled"]),
        ({"colour": "red"}, ["colour"]),
        ({"params": {"high": 90, "colour": "red"}}, ["params", "colour"]),
        ({"params": {"low": 90, "high": 90}}, ["params", "high"]),
        ({"params": {"high": "hot"}}, ["params", "high"]),
        ({"params": {"high": 90, "deadband": -1}}, ["params", "deadband"]),
        ({"params": {"deadband_percent": 51}}, ["params", "deadband_percent"]),
        ({"params": {"deadband": 1, "deadband_percent": 2}}, ["params", "deadband_percent"]),
        ({"params": {"high": 9, "deadband_percent": 2}}, ["params", "deadband_percent"]),
        ({"params": {"clear_seconds": -1}}, ["params", "clear_seconds"]),
        ({"params": {"escalate_after_seconds": 0}}, ["params", "escalate_after_seconds"]),
        ({"params": {"remind_every_seconds": -5}}, ["params", "remind_every_seconds"]),
        ({"params": {"escalate_to": "urgent"}}, ["params", "escalate_to"]),
        ({"kind": "rate_of_change", "params": {}}, ["params", "max_per_second"]),
        ({"kind": "rate_of_change", "params": {"max_per_second": 0}}, ["params", "max_per_second"]),
        ({"kind": "anomaly", "params": {"threshold": 0}}, ["params", "threshold"]),
        ({"kind": "anomaly", "params": {"threshold": 1.5}}, ["params", "threshold"]),
        ({"kind": "no_data", "params": {"intervals": 0}}, ["params", "intervals"]),
        ({"kind": "no_data", "params": {"intervals": 2.5}}, ["params", "intervals"]),
        ({"kind": "spc", "params": {"rules": ["WE9"]}}, ["params", "rules"]),
        ({"kind": "anomaly", "params": {"high": 90}}, ["params", "high"]),
    ],
)
async def test_invalid_rules_are_422_naming_the_field(client, fields, loc):
    response = await client.post("/alarm-rules", json={**RULE, **fields})
    assert loc in error_locs(assert_problem(response, 422, "validation-error"))
    assert "oil-too-hot" not in await rule_names(client)


async def test_non_finite_numbers_are_422(client):
    head = '{"name": "x", "kind": "threshold", "severity": "info", '
    for tail, loc in [
        ('"params": {"high": NaN}}', ["params", "high"]),
        ('"params": {"low": -Infinity}}', ["params", "low"]),
        ('"params": {"high": 1, "deadband": Infinity}}', ["params", "deadband"]),
        ('"for_seconds": Infinity}', ["for_seconds"]),
    ]:
        response = await client.post(
            "/alarm-rules", content=head + tail, headers={"content-type": "application/json"}
        )
        assert loc in error_locs(assert_problem(response, 422)), tail
    assert "x" not in await rule_names(client)


async def test_duplicate_names_are_409(client):
    await create(client)
    assert_problem(await client.post("/alarm-rules", json=RULE), 409, "already-exists")
    response = await client.post("/alarm-rules", json={**RULE, "name": "limits"})
    assert_problem(response, 409, "already-exists")
    assert (await rule_names(client)).count("oil-too-hot") == 1


async def test_idempotency_key_replays_the_first_response(client):
    headers = {"Idempotency-Key": "rule-1"}
    first = await client.post("/alarm-rules", json=RULE, headers=headers)
    again = await client.post("/alarm-rules", json=RULE, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


async def test_list_pages_with_a_cursor(client):
    for n in range(5):
        await create(client, name=f"rule-{n}")
    walked, cursor = [], None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/alarm-rules", params=params)).json()
        walked += [item["name"] for item in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert walked == ["limits", "anomaly", "no_data"] + [f"rule-{n}" for n in range(5)]


async def test_patch_changes_what_it_names(client):
    rule = await create(client)
    response = await client.patch(
        f"/alarm-rules/{rule['id']}",
        json={"severity": "info", "enabled": False, "for_seconds": 5, "scope": ""},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["severity"], changed["enabled"], changed["for_seconds"]) == ("info", False, 5)
    assert changed["scope"] == "" and changed["name"] == rule["name"]
    assert changed["params"]["high"] == 90 and changed["params"]["escalate_to"] == "warning"
    assert changed["updated_at"] >= rule["updated_at"]

    response = await client.patch(f"/alarm-rules/{rule['id']}", json={"params": {"low": 3}})
    assert response.json()["params"]["low"] == 3
    assert response.json()["params"]["high"] is None  # params are replaced as a whole
    assert (await client.get(f"/alarm-rules/{rule['id']}")).json() == response.json()


async def test_a_built_in_rule_can_be_tuned(client):
    limits = (await client.get("/alarm-rules")).json()["items"][0]
    response = await client.patch(
        f"/alarm-rules/{limits['id']}",
        json={"params": {"deadband_percent": 5, "escalate_to": "info"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["params"]["deadband_percent"] == 5
    assert response.json()["params"]["escalate_to"] == "info"


async def test_invalid_patches_are_refused_and_change_nothing(client):
    rule = await create(client)
    url = f"/alarm-rules/{rule['id']}"
    for body, loc, status in [
        ({"name": None}, ["name"], 422),
        ({"enabled": None}, ["enabled"], 422),
        ({"severity": "urgent"}, ["severity"], 422),
        ({"params": {"low": 5, "high": 1}}, ["params", "high"], 422),
        ({"kind": "rate_of_change"}, ["params", "max_per_second"], 422),
        ({"name": "limits"}, None, 409),
    ]:
        response = await client.patch(url, json=body)
        problem = assert_problem(response, status)
        if loc:
            assert loc in error_locs(problem), body
    assert (await client.get(url)).json() == rule
    changed = await client.patch(
        url, json={"kind": "rate_of_change", "params": {"max_per_second": 1}}
    )
    assert changed.status_code == 200 and changed.json()["kind"] == "rate_of_change"


async def test_unknown_rule_is_404(client):
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"enabled": False}} if method == "PATCH" else {}
        response = await client.request(method, "/alarm-rules/424242", **kwargs)
        assert "424242" in assert_problem(response, 404, "not-found")["detail"]
    assert_problem(await client.get("/alarm-rules/99999999999"), 404)


async def test_delete_keeps_the_rules_alarms(app, client, plant):
    rule = await create(client)
    alarm_id = await insert_alarm(app, plant[OIL], rule=rule["name"], rule_id=rule["id"])
    assert (await client.delete(f"/alarm-rules/{rule['id']}")).status_code == 204
    assert_problem(await client.get(f"/alarm-rules/{rule['id']}"), 404)
    assert_problem(await client.delete(f"/alarm-rules/{rule['id']}"), 404)
    assert "oil-too-hot" not in await rule_names(client)
    alarm = await alarm_row(app, alarm_id)
    assert alarm is not None and alarm.rule_id is None
    assert (await client.get(f"/alarms/{alarm_id}")).json()["rule"] == "oil-too-hot"


async def test_renaming_a_rule_renames_its_alarms_that_are_not_closed(app, client, plant):
    rule = await create(client)
    live = await insert_alarm(app, plant[OIL], rule=rule["name"], rule_id=rule["id"])
    closed = await insert_alarm(
        app, plant[OIL], rule=rule["name"], rule_id=rule["id"], state="closed"
    )
    response = await client.patch(f"/alarm-rules/{rule['id']}", json={"name": "oil-hot"})
    assert response.status_code == 200, response.text
    assert (await client.get(f"/alarms/{live}")).json()["rule"] == "oil-hot"
    assert (await client.get(f"/alarms/{closed}")).json()["rule"] == "oil-too-hot"


def test_rule_params_fills_in_the_defaults_for_the_stage():
    assert rule_params("no_data", {}) == {
        "intervals": 5,
        **LIFECYCLE_DEFAULTS,
        "escalate_to": None,
    }
    assert rule_params("anomaly", {"threshold": 0.7}, "info")["escalate_to"] == "warning"
    assert rule_params("anomaly", None, "critical")["escalate_to"] == "critical"
    assert rule_params("threshold", {"high": 5})["deadband"] == 0
    with pytest.raises(pydantic.ValidationError):
        rule_params("anomaly", {"threshold": 2})
    with pytest.raises(ValueError, match="unknown rule kind"):
        rule_params("magic", {})
