"""Web Push end to end: the server encrypts, signs and sends to a push service on
127.0.0.1 run by the test, which reads every request as a browser would (its own P-256
key pair and auth secret) and checks the VAPID signature."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import stat
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import FastAPI, Request, Response

from broker_config.messages import DriverEventType, Localized, ReservationStatus, utcnow
from broker_config.topics import Topics
from rider_api.app import create_app, running
from rider_api.db.unit_of_work import ChangeSet
from rider_api.models import Reservation, Rider
from rider_api.models.push import PushSubscriptionCreate
from rider_api.network.view import NetworkView
from rider_api.push.notices import Notice, NoticeKind, notices_for
from rider_api.push.subscriptions import save_subscription
from rider_api.push.texts import notification
from rider_api.push.vapid import VapidKey
from rider_api.reservations.lifecycle import Trigger
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from tests.conftest import ConnectFn
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer
from tests.rider_api.test_dispatch_scenarios import STATUS, make_bus, wait_status
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

SUBJECT = "mailto:push-test@bushail.example"
PUSH = {"push_allow_loopback_http": True, "push_vapid_subject": SUBJECT}


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Delivery:
    name: str
    headers: dict[str, str]
    body: bytes


class PushService:
    """A push service on 127.0.0.1: answers 201 (or ``answers[name]``) and keeps every
    request in ``received``; ``hold`` (cleared) makes it answer only once set."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[Delivery] = asyncio.Queue()
        self.answers: dict[str, int] = {}
        self.hold = asyncio.Event()
        self.hold.set()
        self.url = ""
        app = FastAPI()

        @app.post("/push/{name}")
        async def push(name: str, request: Request) -> Response:
            body = await request.body()
            self.received.put_nowait(Delivery(name, dict(request.headers), body))
            await self.hold.wait()
            return Response(status_code=self.answers.get(name, 201))

        self.app = app

    def endpoint(self, name: str) -> str:
        return f"{self.url}/push/{name}"


@asynccontextmanager
async def running_push_service() -> AsyncIterator[PushService]:
    service = PushService()
    async with InProcessServer(service.app) as server:
        service.url = server.url
        try:
            yield service
        finally:
            service.hold.set()


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    async with running_push_service() as service:
        yield service


@dataclass
class Browser:
    """What a browser keeps for one subscription: its key pair and auth secret."""

    endpoint: str
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: uuid.uuid4().bytes)

    def subscription(self) -> dict[str, Any]:
        """``PushSubscription.toJSON()``."""
        point = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64e(point), "auth": b64e(self.auth)},
        }

    def read(self, delivery: Delivery) -> dict[str, Any]:
        """Decrypt as the browser does (RFC 8291, aes128gcm)."""
        assert delivery.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            delivery.body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"
        )
        data: dict[str, Any] = json.loads(plain)
        return data


def check_vapid(delivery: Delivery, *, endpoint: str, public_key: str) -> dict[str, Any]:
    """The VAPID header (RFC 8292): our key, a valid ES256 signature, aud = origin."""
    scheme, _, params = delivery.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key
    signing_input, signature = parts["t"].rsplit(".", 1)
    header_b64, claims_b64 = signing_input.split(".")
    assert json.loads(b64d(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    raw = b64d(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(parts["k"]))
    key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    claims: dict[str, Any] = json.loads(b64d(claims_b64))
    origin = endpoint.split("/push/")[0]
    assert claims["aud"] == origin
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims


def problem(response: Any) -> str:
    """The stable code of a problem+json answer."""
    code: str = response.json()["type"].rsplit("/", 1)[1]
    return code


async def subscribe(api: ApiServer, rider: dict[str, Any], browser: Browser) -> None:
    r = await api.client.post(
        "/v1/push/subscriptions", json=browser.subscription(), headers=rider["headers"]
    )
    assert r.status_code == 201, r.text


async def next_delivery(service: PushService, timeout: float = 10.0) -> Delivery:
    return await asyncio.wait_for(service.received.get(), timeout)


async def settled(api: ApiServer) -> None:
    """Every notice offered so far has been handled by the sender."""
    assert api.state.push is not None
    await asyncio.wait_for(api.state.push.sender.idle(), 15)


async def book(api: ApiServer, rider: dict[str, Any], stop: str = "S3") -> str:
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": stop, "route_id": "R1", "direction_id": 0},
        headers=rider["headers"],
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def apply(api: ApiServer, rid: str, trigger: Trigger, **kw: Any) -> None:
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, uuid.UUID(rid))
        assert res is not None
        api.state.changes.apply(uow, res, trigger, "test", **kw)


async def refresh(api: ApiServer, rid: str, eta_s: int | None) -> None:
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, uuid.UUID(rid))
        assert res is not None
        res.eta_s = eta_s
        api.state.changes.refresh(uow, res)


