"""Every payload model: round-trips, refuses malformed input with one error, ignores extras."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker_config.errors import MalformedPayloadError
from broker_config.messages import (
    Announcement,
    DeviceHealth,
    DeviceStatus,
    DriverAlert,
    DriverEvent,
    EventReceipt,
    Message,
    StopCall,
    StopEvent,
    VehiclePosition,
    decode,
    decode_or_clear,
    encode,
)

NOW = "2025-03-01T08:30:00Z"
LOC = {"zh-TW": "市政府", "en": "City Hall"}

#: One valid payload per model, as a reader receives it (contract field names).
SAMPLES: dict[type[Message], dict[str, Any]] = {
    StopCall: {
        "v": 1,
        "reservation_id": str(uuid.uuid4()),
        "seq": 3,
        "status": "assigned",
        "route_id": "307",
        "route_name": LOC,
        "headsign": LOC,
        "vehicle_id": "KKA-1234",
        "eta_s": 240,
        "rider_lang": "en",
        "updated_at": NOW,
    },
    Announcement: {"v": 1, "id": str(uuid.uuid4()), "text": LOC, "priority": "urgent"},
    StopEvent: {
        "v": 1,
        "id": str(uuid.uuid4()),
        "type": "button",
        "action": "book",
        "route_id": "307",
        "direction_id": 1,
        "at": NOW,
    },
    DriverAlert: {
        "v": 1,
        "reservation_id": str(uuid.uuid4()),
        "seq": 1,
        "kind": "pickup",
        "status": "assigned",
        "stop_id": "TPE-1001",
        "stop_name": LOC,
        "stop_sequence": 7,
        "eta_s": 120,
        "note": "guide dog",
    },
    VehiclePosition: {
        "v": 1,
        "route_id": "307",
        "direction_id": 0,
        "trip_id": "T1",
        "lat": 25.04,
        "lon": 121.56,
        "stop_id": "TPE-1001",
        "current_stop_sequence": 7,
        "current_status": "INCOMING_AT",
        "timestamp": 1740818000.5,
    },
    DriverEvent: {
        "v": 1,
        "id": str(uuid.uuid4()),
        "reservation_id": str(uuid.uuid4()),
        "type": "cannot_stop",
        "reason": "bus_full",
        "at": NOW,
    },
    EventReceipt: {
        "v": 1,
        "event_id": str(uuid.uuid4()),
        "outcome": "refused",
        "detail": "not assigned to this bus",
        "at": NOW,
    },
    DeviceStatus: {"v": 1, "state": "online", "session": 5, "version": "0.1.0", "started_at": NOW},
    DeviceHealth: {
        "v": 1,
        "uptime_s": 12.5,
        "queue_depth": 0,
        "speaker_ok": True,
        "last_error": None,
        "at": NOW,
    },
}

MODELS = list(SAMPLES)
models = st.sampled_from(MODELS)


def _required(model: type[Message]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items() if info.is_required()]


def _keys(model: type[Message]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()} | set(
        model.model_fields
    )


def test_every_contract_payload_has_a_sample() -> None:
    contract = {m for m in Message.__subclasses__() if m.__module__ == Message.__module__}
    assert set(MODELS) == contract


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_sample_round_trips(model: type[Message]) -> None:
    message = decode(model, json.dumps(SAMPLES[model]))
    assert decode(model, encode(message)) == message
    wire = json.loads(encode(message))
    assert wire["v"] == 1
    assert set(SAMPLES[model]) <= set(wire)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_models_are_frozen(model: type[Message]) -> None:
    message = decode(model, json.dumps(SAMPLES[model]))
    with pytest.raises(ValueError, match="frozen"):
        message.v = 1  # type: ignore[misc]


@given(model=models, data=st.data())
def test_missing_required_field_is_malformed(model: type[Message], data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(_required(model)))
    payload = {k: v for k, v in SAMPLES[model].items() if k != field}
    with pytest.raises(MalformedPayloadError, match=model.__name__):
        decode(model, json.dumps(payload))


#: JSON values that are the wrong type for every field of every model.
wrong_values = st.one_of(
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["x", "y", "zh"]), st.integers(), max_size=2),
)


@given(model=models, data=st.data(), bad=wrong_values)
def test_wrong_type_is_malformed(model: type[Message], data: st.DataObject, bad: Any) -> None:
    field = data.draw(st.sampled_from(sorted(SAMPLES[model])))
    payload = {**SAMPLES[model], field: bad}
    with pytest.raises(MalformedPayloadError):
        decode(model, json.dumps(payload))


@pytest.mark.parametrize(
    ("model", "field", "bad"),
    [
        (StopCall, "v", 2),
        (StopCall, "seq", -1),
        (StopCall, "seq", "three"),
        (StopCall, "status", "teleported"),
        (StopCall, "route_id", "a/b"),
        (StopCall, "route_id", "x" * 65),
        (StopCall, "vehicle_id", "KKA 1234"),
        (StopCall, "reservation_id", "not-a-uuid"),
        (StopCall, "rider_lang", "fr"),
        (StopCall, "updated_at", "yesterday"),
        (StopCall, "route_name", {"en": "only English"}),
        (StopEvent, "action", "dance"),
        (StopEvent, "direction_id", 2),
        (DriverAlert, "kind", "detour"),
        (VehiclePosition, "lat", 91),
        (VehiclePosition, "lon", "east"),
        (VehiclePosition, "current_status", "PARKED"),
        (VehiclePosition, "stop_id", "S+1"),
        (DriverEvent, "reason", "bored"),
        (DeviceStatus, "state", "asleep"),
        (DeviceStatus, "version", 3),
        (DeviceHealth, "queue_depth", 1.5),
        (Announcement, "priority", "panic"),
    ],
)
def test_bad_values_are_malformed(model: type[Message], field: str, bad: Any) -> None:
    payload = {**SAMPLES[model], field: bad}
    with pytest.raises(MalformedPayloadError, match=field):
        decode(model, json.dumps(payload))


@pytest.mark.parametrize(
    ("model", "changes"),
    [
        (StopEvent, {"action": "book", "route_id": None}),
        (StopEvent, {"action": "book", "direction_id": None}),
        (DriverEvent, {"type": "cannot_stop", "reason": None}),
    ],
)
def test_cross_field_rules_are_malformed(model: type[Message], changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayloadError):
        decode(model, json.dumps({**SAMPLES[model], **changes}))


@given(model=models, raw=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_random_bytes_are_malformed(model: type[Message], raw: bytes | str) -> None:
    with pytest.raises(MalformedPayloadError):
        decode(model, raw)


@given(model=models, data=st.data())
def test_truncated_json_is_malformed(model: type[Message], data: st.DataObject) -> None:
    wire = json.dumps(SAMPLES[model]).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
    with pytest.raises(MalformedPayloadError):
        decode(model, wire[:cut])


@given(
    model=models,
    value=st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())),
)
def test_json_that_is_not_an_object_is_malformed(model: type[Message], value: Any) -> None:
    with pytest.raises(MalformedPayloadError):
        decode(model, json.dumps(value))


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@given(model=models, extra=st.dictionaries(st.text(min_size=1, max_size=12), json_values))
def test_unknown_fields_are_ignored(model: type[Message], extra: dict[str, Any]) -> None:
    known = _keys(model)
    extra = {k: v for k, v in extra.items() if k not in known}
    plain = decode(model, json.dumps(SAMPLES[model]))
    assert decode(model, json.dumps({**extra, **SAMPLES[model]})) == plain


def test_decode_or_clear() -> None:
    assert decode_or_clear(StopCall, b"") is None
    call = decode_or_clear(StopCall, json.dumps(SAMPLES[StopCall]))
    assert isinstance(call, StopCall)
    with pytest.raises(MalformedPayloadError):
        decode_or_clear(StopCall, b"{")


def test_optional_additions_default_to_none() -> None:
    call = decode(StopCall, json.dumps(SAMPLES[StopCall]))
    assert (call.direction_id, call.reason, call.route_tts) == (None, None, None)
    alert = decode(DriverAlert, json.dumps(SAMPLES[DriverAlert]))
    assert (alert.route_id, alert.updated_at, alert.reminder) == (None, None, False)
