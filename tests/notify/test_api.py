"""The notifications API: channels, subscriptions, deliveries; validation and conventions."""

from __future__ import annotations

from tests.core.helpers import assert_problem, error_locs

HOOK = {"url": "https://example.com/hooks/shopfloor", "secret": "s3cret"}


async def create(api, url: str, body: dict, **headers: str) -> dict:
    response = await api.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_webhook_channel_never_shows_its_secret(api):
    channel = await create(api, "/channels", {"name": "ops", "kind": "webhook", "config": HOOK})
    assert channel["config"] == {"url": HOOK["url"], "secret_set": True}
    assert channel["enabled"] is True
    assert channel["rate_limit"] == {"messages": 10, "window_s": 60.0}
    fetched = (await api.get(f"/channels/{channel['id']}")).json()
    listed = (await api.get("/channels")).json()["items"]
    assert fetched == channel and listed == [channel]
    assert "s3cret" not in str(fetched) + str(listed)


async def test_patching_a_webhook_keeps_its_secret_unless_told(api):
    channel = await create(api, "/channels", {"name": "ops", "kind": "webhook", "config": HOOK})
    url = f"/channels/{channel['id']}"
    # A config sent back as it was read (secret_set, no secret) keeps the secret.
    moved = {"url": "https://example.com/new", "secret_set": True}
    response = await api.patch(url, json={"config": moved, "enabled": False})
    assert response.status_code == 200, response.text
    assert response.json()["config"] == {"url": "https://example.com/new", "secret_set": True}
    assert response.json()["enabled"] is False
    response = await api.patch(url, json={"config": {"url": HOOK["url"], "secret": None}})
    assert response.json()["config"]["secret_set"] is False
    response = await api.patch(url, json={"rate_limit": {"messages": 3, "window_s": 10}})
    assert response.json()["rate_limit"] == {"messages": 3, "window_s": 10.0}
    response = await api.patch(url, json={"rate_limit": {"messages": 5}})
    assert response.json()["rate_limit"] == {"messages": 5, "window_s": 10.0}
    assert_problem(await api.patch(url, json={"rate_limit": {"messages": 0}}), 422)


async def test_channel_configs_are_checked_per_kind(api):
    cases = [
        ("webhook", {"url": "ftp://example.com/x"}, ["config", "url"]),
        ("webhook", {"url": "not a url"}, ["config", "url"]),
        ("webhook", {}, ["config", "url"]),
        (
            "webhook",
            {"url": "https://example.com", "template": "{{ alarm.path }}"},
            ["config", "template"],
        ),
        ("slack", {"url": "https://"}, ["config", "url"]),
        ("email", {"to": ["ops@example.com", "not-an-address"]}, ["config", "to"]),
        ("email", {"to": []}, ["config", "to"]),
        ("email", {"to": ["a@example.com"], "template": "{% for x in %}"}, ["config", "template"]),
        ("email", {"to": ["a@example.com"], "subject": "{{ alarm.nope }}"}, ["config", "subject"]),
        (
            "slack",
            {"url": "https://example.com", "template": "{{ x | nofilter }}"},
            ["config", "template"],
        ),
    ]
    for kind, config, loc in cases:
        response = await api.post("/channels", json={"name": "c", "kind": kind, "config": config})
        body = assert_problem(response, 422, None)
        assert loc in error_locs(body), (kind, config, body)
    response = await api.post("/channels", json={"name": "", "kind": "pager", "config": {}})
    assert sorted(error_locs(assert_problem(response, 422))) == [["kind"], ["name"]]
    assert (await api.get("/channels")).json()["items"] == []


async def test_a_template_error_names_its_line(api):
    template = "line one\n{{ alarm.path }\n"
    body = {
        "name": "c",
        "kind": "slack",
        "config": {"url": "https://x.example", "template": template},
    }
    problem = assert_problem(await api.post("/channels", json=body), 422)
    assert "line 2" in problem["errors"][0]["msg"]


async def test_channel_names_are_unique_and_unknown_ids_are_404(api):
    await create(api, "/channels", {"name": "ops", "kind": "webhook", "config": HOOK})
    response = await api.post("/channels", json={"name": "ops", "kind": "webhook", "config": HOOK})
    assert_problem(response, 409, "already-exists")
    for method, url in [
        ("GET", "/channels/999"),
        ("PATCH", "/channels/999"),
        ("DELETE", "/channels/999"),
        ("GET", "/channels/99999999999"),
        ("GET", "/subscriptions/999"),
        ("PATCH", "/subscriptions/999"),
        ("DELETE", "/subscriptions/999"),
        ("GET", "/deliveries/999"),
        ("GET", "/deliveries/99999999999"),
    ]:
        response = await api.request(method, url, json={} if method == "PATCH" else None)
        assert_problem(response, 404, "not-found")


