"""TLS end to end: the generated CA, the broker's TLS listener, clients that verify it, and
the refusal of plain text on a public address."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from broker_config.broker import (
    BrokerSettings,
    ManagedBroker,
    PlaintextListenerError,
    is_loopback,
    render,
)
from broker_config.cli import main
from broker_config.device.speech import TextSpeaker
from broker_config.messages import (
    Localized,
    ReservationStatus,
    StopCall,
    VehiclePosition,
    VehicleStopStatus,
    decode,
    utcnow,
)
from broker_config.registry import DeviceRegistry
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions
from broker_config.tls import (
    TlsFiles,
    certificate_names,
    init_tls,
    issue_server_certificate,
    make_ca,
    write_certificate,
    write_key,
)
from broker_config.topics import Owner, Topics, login_for
from driver_display.display import DriverDisplay
from driver_display.outbox import SqliteOutbox
from driver_display.settings import DisplaySettings
from driver_display.sound_output import RecordingSoundOutput
from rider_api.app import create_app
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings
from tests.conftest import TEST_SERVERS, TEST_STOPS, TEST_VEHICLES, Inbox
from tests.driver_display.factories import until
from tests.rider_api.conftest import COORDS, OPERATOR_TOKEN, ApiServer, seed_network
from tests.rider_api.test_dispatch_scenarios import book, wait_status
from tests.stop_gateway.test_gateway import HeardSink
from tests.support.limits import GENEROUS_LIMITS
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

#: Listening on every interface: what the broker must refuse in plain text.
EVERYWHERE = "0.0.0.0"  # noqa: S104 - rendered or refused here, never bound

REGISTRY = DeviceRegistry(
    stops=set(TEST_STOPS), vehicles=set(TEST_VEHICLES), servers=set(TEST_SERVERS)
)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A broker state dir with the CA and server certificate of ``tls init``."""
    return init_tls(tmp_path / "broker")


@pytest.fixture
async def tls_broker(tls_files: TlsFiles) -> AsyncIterator[ManagedBroker]:
    """A real Mosquitto with a plain listener on loopback and a TLS one, both free ports."""
    settings = BrokerSettings(state_dir=tls_files.folder.parent, port=0, tls_port=0)
    async with ManagedBroker(settings, REGISTRY) as broker:
        yield broker


def _call(stop_id: str = "S1") -> StopCall:
    return StopCall(
        reservation_id=uuid.uuid4(),
        seq=1,
        status=ReservationStatus.ASSIGNED,
        route_id="R1",
        route_name=Localized.model_validate({"zh-TW": "307", "en": "307"}),
        headsign=Localized.model_validate({"zh-TW": "板橋", "en": "Banqiao"}),
        vehicle_id="V1",
        eta_s=120,
        updated_at=utcnow(),
    )


# -- the certificates --------------------------------------------------------------------


