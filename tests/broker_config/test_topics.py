"""Topic builders and the parser agree for every valid id and refuse every invalid one."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker_config.errors import InvalidIdError, InvalidTopicError
from broker_config.topics import (
    TOPIC_SPECS,
    Owner,
    ParsedTopic,
    TopicKind,
    Topics,
    login_for,
    topic_matches,
    validate_id,
)

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
valid_ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=64)
reservation_ids = st.uuids().map(str)
kinds = st.sampled_from(list(TopicKind))

#: Characters that may never appear in an id (topic separators, wildcards, blanks ...).
BAD_CHARS = ["/", "+", "#", " ", "\t", "\n", "\x00", "$", "台"]


def _invalid_ids() -> st.SearchStrategy[str]:
    with_bad_char = st.tuples(
        st.text(alphabet=ID_ALPHABET, max_size=30),
        st.sampled_from(BAD_CHARS),
        st.text(alphabet=ID_ALPHABET, max_size=30),
    ).map("".join)
    too_long = st.text(alphabet=ID_ALPHABET, min_size=65, max_size=200)
    return st.one_of(st.just(""), with_bad_char, too_long)


invalid_ids = _invalid_ids()
roots = st.sampled_from(["bushail/v1", "city/bushail/v1", "x"])


def _build(topics: Topics, kind: TopicKind, device_id: str, reservation_id: str) -> str:
    spec = TOPIC_SPECS[kind]
    return topics.build(kind, device_id, reservation_id if spec.has_reservation else None)


@given(root=roots, kind=kinds, device_id=valid_ids, reservation_id=reservation_ids)
def test_build_then_parse_round_trips(
    root: str, kind: TopicKind, device_id: str, reservation_id: str
) -> None:
    topics = Topics(root)
    topic = _build(topics, kind, device_id, reservation_id)
    expected_rid = reservation_id if TOPIC_SPECS[kind].has_reservation else None
    assert topics.parse(topic) == ParsedTopic(kind, device_id, expected_rid)
    assert topic.startswith(topics.root + "/")
    assert topic_matches(topics.all_of(kind), topic)
    assert topic_matches(topics.everything(), topic)


@given(kind=kinds, device_id=invalid_ids, reservation_id=reservation_ids)
def test_builders_refuse_invalid_ids(kind: TopicKind, device_id: str, reservation_id: str) -> None:
    with pytest.raises(InvalidIdError):
        _build(Topics(), kind, device_id, reservation_id)


@given(device_id=invalid_ids)
def test_filters_and_logins_refuse_invalid_ids(device_id: str) -> None:
    topics = Topics()
    with pytest.raises(InvalidIdError):
        topics.stop_calls_filter(device_id)
    with pytest.raises(InvalidIdError):
        topics.vehicle_alerts_filter(device_id)
    for owner in Owner:
        with pytest.raises(InvalidIdError):
            login_for(owner, device_id)
    with pytest.raises(InvalidIdError):
        validate_id(device_id)


@given(
    kind=st.sampled_from([k for k, s in TOPIC_SPECS.items() if s.has_reservation]),
    device_id=valid_ids,
    bad=st.one_of(
        st.text(max_size=40),
        st.uuids().map(lambda u: str(u).upper()),
        st.uuids().map(lambda u: u.hex),
    ),
)
def test_reservation_level_must_be_a_canonical_uuid(
    kind: TopicKind, device_id: str, bad: str
) -> None:
    topics = Topics()
    with pytest.raises(InvalidIdError):
        topics.build(kind, device_id, bad)
    with pytest.raises(InvalidIdError):
        topics.build(kind, device_id, None)


@given(kind=kinds, device_id=invalid_ids)
def test_parse_refuses_topics_with_invalid_ids(kind: TopicKind, device_id: str) -> None:
    topics = Topics()
    good = _build(topics, kind, "OK", str(uuid.uuid4()))
    forged = good.replace("/OK/", f"/{device_id}/", 1)
    with pytest.raises(InvalidTopicError):
        topics.parse(forged)


@pytest.mark.parametrize(
    "topic",
    [
        "bushail/v1",
        "bushail/v1/",
        "other/v1/stops/S1/events",
        "bushail/v2/stops/S1/events",
        "bushail/v1/stops/S1",
        "bushail/v1/stops/S1/unknown",
        "bushail/v1/stops/S1/calls",  # a call needs its reservation level
        "bushail/v1/stops/S1/events/extra",
        "bushail/v1/vehicles/V1/alerts",
        "bushail/v1/server/api/health",
        "bushail/v1/stops/+/events",
        "bushail/v1/stops/#",
        "bushail/v1/stops/S1/events/a/b",
    ],
)
def test_parse_refuses_foreign_topics(topic: str) -> None:
    with pytest.raises(InvalidTopicError):
        Topics().parse(topic)


def test_named_builders_match_the_table() -> None:
    topics = Topics()
    rid = str(uuid.uuid4())
    assert topics.stop_call("S1", rid) == f"bushail/v1/stops/S1/calls/{rid}"
    assert topics.stop_announce("S1") == "bushail/v1/stops/S1/announce"
    assert topics.stop_events("S1") == "bushail/v1/stops/S1/events"
    assert topics.stop_status("S1") == "bushail/v1/stops/S1/status"
    assert topics.stop_health("S1") == "bushail/v1/stops/S1/health"
    assert topics.vehicle_alert("V1", rid) == f"bushail/v1/vehicles/V1/alerts/{rid}"
    assert topics.vehicle_position("V1") == "bushail/v1/vehicles/V1/position"
    assert topics.vehicle_events("V1") == "bushail/v1/vehicles/V1/events"
    assert topics.vehicle_status("V1") == "bushail/v1/vehicles/V1/status"
    assert topics.vehicle_health("V1") == "bushail/v1/vehicles/V1/health"
    assert topics.server_status("api") == "bushail/v1/server/api/status"
    assert topics.stop_call("S1", uuid.UUID(rid)) == topics.stop_call("S1", rid)


def test_qos_and_retain_follow_the_contract() -> None:
    expected = {
        TopicKind.STOP_CALL: (1, True),
        TopicKind.STOP_ANNOUNCE: (1, False),
        TopicKind.STOP_EVENTS: (1, False),
        TopicKind.STOP_STATUS: (1, True),
        TopicKind.STOP_HEALTH: (0, False),
        TopicKind.STOP_RECEIPTS: (1, False),
        TopicKind.VEHICLE_ALERT: (1, True),
        TopicKind.VEHICLE_POSITION: (0, False),
        TopicKind.VEHICLE_EVENTS: (1, False),
        TopicKind.VEHICLE_STATUS: (1, True),
        TopicKind.VEHICLE_HEALTH: (0, False),
        TopicKind.VEHICLE_RECEIPTS: (1, False),
        TopicKind.SERVER_STATUS: (1, True),
    }
    assert {k: (s.qos, s.retain) for k, s in TOPIC_SPECS.items()} == expected


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a/b/c", True),
        ("a/#", "a", True),
        ("a/+", "a/b/c", False),
        ("a/b", "a/b/c", False),
        ("$share/g/a/+", "a/b", True),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize("root", ["", "/", "a/+/b", "a/#", "a//b"])
def test_bad_root_is_refused(root: str) -> None:
    with pytest.raises(InvalidTopicError):
        Topics(root)