async def test_subscriptions_are_validated(api):
    channel = await create(api, "/channels", {"name": "ops", "kind": "webhook", "config": HOOK})
    response = await api.post("/subscriptions", json={"channel_id": 4242, "scope": "acme"})
    assert error_locs(assert_problem(response, 422)) == [["channel_id"]]
    bad = {
        "channel_id": channel["id"],
        "scope": "Acme/Line 1",
        "min_severity": "fatal",
        "events": ["alarm.exploded"],
        "quiet_hours": {"start": "25:00", "end": "06:00", "timezone": "Mars/Olympus"},
    }
    body = assert_problem(await api.post("/subscriptions", json=bad), 422)
    assert sorted(error_locs(body)) == [
        ["events", 0],
        ["min_severity"],
        ["quiet_hours", "start"],
        ["quiet_hours", "timezone"],
        ["scope"],
    ]
    same = {
        "channel_id": channel["id"],
        "scope": "acme",
        "quiet_hours": {"start": "22:00", "end": "22:00", "timezone": "UTC"},
    }
    assert error_locs(assert_problem(await api.post("/subscriptions", json=same), 422)) == [
        ["quiet_hours", "end"]
    ]
    empty = {"channel_id": channel["id"], "scope": "acme", "events": []}
    assert error_locs(assert_problem(await api.post("/subscriptions", json=empty), 422)) == [
        ["events"]
    ]


async def test_subscription_lifecycle(api):
    channel = await create(api, "/channels", {"name": "ops", "kind": "webhook", "config": HOOK})
    quiet = {"start": "22:00", "end": "06:00", "timezone": "Europe/Berlin"}
    sub = await create(
        api,
        "/subscriptions",
        {"channel_id": channel["id"], "scope": "acme/press-line", "quiet_hours": quiet},
    )
    assert sub["min_severity"] == "info"
    assert sub["events"] == [
        "alarm.opened",
        "alarm.escalated",
        "alarm.acknowledged",
        "alarm.resolved",
    ]
    assert sub["quiet_hours"] == quiet
    url = f"/subscriptions/{sub['id']}"
    response = await api.patch(url, json={"min_severity": "critical", "quiet_hours": None})
    assert response.status_code == 200, response.text
    assert response.json()["min_severity"] == "critical"
    assert response.json()["quiet_hours"] is None
    whole_plant = await create(api, "/subscriptions", {"channel_id": channel["id"], "scope": ""})
    listed = (await api.get("/subscriptions", params={"channel_id": channel["id"]})).json()
    assert [s["id"] for s in listed["items"]] == [sub["id"], whole_plant["id"]]
    # Deleting the channel takes its subscriptions along.
    assert (await api.delete(f"/channels/{channel['id']}")).status_code == 204
    assert_problem(await api.get(url), 404)
    assert (await api.get("/subscriptions")).json()["items"] == []


async def test_creates_honour_idempotency_keys(api):
    body = {"name": "ops", "kind": "webhook", "config": HOOK}
    first = await create(api, "/channels", body, **{"Idempotency-Key": "chan-1"})
    again = await api.post("/channels", json=body, headers={"Idempotency-Key": "chan-1"})
    assert again.status_code == 201 and again.json() == first
    assert again.headers["idempotent-replayed"] == "true"
    sub = {"channel_id": first["id"], "scope": "acme"}
    one = await create(api, "/subscriptions", sub, **{"Idempotency-Key": "sub-1"})
    two = await api.post("/subscriptions", json=sub, headers={"Idempotency-Key": "sub-1"})
    assert two.json() == one
    assert len((await api.get("/subscriptions")).json()["items"]) == 1


async def test_lists_page_with_cursors_and_check_filters(api):
    for n in range(5):
        await create(api, "/channels", {"name": f"c{n}", "kind": "webhook", "config": HOOK})
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/channels", params=params)).json()
        seen += [item["name"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ["c0", "c1", "c2", "c3", "c4"]
    assert_problem(await api.get("/deliveries", params={"status": "lost"}), 422)
    assert_problem(await api.get("/deliveries", params={"channel_id": 0}), 422)
    assert_problem(await api.get("/deliveries", params={"cursor": "nope!"}), 400)
    assert (await api.get("/deliveries", params={"status": "dead"})).json() == {
        "items": [],
        "next_cursor": None,
    }
