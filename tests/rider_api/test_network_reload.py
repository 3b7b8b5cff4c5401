"""A network imported by another process is picked up by the running API."""

from __future__ import annotations

from rider_api.network.importer import import_feed
from tests.rider_api.conftest import ApiServer


async def test_running_api_picks_up_a_new_import(api: ApiServer, database_url: str) -> None:
    rider = await api.rider()
    before = api.state.network.version
    assert "S1" in api.state.network.stops
    assert await api.state.refresh_network() is False  # nothing new yet

    import_feed(database_url, "rider_api/data/taipei_demo")  # as `bushail-api network import`

    assert await api.state.refresh_network() is True
    assert api.state.network.version != before
    assert "S1" not in api.state.network.stops
    assert api.state.dispatcher is not None
    assert api.state.dispatcher.fleet.network is api.state.network
    stop_id, (route_id, direction_id) = next(
        (d.stop_ids[0], key) for key, d in api.state.network.directions.items()
    )
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": stop_id, "route_id": route_id, "direction_id": direction_id},
        headers=rider["headers"],
    )
    assert r.status_code == 201, r.text
    old = await api.client.post(
        "/v1/reservations",
        json={"stop_id": "S2", "route_id": "R1", "direction_id": 0},
        headers=rider["headers"],
    )
    assert old.status_code == 404


async def test_route_names_in_english_come_from_the_feed(api: ApiServer, database_url: str) -> None:
    import_feed(database_url, "rider_api/data/taipei_demo")
    await api.state.refresh_network()
    red30 = api.state.network.routes["R30"].display_name
    assert (red30.zh_tw, red30.en) == ("紅30", "Red 30")
    plain = api.state.network.routes["307"].display_name
    assert (plain.zh_tw, plain.en) == ("307", "307")
