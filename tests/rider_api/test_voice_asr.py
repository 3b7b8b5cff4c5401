"""Voice that survives speech recognition: what browsers' recognisers write for a
request, scored against the demo city (real Taipei stop names).

Recognisers write what they hear: homophones of stop names (南京富興 for 南京復興, 雙蓮
for 雙連), numbers split or spelled out ("3 0 7", "two-six-two", "三零七"), older
romanisations taken as English words ("Chunghsiao Fuhsing"), landmarks and other names
("北車", "the Palace Museum"). The table (voice_asr_cases.json) is scored as a whole: the
score is printed and must reach 95 %; each case that misses is named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rider_api.network.demo_feed import ROUTES, SHORT_NAMES_EN, STOPS
from rider_api.voice import NetworkIndex, Route, RouteDirection, Stop, parse_intent

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "voice_asr_cases.json").read_text(encoding="utf-8")
)
PASS_MARK = 0.95
#: A few metres from a stop, as a phone reports it.
LOCATIONS = {
    "songshan_station": (25.0488, 121.5780),
    "zhongxiao_fuxing": (25.0417, 121.5436),
    "shuanglian": (25.0575, 121.5208),
}


def demo_index() -> NetworkIndex:
    """The demo city as the server builds it (direction 1 is direction 0 reversed; the
    headsign is the last stop, as ``demo_feed`` writes the feed)."""
    stops = tuple(Stop(sid, zh, en, lat, lon) for sid, (zh, en, lat, lon, *_t) in STOPS.items())
    routes = []
    for route_id, (short, long_zh, long_en, _colour, numbers) in ROUTES.items():
        directions = []
        for direction_id in (0, 1):
            ids = tuple(f"TPE-{n}" for n in (numbers if direction_id == 0 else numbers[::-1]))
            zh, en, *_rest = STOPS[ids[-1]]
            directions.append(RouteDirection(direction_id, zh, en, ids))
        routes.append(
            Route(
                route_id,
                short,
                long_zh,
                long_en,
                tuple(directions),
                SHORT_NAMES_EN.get(route_id, ""),
            )
        )
    return NetworkIndex(stops=stops, routes=tuple(routes))


def outcome(case: dict[str, Any], index: NetworkIndex) -> str | None:
    """None when the proposal is right, else what went wrong."""
    lat, lon = LOCATIONS[case["at"]] if "at" in case else (None, None)
    proposal = parse_intent(case["text"], index, lang=case["lang"], lat=lat, lon=lon)
    got = (proposal.route_id, proposal.direction_id, proposal.stop_id)
    wanted = (case["route_id"], case["direction_id"], case["stop_id"])
    if got != wanted:
        return f"proposed {got}, wanted {wanted}"
    if "choice_routes" in case:
        offered = sorted({c.route_id for c in proposal.choices})
        if offered != sorted(case["choice_routes"]):
            return f"offered routes {offered}, wanted {sorted(case['choice_routes'])}"
        group = index.groups[index.group_of[case["stop_id"]]]
        if any(c.stop_id not in group.stop_ids for c in proposal.choices):
            return "a choice at another stop"
    elif proposal.confidence < 0.55:
        return f"right but unsure ({proposal.confidence})"
    return None


def test_the_table_covers_what_recognisers_write() -> None:
    kinds = {case["kind"] for case in CASES}
    assert len(CASES) >= 60
    assert kinds >= {"homophone", "split_number", "spoken_number", "romanisation", "landmark",
                     "simplified", "location", "choices"}  # fmt: skip


def test_recognised_speech_scores_at_least_95_percent(capsys: pytest.CaptureFixture[str]) -> None:
    index = demo_index()
    misses = {case["text"]: why for case in CASES if (why := outcome(case, index)) is not None}
    score = 1 - len(misses) / len(CASES)
    with capsys.disabled():
        # The score is this test's report (run with -s or see it in the log).
        right = len(CASES) - len(misses)
        report = f"voice after speech recognition: {right}/{len(CASES)} right ({score:.1%})"
        print(f"\n{report}")  # noqa: T201
        for text, why in misses.items():
            print(f"  missed: {text!r}: {why}")  # noqa: T201
    assert score >= PASS_MARK, misses


def test_every_kind_scores_on_its_own() -> None:
    """No kind of mishearing is left behind by the others carrying the total."""
    index = demo_index()
    for kind in {case["kind"] for case in CASES}:
        cases = [case for case in CASES if case["kind"] == kind]
        right = sum(outcome(case, index) is None for case in cases)
        assert right / len(cases) >= 0.8, kind
