"""A rider's needs (guide dog, wheelchair, help boarding, tell me my stop): accepted by
``POST /v1/reservations`` and by the review page's checkboxes, stored on the reservation,
and carried to the driver in the DriverAlert through the real broker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from broker_config.messages import RiderNeed, VehicleStopStatus
from broker_config.topics import Topics
from rider_api.models import Reservation
from rider_api.models.reservations import needs_column, needs_from_column
from tests.conftest import ConnectFn
from tests.rider_api.conftest import ApiServer
from tests.rider_api.test_dispatch_scenarios import make_bus, next_alert, wait_status
from tests.rider_api.test_web_app import assert_accessible, signed_in, tab_to

BOOKING = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}


async def _stored(api: ApiServer, reservation_id: str) -> str | None:
    async with api.state.sessions() as session:
        res = await session.get(Reservation, uuid.UUID(reservation_id))
        assert res is not None
        return res.needs


async def _post(api: ApiServer, rider: dict[str, Any], **body: Any) -> Any:
    return await api.client.post(
        "/v1/reservations", json={**BOOKING, **body}, headers=rider["headers"]
    )


def test_stored_form_is_one_order_once_each_and_skips_unknown_codes() -> None:
    chosen = [RiderNeed.TELL_MY_STOP, RiderNeed.GUIDE_DOG, RiderNeed.GUIDE_DOG]
    assert needs_column(chosen) == "guide_dog,tell_my_stop"
    assert needs_column([]) is None
    assert needs_from_column("guide_dog,jetpack,tell_my_stop") == (
        RiderNeed.GUIDE_DOG,
        RiderNeed.TELL_MY_STOP,
    )
    assert needs_from_column(None) == ()


async def test_needs_are_accepted_stored_and_shown(api: ApiServer) -> None:
    rider = await api.rider()
    r = await _post(api, rider, needs=["help_boarding", "guide_dog", "help_boarding"])
    assert r.status_code == 201, r.text
    assert r.json()["needs"] == ["guide_dog", "help_boarding"]
    rid = r.json()["id"]
    assert await _stored(api, rid) == "guide_dog,help_boarding"
    again = await api.client.get(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert again.json()["needs"] == ["guide_dog", "help_boarding"]

    # Optional: a v1 client that never heard of it books as before.
    other = await api.rider("Lin")
    plain = await _post(api, other)
    assert plain.status_code == 201, plain.text
    assert plain.json()["needs"] == []
    assert await _stored(api, plain.json()["id"]) is None


@pytest.mark.parametrize("needs", [["jetpack"], ["guide_dog", "GUIDE_DOG"], "guide_dog", [1]])
async def test_an_unknown_need_is_a_422_and_books_nothing(api: ApiServer, needs: Any) -> None:
    rider = await api.rider()
    r = await _post(api, rider, needs=needs)
    assert r.status_code == 422, r.text
    mine = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert mine.json() == []


async def test_idempotency_key_sees_needs_as_part_of_the_body(api: ApiServer) -> None:
    rider = await api.rider()
    key = {"Idempotency-Key": "needs-1", **rider["headers"]}
    first = await api.client.post(
        "/v1/reservations", json={**BOOKING, "needs": ["wheelchair"]}, headers=key
    )
    assert first.status_code == 201, first.text
    replay = await api.client.post(
        "/v1/reservations", json={**BOOKING, "needs": ["wheelchair"]}, headers=key
    )
    assert (replay.status_code, replay.json()["id"]) == (201, first.json()["id"])
    other = await api.client.post("/v1/reservations", json=BOOKING, headers=key)
    assert other.status_code == 422, other.text
    # A body without needs replays with or without an empty list (one meaning).
    key2 = {"Idempotency-Key": "needs-2", **rider["headers"]}
    booked = await api.client.post(
        "/v1/reservations", json={**BOOKING, "stop_id": "S3"}, headers=key2
    )
    assert booked.status_code == 201, booked.text
    same = await api.client.post(
        "/v1/reservations", json={**BOOKING, "stop_id": "S3", "needs": []}, headers=key2
    )
    assert (same.status_code, same.json()["id"]) == (201, booked.json()["id"])


async def test_needs_route_and_destination_reach_the_driver(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", VehicleStopStatus.IN_TRANSIT_TO)
    rider = await api.rider()
    r = await _post(
        api,
        rider,
        stop_id="S3",
        destination_stop_id="S4",
        needs=["wheelchair", "tell_my_stop"],
        note="guide dog too",
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    await wait_status(api, rider, rid, "assigned")
    alert = await next_alert(bus)
    assert alert is not None
    assert alert.kind == "pickup"
    assert alert.needs == (RiderNeed.WHEELCHAIR, RiderNeed.TELL_MY_STOP)
    assert alert.note == "guide dog too"
    assert alert.route_name is not None
    assert alert.route_name.en == "307"
    assert alert.headsign is not None
    assert (alert.headsign.en, alert.headsign.zh_tw) == ("Fuyuan St.", "撫遠街")
    assert alert.destination_name is not None
    assert alert.destination_name.en == "Stop S4"
    assert alert.previous_stop_name is not None
    assert alert.previous_stop_name.en == "Stop S2"


@pytest.mark.timeout(120)
@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "zh-TW"])
async def test_review_page_needs_by_keyboard_and_axe_clean(
    api: ApiServer, browser: Browser, language: str
) -> None:
    context, rider = await signed_in(browser, api, language)
    page = await context.new_page()
    await page.goto(f"{api.base_url}/book?stop=S1&choice=R1:0")
    legend = page.locator("fieldset.needs legend")
    await expect(legend).to_have_text(
        "What the driver should know (optional)"
        if language == "en"
        else "需要司機協助的事（可不選）"
    )
    boxes = page.locator("fieldset.needs input[type=checkbox]")
    await expect(boxes).to_have_count(len(RiderNeed))
    # Each checkbox has its words as its name (a screen reader reads them).
    name = "I travel with a guide dog" if language == "en" else "我帶著導盲犬"
    await expect(page.get_by_role("checkbox", name=name)).to_have_count(1)
    await assert_accessible(page, f"review page ({language})")

    await tab_to(page, "#need-guide_dog")
    await page.keyboard.press("Space")
    await tab_to(page, "#need-help_boarding")
    await page.keyboard.press("Space")
    await tab_to(page, "#confirm")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/trip/**")
    mine = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert [r["needs"] for r in mine.json()] == [["guide_dog", "help_boarding"]]
    await context.close()


async def test_form_with_an_unknown_need_says_so_and_keeps_the_choice(api: ApiServer) -> None:
    rider = await api.rider(language="en")
    as_rider = {
        "Origin": api.base_url,
        "Sec-Fetch-Site": "same-origin",
        "Cookie": f"bushail_token={rider['token']}; bushail_lang=en",
    }
    form = {"stop": "S1", "choice": "R1:0", "needs": ["wheelchair", "jetpack"]}
    r = await api.client.post("/book", data=form, headers=as_rider)
    assert r.status_code == 422, r.text
    assert 'href="#need-guide_dog"' in r.text
    assert "Choose what you need from the list." in r.text
    assert 'id="need-wheelchair" name="needs" value="wheelchair" checked' in r.text
    mine = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert mine.json() == []

    form["needs"] = ["tell_my_stop"]
    r = await api.client.post("/book", data=form, headers=as_rider)
    assert r.status_code == 303, r.text
    mine = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert [b["needs"] for b in mine.json()] == [["tell_my_stop"]]