def test_tls_init_makes_a_ca_and_a_server_certificate_for_the_brokers_names(
    tmp_path: Path,
) -> None:
    files = init_tls(tmp_path / "state", hosts=["broker.example.org", "192.0.2.10", EVERYWHERE])
    first_ca = files.ca_cert.read_bytes()
    for key in (files.ca_key, files.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    public = server.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    # Loopback always, then the names given; a listen-everywhere address is no name.
    assert sorted(certificate_names(files.server_cert)) == sorted(
        ["127.0.0.1", "::1", "localhost", "192.0.2.10", "broker.example.org"]
    )
    days = (server.not_valid_after_utc - server.not_valid_before_utc).days
    assert 365 <= days <= 825
    assert (ca.not_valid_after_utc - dt.datetime.now(dt.UTC)).days > 5 * 365

    # Again: a new server certificate from the same CA, so clients keep trusting it.
    again = init_tls(tmp_path / "state", hosts=["other.example.org"])
    assert again.ca_cert.read_bytes() == first_ca
    renewed = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    renewed.verify_directly_issued_by(ca)
    assert "other.example.org" in certificate_names(again.server_cert)
    # --new-ca replaces the CA.
    fresh = init_tls(tmp_path / "state", new_ca=True)
    assert fresh.ca_cert.read_bytes() != first_ca


def test_a_malformed_name_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither an IP address nor a DNS name"):
        init_tls(tmp_path / "state", hosts=["bad name/x"])
    assert not (tmp_path / "state" / "tls" / "ca.key").exists()


def test_the_tls_listener_uses_the_generated_certificate(tls_files: TlsFiles) -> None:
    settings = BrokerSettings(state_dir=tls_files.folder.parent, tls_port=18883)
    text = render(settings, REGISTRY, 18830).read_text()
    assert (
        "listener 18883 127.0.0.1\nprotocol mqtt\nuse_username_as_clientid true\n"
        f"certfile {tls_files.server_cert}\nkeyfile {tls_files.server_key}\n"
        "tls_version tlsv1.2\n"
    ) in text
    assert "listener 18830 127.0.0.1\nprotocol mqtt\nuse_username_as_clientid true\n" in text


def test_a_tls_listener_without_a_certificate_says_how_to_make_one(tmp_path: Path) -> None:
    settings = BrokerSettings(state_dir=tmp_path / "state", tls_port=18883)
    with pytest.raises(ValueError, match="bushail-broker tls init"):
        render(settings, REGISTRY, 18830)


def test_cli_tls_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    assert main(["tls", "init", "--state-dir", str(state), "--host", "broker.example.org"]) == 0
    out = capsys.readouterr().out
    files = TlsFiles.in_state(state)
    assert str(files.ca_cert) in out
    assert "broker.example.org" in out
    assert "--tls-port" in out
    assert "broker.example.org" in certificate_names(files.server_cert)


# -- clients over TLS -------------------------------------------------------------------


async def test_sessions_over_tls_verify_the_broker_and_exchange_messages(
    tls_broker: ManagedBroker, topics: Topics, inbox: Inbox
) -> None:
    gateway_end = tls_broker.endpoint("stop.S1", tls=True)
    assert gateway_end.tls
    assert gateway_end.port == tls_broker.tls_port != tls_broker.port
    assert gateway_end.ca_file == str(TlsFiles.in_state(tls_broker.state_dir).ca_cert)
    async with (
        MqttSession(gateway_end, SessionOptions(client_id="stop.S1")) as gateway,
        MqttSession(tls_broker.endpoint("server.api", tls=True)) as server,
    ):
        await gateway.wait_connected(10)
        await server.wait_connected(10)
        await gateway.subscribe(topics.stop_calls_filter("S1"), inbox)
        call = _call()
        await server.publish(topics.stop_call("S1", call.reservation_id), call, retain=True)
        got = await inbox.get()
        assert decode(StopCall, got.payload) == call
        # The ACL holds over TLS as over plain text.
        events = Inbox()
        await server.subscribe(topics.stop_events("S1"), events)
        await gateway.publish(topics.stop_events("S1"), b'{"v": 1}')
        assert (await events.get()).topic == topics.stop_events("S1")


async def test_plain_text_to_the_tls_port_gets_no_connack(tls_broker: ManagedBroker) -> None:
    assert tls_broker.tls_port is not None
    reader, writer = await asyncio.open_connection(tls_broker.host, tls_broker.tls_port)
    # A valid MQTT 5 CONNECT (client id "abc"), in plain text.
    writer.write(b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03abc")
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(64), 10)
    except ConnectionResetError:
        answer = b""
    finally:
        writer.close()
    assert answer == b"" or answer[0] != 0x20  # closed, never a CONNACK (0x20)


async def test_plain_text_session_to_the_tls_port_never_connects(
    tls_broker: ManagedBroker,
) -> None:
    plain = tls_broker.endpoint("stop.S1")
    assert tls_broker.tls_port is not None
    wrong = BrokerEndpoint(plain.host, tls_broker.tls_port, plain.username, plain.password)
    async with MqttSession(wrong, SessionOptions(client_id="stop.S1")) as session:
        error = await eventually(lambda: session.last_error, what="a failed connection")
        assert error is not None
        assert not session.connected
        assert session.connect_count == 0
    assert "refused" not in error  # no CONNACK at all, not a refused login


@pytest.mark.parametrize("trust", ["another CA", "the system's CAs"])
async def test_a_client_that_does_not_trust_the_ca_is_refused(
    tls_broker: ManagedBroker, tmp_path: Path, trust: str
) -> None:
    right = tls_broker.endpoint("stop.S1", tls=True)
    ca_file: str | None = None
    if trust == "another CA":
        _key, other_ca = make_ca(common_name="Someone else's CA")
        write_certificate(tmp_path / "other-ca.crt", other_ca)
        ca_file = str(tmp_path / "other-ca.crt")
    wrong = BrokerEndpoint(right.host, right.port, right.username, right.password, True, ca_file)
    async with MqttSession(wrong, SessionOptions(client_id="stop.S1")) as session:
        error = await eventually(lambda: session.last_error, what="a failed handshake")
        assert error is not None
        assert session.connect_count == 0
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert "self-signed certificate in certificate chain" in error or "local issuer" in error


async def test_the_broker_must_be_named_in_its_certificate(tmp_path: Path) -> None:
    """The operator's own certificate (tls_certfile/keyfile), issued for another name: a
    client trusting its CA still refuses it when connecting to 127.0.0.1."""
    ca_key, ca = make_ca()
    key, cert = issue_server_certificate(ca_key, ca, ["broker.example.org"])
    for name, item in (("ca.crt", ca), ("server.crt", cert)):
        write_certificate(tmp_path / name, item)
    write_key(tmp_path / "server.key", key)
    settings = BrokerSettings(
        state_dir=tmp_path / "state",
        port=0,
        tls_port=0,
        tls_certfile=tmp_path / "server.crt",
        tls_keyfile=tmp_path / "server.key",
    )
    async with ManagedBroker(settings, REGISTRY) as broker:
        plain = broker.endpoint("stop.S1")
        assert broker.tls_port is not None
        endpoint = BrokerEndpoint(
            "127.0.0.1",
            broker.tls_port,
            plain.username,
            plain.password,
            True,
            str(tmp_path / "ca.crt"),
        )
        async with MqttSession(endpoint, SessionOptions(client_id="stop.S1")) as session:
            error = await eventually(lambda: session.last_error, what="a failed handshake")
            assert error is not None
            assert session.connect_count == 0
        assert "CERTIFICATE_VERIFY_FAILED" in error
        assert "mismatch" in error


# -- plain text on a public address -------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", [EVERYWHERE, "::", "192.0.2.10", "10.1.2.3", "broker.lan", ""])
def test_a_plain_listener_on_a_public_address_is_refused(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host)
    settings = BrokerSettings(state_dir=tmp_path / "state", host=host)
    with pytest.raises(PlaintextListenerError, match="BUSHAIL_BROKER_ALLOW_PLAINTEXT=true"):
        render(settings, REGISTRY, 18830)
    assert not (tmp_path / "state" / "mosquitto.conf").exists()


async def test_the_managed_broker_refuses_to_start_in_plain_text_on_a_public_address(
    tmp_path: Path,
) -> None:
    broker = ManagedBroker(BrokerSettings(state_dir=tmp_path / "state", host=EVERYWHERE))
    with pytest.raises(PlaintextListenerError, match="--tls-port"):
        await broker.start()
    assert broker.pid is None


def test_with_tls_on_a_public_address_plain_text_binds_loopback_only(
    tls_files: TlsFiles,
) -> None:
    settings = BrokerSettings(
        state_dir=tls_files.folder.parent, host=EVERYWHERE, tls_port=8883, websocket_port=9001
    )
    listeners = [
        line
        for line in render(settings, REGISTRY, 1883).read_text().splitlines()
        if line.startswith("listener")
    ]
    assert listeners == [
        "listener 1883 127.0.0.1",
        "listener 9001 127.0.0.1",
        "listener 8883 0.0.0.0",
    ]
    broker = ManagedBroker(settings, REGISTRY)
    assert broker.endpoint("stop.S1").host == "127.0.0.1"
    assert broker.endpoint("stop.S1", tls=True).host == "127.0.0.1"


def test_plain_text_on_a_public_address_when_explicitly_allowed(tmp_path: Path) -> None:
    settings = BrokerSettings(state_dir=tmp_path / "state", host=EVERYWHERE, allow_plaintext=True)
    assert "listener 1883 0.0.0.0" in render(settings, REGISTRY, 1883).read_text()


def test_cli_names_the_setting_that_allows_plain_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["render", "--state-dir", str(tmp_path / "state"), "--host", EVERYWHERE]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "--allow-plaintext" in err
    assert "BUSHAIL_BROKER_ALLOW_PLAINTEXT=true" in err
    assert main([*args, "--allow-plaintext"]) == 0


# -- the API, a stop gateway and a driver display over TLS ----------------------------------


async def test_a_booking_reaches_the_gateway_and_the_display_over_tls(
    tls_broker: ManagedBroker, tmp_path: Path, topics: Topics
) -> None:
    """API, gateway (stop S3) and display (vehicle V1) all on the TLS port, verifying the
    broker with the generated CA: a rider's booking is called out at the stop and shown
    to the driver."""
    ca = TlsFiles.in_state(tls_broker.state_dir).ca_cert
    creds = tls_broker.state_dir / "credentials.json"
    database_url = f"sqlite:///{tmp_path / 'api.db'}"
    seed_network(database_url)
    assert tls_broker.tls_port is not None
    api_settings = ApiSettings(
        state_dir=tmp_path / "api",
        database_url=database_url,
        mqtt_port=tls_broker.tls_port,
        mqtt_tls=True,
        mqtt_ca_file=ca,
        mqtt_credentials_file=creds,
        operator_tokens=[SecretStr(OPERATOR_TOKEN)],
        **GENEROUS_LIMITS,
    )
    device_tls: dict[str, Any] = {
        "broker_host": "127.0.0.1",
        "broker_port": tls_broker.tls_port,
        "ca_file": ca,  # turns TLS on by itself
        "credentials_file": creds,
    }
    statuses = Inbox()
    async with AsyncExitStack() as stack:
        watch = await stack.enter_async_context(MqttSession(tls_broker.endpoint("server.api-1")))
        await watch.wait_connected(10)
        await watch.subscribe(topics.stop_status("S3"), statuses)
        await watch.subscribe(topics.vehicle_status("V1"), statuses)
        server = await stack.enter_async_context(InProcessServer(create_app(api_settings)))
        mqtt = server.state.mqtt
        assert mqtt is not None
        assert mqtt.endpoint.tls
        assert mqtt.endpoint.port == tls_broker.tls_port
        await mqtt.wait_connected(10)
        reconciler = server.state.reconciler
        assert reconciler is not None
        # The monitor login's reconcile scan connects to the TLS port too.
        await eventually(lambda: reconciler.passes >= 1, what="a reconcile pass over TLS")
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=10))
        api = ApiServer(server.url, server.state, client)

        sink = HeardSink()
        gateway_settings = GatewaySettings(
            stop_id="S3", resync_settle_s=0.1, health_interval_s=60, **device_tls
        )
        gateway = await stack.enter_async_context(
            StopGateway(gateway_settings, speaker=TextSpeaker(sink))
        )
        await gateway.wait_connected(10)
        assert gateway.runtime.mqtt.endpoint.tls
        display_settings = DisplaySettings(
            vehicle_id="V1", state_dir=tmp_path / "display", serve_screen=False, **device_tls
        )
        outbox = await stack.enter_async_context(SqliteOutbox(display_settings.outbox_path("V1")))
        display = await stack.enter_async_context(
            DriverDisplay(display_settings, outbox=outbox, sound=RecordingSoundOutput())
        )
        await display.runtime.mqtt.wait_connected(10)
        assert display.runtime.mqtt.endpoint.tls
        # Each device's retained birth message, over TLS.
        online = {(await statuses.get()).topic for _ in range(2)}
        assert online == {topics.stop_status("S3"), topics.vehicle_status("V1")}

        lat, lon = COORDS["S1"]
        await display.publish_position(
            VehiclePosition(
                route_id="R1",
                direction_id=0,
                trip_id="T0",
                lat=lat,
                lon=lon,
                stop_id="S1",
                current_stop_sequence=1,
                current_status=VehicleStopStatus.STOPPED_AT,
                timestamp=time.time(),
            )
        )
        rider = await api.rider()
        rid = uuid.UUID(await book(api, rider))
        await wait_status(api, rider, str(rid), "assigned")
        await until(display, lambda: display.store.get(rid) is not None)
        await eventually(lambda: gateway.tracker.get(rid), what="the call at the stop")
        heard = await sink.next(10)
        assert heard[1]  # the call was spoken


def test_device_settings_with_a_ca_file_never_fall_back_to_plain_text(tmp_path: Path) -> None:
    settings = GatewaySettings(
        stop_id="S1", password=SecretStr("x"), ca_file=tmp_path / "ca.crt", tls=False
    )
    endpoint = settings.endpoint(login_for(Owner.STOP, "S1"))
    assert endpoint.tls
    assert endpoint.ca_file == str(tmp_path / "ca.crt")