async def eta_of(api: ApiServer, rider: dict[str, Any], rid: str) -> int:
    r = await api.client.get(f"/v1/reservations/{rid}", headers=rider["headers"])
    eta: int = r.json()["eta_s"]
    return eta


# -- the whole pipeline ---------------------------------------------------------------------
async def test_a_journey_is_notified_in_english_and_nothing_after_it_ends(
    make_api: ApiFactory, push_service: PushService, connect: ConnectFn, topics: Topics
) -> None:
    api = await make_api(**PUSH)
    rider = await api.rider("Ann", language="en")
    browser = Browser(push_service.endpoint("ann"))
    await subscribe(api, rider, browser)
    key = (await api.client.get("/v1/push/key", headers=rider["headers"])).json()["public_key"]
    assert len(b64d(key)) == 65

    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    await wait_fleet(api, "V1")
    rid = await book(api, rider)

    first = await next_delivery(push_service)
    assert first.name == "ann"
    check_vapid(first, endpoint=browser.endpoint, public_key=key)
    assert first.headers["ttl"] == "600"
    assert first.headers["urgency"] == "normal"
    assert first.headers["topic"] == uuid.UUID(rid).hex
    eta = await eta_of(api, rider, rid)
    minutes = -(-eta // 60)
    assert minutes > 3
    assert browser.read(first) == {
        "v": 1,
        "kind": "assigned",
        "title": "Bus 307 is on its way",
        "body": f"Bus 307 to Fuyuan St. will pick you up at Stop S3. "
        f"It is about {minutes} minutes away.",
        "lang": "en",
        "tag": f"trip-{rid}",
        "vibrate": [200, 100, 200],
        "renotify": True,
        "silent": False,
        "requireInteraction": False,
        "url": f"/trip/{rid}",
    }

    await bus.at("S2", STATUS.IN_TRANSIT_TO)  # one stop before, still moving: ETA < 3 min
    near = browser.read(await next_delivery(push_service))
    eta = await eta_of(api, rider, rid)
    assert 60 <= eta <= 180
    minutes = -(-eta // 60)
    assert near["kind"] == "near"
    assert near["title"] == f"Bus 307 is about {minutes} minutes away"
    assert near["body"] == f"Bus 307 to Fuyuan St. is about {minutes} minutes from Stop S3."
    assert near["vibrate"] == [200, 100, 200, 100, 200]
    await refresh(api, rid, 90)  # a later ETA: already told, no second "near"

    await bus.at("S2", STATUS.STOPPED_AT)
    arriving = await next_delivery(push_service)
    assert arriving.headers["urgency"] == "high"
    assert browser.read(arriving)["title"] == "Bus 307 is arriving"
    await bus.at("S3", STATUS.STOPPED_AT)
    at_stop = browser.read(await next_delivery(push_service))
    assert at_stop["title"] == "Bus 307 is at your stop"
    assert at_stop["body"] == (
        "Bus 307 to Fuyuan St. is at Stop S3 now. The driver is waiting for you."
    )
    assert at_stop["vibrate"] == [800, 200, 800, 200, 800]
    assert at_stop["requireInteraction"] is True

    r = await api.client.delete(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert r.status_code == 200, r.text
    cancelled = browser.read(await next_delivery(push_service))
    assert cancelled["kind"] == "cancelled"
    assert cancelled["title"] == "Booking cancelled"
    assert cancelled["body"] == "Your booking for bus 307 to Fuyuan St. at Stop S3 is cancelled."
    assert cancelled["vibrate"] == [1000]
    assert cancelled["tag"] == f"trip-{rid}"

    # The trip has ended: whatever touches it now, nothing more is sent.
    await refresh(api, rid, 30)
    await bus.at("S4", STATUS.STOPPED_AT)
    await settled(api)
    assert push_service.received.empty()
    assert api.state.push is not None
    sender = api.state.push.sender
    assert (sender.sent, sender.failed, sender.dropped) == (5, 0, 0)


async def test_turning_on_after_booking_hears_the_next_change_at_once(
    make_api: ApiFactory, push_service: PushService, connect: ConnectFn, topics: Topics
) -> None:
    """A rider without a subscription is not looked up for every change (a booking would
    pay a query each time), but one who turns notifications on is heard from then on."""
    api = await make_api(**PUSH)
    rider = await api.rider("Ann", language="en")
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    await wait_fleet(api, "V1")
    rid = await book(api, rider)  # assigned at once; no subscription yet: heard by nobody
    await settled(api)
    assert api.state.push is not None
    assert api.state.push.sender.sent == 0
    browser = Browser(push_service.endpoint("ann"))
    await subscribe(api, rider, browser)
    r = await api.client.delete(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert r.status_code == 200, r.text
    assert browser.read(await next_delivery(push_service))["kind"] == "cancelled"


async def test_a_subscription_stored_by_another_instance_is_heard_after_the_next_read(
    make_api: ApiFactory, push_service: PushService
) -> None:
    """Riders without a subscription cost no query: their notices are not even queued.
    One stored through another instance (straight into the database here) is heard from
    the next read of the subscribed riders on (every few seconds)."""
    api = await make_api(**PUSH)
    rider = await api.rider("Bo", language="en")
    assert api.state.push is not None
    sender = api.state.push.sender
    await sender.read_subscribers()
    name = Localized.model_validate({"zh-TW": "站", "en": "Stop"})
    notice = Notice(
        NoticeKind.ASSIGNED, uuid.uuid4(), uuid.UUID(rider["rider_id"]), name, name, name, None
    )
    assert not sender.offer(notice), "nobody to tell: not queued"
    async with api.state.sessions() as session:
        stored = await session.get(Rider, uuid.UUID(rider["rider_id"]))
    assert stored is not None
    body = PushSubscriptionCreate.model_validate(
        Browser(push_service.endpoint("bo")).subscription()
    )
    await save_subscription(
        api.state.unit_of_work, settings=api.state.settings, rider=stored, body=body
    )
    assert not sender.offer(notice), "not read yet"
    await sender.read_subscribers()
    assert sender.offer(notice)
    await settled(api)
    assert sender.sent == 1


async def test_a_miss_and_the_next_bus_in_chinese_then_a_no_show(
    make_api: ApiFactory, push_service: PushService, connect: ConnectFn, topics: Topics
) -> None:
    api = await make_api(**PUSH)
    rider = await api.rider("美", language="zh-TW")
    browser = Browser(push_service.endpoint("mei"))
    await subscribe(api, rider, browser)
    first, second = await make_bus(connect, topics, "V1"), await make_bus(connect, topics, "V2")
    await first.at("S1", STATUS.STOPPED_AT)
    await wait_fleet(api, "V1")
    rid = await book(api, rider, stop="S2")
    assigned = browser.read(await next_delivery(push_service))
    assert assigned["title"] == "已為你派 307 公車"
    assert assigned["body"].startswith("往撫遠街的 307 公車會在站S2接你。大約 ")
    assert assigned["lang"] == "zh-Hant-TW"

    await second.at("S1", STATUS.IN_TRANSIT_TO)
    await wait_fleet(api, "V2")
    await first.at("S3", STATUS.IN_TRANSIT_TO)  # drove past S2 without a boarding
    reassigned = browser.read(await next_delivery(push_service))
    assert reassigned["kind"] == "reassigned"
    assert reassigned["title"] == "下一班 307 公車會來接你"
    assert reassigned["body"].startswith(
        "上一班車沒有接到你。往撫遠街的下一班 307 公車會在站S2接你。"
    )
    assert reassigned["vibrate"] == [150, 75, 150, 75, 150, 75, 150]

    await second.at("S2", STATUS.STOPPED_AT)
    at_stop = browser.read(await next_delivery(push_service))
    assert at_stop["title"] == "307 公車已到站"
    assert at_stop["body"] == "往撫遠街的 307 公車已經停在站S2，司機正在等你上車。"
    await wait_status(api, rider, rid, "at_stop")
    await second.tap(rid, DriverEventType.NO_SHOW)
    ended = browser.read(await next_delivery(push_service))
    assert ended["kind"] == "no_show"
    assert ended["title"] == "預約已結束"
    assert ended["body"] == (
        "307 公車的司機在站S2沒有看到你上車，預約已結束。如果還需要搭車，請再預約一次。"
    )
    await second.at("S3", STATUS.STOPPED_AT)
    await settled(api)
    assert push_service.received.empty()


async def wait_fleet(api: ApiServer, vehicle_id: str) -> None:
    """Positions are QoS 0: there is no acknowledgement to await."""
    fleet = api.state.dispatcher.fleet
    await eventually(lambda: vehicle_id in fleet.vehicles, what=f"{vehicle_id} in the fleet")


async def test_a_gone_browser_is_pruned_and_the_others_still_served(
    make_api: ApiFactory, push_service: PushService
) -> None:
    api = await make_api(**PUSH)
    rider = await api.rider("Bo", language="en")
    phone, laptop = Browser(push_service.endpoint("phone")), Browser(push_service.endpoint("old"))
    await subscribe(api, rider, phone)
    await subscribe(api, rider, laptop)
    push_service.answers["old"] = 410  # the laptop's browser unsubscribed
    rid = await book(api, rider, stop="S2")
    await apply(api, rid, Trigger.ASSIGN, vehicle_id="V9")
    got = {
        d.name: d for d in [await next_delivery(push_service), await next_delivery(push_service)]
    }
    assert set(got) == {"phone", "old"}
    await settled(api)
    listed = (await api.client.get("/v1/push/subscriptions", headers=rider["headers"])).json()
    assert [s["endpoint"] for s in listed] == [phone.endpoint]
    assert api.state.push is not None
    assert api.state.push.sender.pruned == 1

    await apply(api, rid, Trigger.CANCEL)
    only = await next_delivery(push_service)
    assert only.name == "phone"
    assert phone.read(only)["kind"] == "cancelled"
    await settled(api)
    assert push_service.received.empty()


async def test_another_riders_trips_never_notify_you(
    make_api: ApiFactory, push_service: PushService
) -> None:
    api = await make_api(**PUSH)
    ann, bo = await api.rider("Ann", language="en"), await api.rider("Bo", language="en")
    anns, bos = Browser(push_service.endpoint("ann")), Browser(push_service.endpoint("bo"))
    await subscribe(api, ann, anns)
    await subscribe(api, bo, bos)
    rid = await book(api, bo, stop="S2")
    await apply(api, rid, Trigger.ASSIGN, vehicle_id="V9")
    await apply(api, rid, Trigger.CANCEL)
    assert [(await next_delivery(push_service)).name for _ in range(2)] == ["bo", "bo"]
    # Ann cannot remove Bo's subscription (and cannot tell it exists).
    r = await api.client.request(
        "DELETE", "/v1/push/subscriptions", json={"endpoint": bos.endpoint}, headers=ann["headers"]
    )
    assert r.status_code == 204
    assert len((await api.client.get("/v1/push/subscriptions", headers=bo["headers"])).json()) == 1
    # Ann's browser is Bo's now (he signed in on it): Ann's trips no longer reach it.
    await subscribe(api, bo, anns)
    assert (await api.client.get("/v1/push/subscriptions", headers=ann["headers"])).json() == []
    rid = await book(api, ann, stop="S2")
    await apply(api, rid, Trigger.ASSIGN, vehicle_id="V9")
    await settled(api)
    assert push_service.received.empty()
    # Turned off: Bo's own trips stop reaching that browser too.
    r = await api.client.request(
        "DELETE", "/v1/push/subscriptions", json={"endpoint": anns.endpoint}, headers=bo["headers"]
    )
    assert r.status_code == 204
    rid = await book(api, bo, stop="S3")
    await apply(api, rid, Trigger.ASSIGN, vehicle_id="V9")
    assert (await next_delivery(push_service)).name == "bo"
    await settled(api)
    assert push_service.received.empty()


def _bad(**change: Any) -> dict[str, Any]:
    good = Browser("https://fcm.googleapis.com/fcm/send/abc123").subscription()
    keys = {**good["keys"], **change.pop("keys", {})}
    return {**good, **change, "keys": keys}


_POINT = Browser("https://x.invalid").subscription()["keys"]["p256dh"]


BAD_SUBSCRIPTIONS: list[tuple[dict[str, Any], str | None]] = [
    (_bad(endpoint="http://fcm.googleapis.com/fcm/send/abc"), "push-endpoint-refused"),
    (_bad(endpoint="http://10.0.0.7/push/abc"), "push-endpoint-refused"),
    (_bad(endpoint="https://evil.example/push/abc"), "push-endpoint-refused"),
    (_bad(endpoint="https://fcm.googleapis.com.evil.example/x"), "push-endpoint-refused"),
    (_bad(endpoint="https://user@fcm.googleapis.com/fcm/send/a"), "push-endpoint-refused"),
    (_bad(endpoint="ftp://fcm.googleapis.com/fcm/send/abc"), "push-endpoint-refused"),
    (_bad(endpoint="javascript:alert(1)"), "push-endpoint-refused"),
    (_bad(endpoint="https://fcm.googleapis.com/" + "a" * 1100), None),
    (_bad(keys={"p256dh": "A" * 87}), "push-keys-refused"),  # not on the curve
    (_bad(keys={"p256dh": _POINT[:40]}), None),
    (_bad(keys={"p256dh": "*" * 87}), None),
    (_bad(keys={"auth": b64e(b"x" * 12)}), "push-keys-refused"),
    (_bad(keys={"auth": "A" * 40}), None),
    ({"endpoint": "https://fcm.googleapis.com/fcm/send/a"}, None),
    ("not an object", None),  # type: ignore[list-item]
]


async def test_bad_subscriptions_are_refused(api: ApiServer) -> None:
    rider = await api.rider()
    for body, code in BAD_SUBSCRIPTIONS:
        r = await api.client.post("/v1/push/subscriptions", json=body, headers=rider["headers"])
        assert r.status_code == 422, (body, r.text)
        if code is not None:
            assert problem(r) == code, body
    assert (await api.client.get("/v1/push/subscriptions", headers=rider["headers"])).json() == []


async def test_who_may_subscribe_and_how_many(api: ApiServer) -> None:
    body = _bad()
    assert (await api.client.post("/v1/push/subscriptions", json=body)).status_code == 401
    assert (await api.client.get("/v1/push/key")).status_code == 401
    op = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    r = await api.client.post("/v1/push/subscriptions", json=body, headers=op)
    assert r.status_code == 403
    rider = await api.rider()
    # A page of another site cannot subscribe a rider's browser with the cookie.
    cookie = {"Cookie": f"bushail_token={rider['token']}"}
    forged = {**cookie, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    r = await api.client.post("/v1/push/subscriptions", json=body, headers=forged)
    assert r.status_code == 403
    assert problem(r) == "cross-site-request"
    # The rider app's own fetch (same origin, the cookie) is let in.
    own = {**cookie, "Origin": api.base_url, "Sec-Fetch-Site": "same-origin"}
    r = await api.client.post("/v1/push/subscriptions", json=body, headers=own)
    assert r.status_code == 201, r.text
    # Beyond five browsers the oldest goes.
    endpoints = [f"https://fcm.googleapis.com/fcm/send/n{i}" for i in range(6)]
    for endpoint in endpoints:
        r = await api.client.post(
            "/v1/push/subscriptions", json=_bad(endpoint=endpoint), headers=rider["headers"]
        )
        assert r.status_code == 201, r.text
    listed = (await api.client.get("/v1/push/subscriptions", headers=rider["headers"])).json()
    assert sorted(s["endpoint"] for s in listed) == sorted(endpoints[1:])


async def test_the_key_file_is_private_reused_across_restarts_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ApiSettings(state_dir=tmp_path / "state", mqtt_enabled=False)
    keys = []
    for _ in range(2):
        async with running(settings) as state:
            assert state.push is not None
            keys.append(state.push.public_key)
    path = tmp_path / "state" / "vapid_private_key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys[0] == keys[1]
    pem = path.read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    logged = caplog.text
    assert keys[0] in logged  # the public key is shown, to compare with the browsers'
    for secret in (pem.decode().splitlines()[1], b64e(scalar), scalar.hex()):
        assert secret not in logged
    assert b64e(scalar) not in repr(VapidKey.load_or_create(path, subject=SUBJECT))
    # A file made by hand with wider modes is narrowed to owner-only.
    path.chmod(0o644)
    assert VapidKey.load_or_create(path, subject=SUBJECT).public_key == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Turned off: no sender, and the API says so.
    off = ApiSettings(state_dir=tmp_path / "off", mqtt_enabled=False, push_enabled=False)
    app = create_app(off)
    async with InProcessServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        assert server.state.push is None
        assert not (tmp_path / "off" / "vapid_private_key.pem").exists()
        r = await client.post("/v1/riders", json={"display_name": "Di", "language": "en"})
        token = r.json()["token"]
        r = await client.get("/v1/push/key", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404
        assert problem(r) == "push-disabled"


async def test_a_stuck_push_service_costs_a_bounded_queue_and_never_the_commit(
    make_api: ApiFactory, push_service: PushService
) -> None:
    api = await make_api(**PUSH, push_queue_size=4, push_senders=1)
    rider = await api.rider("Cy", language="en")
    await subscribe(api, rider, Browser(push_service.endpoint("cy")))
    push_service.hold.clear()  # the push service takes the request and never answers
    rid = await book(api, rider, stop="S2")
    await apply(api, rid, Trigger.ASSIGN, vehicle_id="V9")
    await next_delivery(push_service)  # the sender is now stuck on it
    assert api.state.push is not None
    sender = api.state.push.sender
    rider_id = uuid.UUID(rider["rider_id"])
    notice = Notice(
        kind=NoticeKind.NEAR,
        reservation_id=uuid.UUID(rid),
        rider_id=rider_id,
        route=Localized.same("307"),
        headsign=Localized.same("Fuyuan St."),
        stop=Localized.same("Stop S2"),
        eta_s=150,
    )
    accepted = [sender.offer(notice) for _ in range(10)]
    assert accepted == [True] * 4 + [False] * 6
    assert (sender.backlog(), sender.dropped) == (4, 6)
    # Commits do not wait for the push service: a booking and a cancel answer at once.
    r = await api.client.delete(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert r.status_code == 200
    assert sender.dropped == 7  # the cancel's notice found the queue full too
    push_service.hold.set()
    await settled(api)
    assert sender.sent == 5
    assert push_service.received.qsize() == 4


# -- the pure parts -------------------------------------------------------------------------
@dataclass
class Known:
    status: ReservationStatus
    vehicle_id: str | None
    eta_s: int | None


def _res(status: ReservationStatus, eta_s: int | None, source: str = "app") -> Reservation:
    return Reservation(
        rider_id=uuid.uuid4(),
        stop_id="S3",
        route_id="R1",
        direction_id=0,
        status=status,
        vehicle_id="V1",
        eta_s=eta_s,
        source=source,
        expires_at=utcnow(),
    )


def _kinds(
    steps: list[ReservationStatus], res: Reservation, before: Known | None, near_s: int = 180
) -> list[str]:
    changes = ChangeSet()
    changes.touched[res.id] = res
    old = ReservationStatus.PENDING
    for new in steps:
        changes.history.append((res, old, new, "test"))
        old = new
    notices = notices_for(changes, before=lambda _id: before, network=_network(), near_s=near_s)
    return [n.kind.value for n in notices]


class _NoNames:
    """A network that knows no names: the rules need none."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.stops: dict[str, Any] = {}

    def direction(self, route_id: str, direction_id: int) -> None:
        return None


def _network() -> NetworkView:
    return cast(NetworkView, _NoNames())


S = ReservationStatus


@pytest.mark.parametrize(
    ("steps", "status", "eta", "before", "expected"),
    [
        ([S.ASSIGNED], S.ASSIGNED, 300, None, ["assigned"]),
        ([S.ACKNOWLEDGED], S.ACKNOWLEDGED, 300, Known(S.ASSIGNED, "V1", 300), []),
        ([], S.ASSIGNED, 170, Known(S.ASSIGNED, "V1", 200), ["near"]),
        ([], S.ACKNOWLEDGED, 170, Known(S.ACKNOWLEDGED, "V1", None), ["near"]),
        ([], S.ASSIGNED, 100, Known(S.ASSIGNED, "V1", 170), []),  # told already
        ([], S.ASSIGNED, 170, Known(S.ASSIGNED, "V2", 400), []),  # another bus's ETA
        ([], S.ASSIGNED, 170, None, []),  # never seen here: better silent than twice
        ([], S.ARRIVING, 100, Known(S.ASSIGNED, "V1", 200), []),
        ([S.ARRIVING], S.ARRIVING, 90, Known(S.ASSIGNED, "V1", 200), ["arriving"]),
        ([S.AT_STOP], S.AT_STOP, 0, None, ["at_stop"]),
        ([S.MISSED, S.PENDING], S.PENDING, None, None, ["missed"]),
        ([S.MISSED], S.MISSED, None, None, ["missed"]),
        ([S.MISSED, S.ASSIGNED], S.ASSIGNED, 200, None, ["reassigned"]),
        ([S.BOARDED, S.COMPLETED], S.COMPLETED, None, None, ["completed"]),
        ([S.BOARDED, S.RIDING], S.RIDING, None, None, []),
        ([S.CANCELLED], S.CANCELLED, None, None, ["cancelled"]),
        ([S.EXPIRED], S.EXPIRED, None, None, ["expired"]),
        ([], S.CANCELLED, 30, Known(S.ASSIGNED, "V1", 300), []),  # ended: nothing more
    ],
)
def test_what_a_change_tells_the_rider(
    steps: list[ReservationStatus],
    status: ReservationStatus,
    eta: int | None,
    before: Known | None,
    expected: list[str],
) -> None:
    assert _kinds(steps, _res(status, eta), before) == expected


def test_a_booking_made_at_the_stop_button_notifies_nobody() -> None:
    assert _kinds([S.ASSIGNED], _res(S.ASSIGNED, 300, source="stop"), None) == []


@pytest.mark.parametrize(
    ("eta", "en", "zh"),
    [
        (
            170,
            "Bus 307 to Fuyuan St. is about 3 minutes from 站S1.",
            "往撫遠街的 307 公車離站S1還有大約 3 分鐘。",
        ),
        (
            60,
            "Bus 307 to Fuyuan St. is about 1 minute from 站S1.",
            "往撫遠街的 307 公車離站S1還有大約 1 分鐘。",
        ),
        (
            40,
            "Bus 307 to Fuyuan St. is less than a minute from 站S1.",
            "往撫遠街的 307 公車離站S1還有不到 1 分鐘。",
        ),
    ],
)
def test_near_is_said_in_words(eta: int, en: str, zh: str) -> None:
    notice = Notice(
        kind=NoticeKind.NEAR,
        reservation_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        route=Localized.same("307"),
        headsign=Localized.model_validate({"zh-TW": "撫遠街", "en": "Fuyuan St."}),
        stop=Localized.same("站S1"),
        eta_s=eta,
    )
    assert notification(notice, "en").body == en
    assert notification(notice, "zh-TW").body == zh
    payload = json.loads(notification(notice, "zh-TW").payload())
    assert payload["lang"] == "zh-Hant-TW"
    assert len(notification(notice, "en").payload()) < 1024
