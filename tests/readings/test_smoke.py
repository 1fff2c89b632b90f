async def test_post_and_read_back(client, plant):
    path = "acme/press-line/press-1/oil-temp"
    response = await client.post(
        "/readings", json={"readings": [{"sensor": path, "ts": 1_700_000_000, "value": 42.5}]}
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    items = (await client.get(f"/sensors/{plant[path]}/readings")).json()["items"]
    assert items == [{"ts": "2023-11-14T22:13:20Z", "value": 42.5}]
