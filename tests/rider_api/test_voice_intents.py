"""The voice/typed booking intent parser: normalisation, numerals, and 60+ utterances.

The network fixture uses real Taipei routes and stops with their English names; the
stop sequences are abridged (a handful of stops per direction) and coordinates rounded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rider_api.network import search, text
from rider_api.voice import NetworkIndex, Route, RouteDirection, Stop, parse_intent
from rider_api.voice.intents import MAX_CHOICES, MAX_ROUTE_CHOICES
from rider_api.voice.normalize import match_key, name_keys, normalize, spoken_en
from rider_api.voice.numerals import find_numbers, parse_chinese_numeral, parse_english_number
from rider_api.voice.utterance import Role, parse_utterance

CASES = json.loads((Path(__file__).parent / "voice_cases.json").read_text(encoding="utf-8"))

# Near the MRT City Hall stops, on Zhongxiao East Road.
CITY_HALL = (25.0411, 121.5652)
# Between Zhongxiao Dunhua and Sun Yat-sen Memorial Hall, closer to the hall.
NEAR_MEMORIAL_HALL = (25.0414, 121.5570)
# Far from everything (Yangmingshan).
FAR_AWAY = (25.1550, 121.5480)
LOCATIONS: dict[str, tuple[float, float]] = {
    "city_hall": CITY_HALL,
    "memorial_hall": NEAR_MEMORIAL_HALL,
    "far": FAR_AWAY,
}

_STOPS = (
    ("BQ", "板橋公車站", "Banqiao Bus Station", 25.0138, 121.4631),
    ("XP", "捷運新埔站", "MRT Xinpu Sta.", 25.0233, 121.4681),
    ("XM", "捷運西門站", "MRT Ximen Sta.", 25.0421, 121.5081),
    ("TMS", "臺北車站", "Taipei Main Station", 25.0463, 121.5174),
    ("SDS", "捷運善導寺站", "MRT Shandao Temple Sta.", 25.0447, 121.5230),
    ("ZXXS", "捷運忠孝新生站", "MRT Zhongxiao Xinsheng Sta.", 25.0424, 121.5330),
    ("ZXFX", "捷運忠孝復興站", "MRT Zhongxiao Fuxing Sta.", 25.0415, 121.5437),
    ("ZXDH", "捷運忠孝敦化站", "MRT Zhongxiao Dunhua Sta.", 25.0416, 121.5511),
    ("SYS", "國父紀念館", "Sun Yat-sen Memorial Hall", 25.0413, 121.5578),
    # Taipei gives each side of the road its own stop id, under the same name.
    ("CH0", "捷運市政府站", "MRT City Hall Sta.", 25.0414, 121.5655),
    ("CH1", "捷運市政府站", "MRT City Hall Sta.", 25.0409, 121.5650),
    ("CHR", "捷運市政府站", "MRT City Hall Sta.", 25.0405, 121.5660),
    ("YC", "永春高中", "Yongchun Senior High School", 25.0412, 121.5760),
    ("FY", "撫遠街", "Fuyuan St.", 25.0494, 121.5834),
    ("ZH", "中和", "Zhonghe", 24.9990, 121.4950),
    ("DX", "捷運頂溪站", "MRT Dingxi Sta.", 25.0138, 121.5154),
    ("ZS", "捷運中山站", "MRT Zhongshan Sta.", 25.0526, 121.5204),
    ("XTG", "捷運行天宮站", "MRT Xingtian Temple Sta.", 25.0596, 121.5331),
    ("MS", "民生社區", "Minsheng Community", 25.0588, 121.5580),
    ("SZL", "三張犁", "Sanzhangli", 25.0350, 121.5620),
    ("T101", "捷運台北101/世貿站", "MRT Taipei 101/World Trade Center Sta.", 25.0330, 121.5637),
    ("LZL", "六張犁", "Liuzhangli", 25.0239, 121.5530),
    ("NJFX", "捷運南京復興站", "MRT Nanjing Fuxing Sta.", 25.0520, 121.5440),
    ("SSA", "松山機場", "Songshan Airport", 25.0630, 121.5520),
    ("NGE", "南港展覽館", "Nangang Exhibition Center", 25.0553, 121.6175),
    ("CKS", "捷運中正紀念堂站", "MRT Chiang Kai-shek Memorial Hall Sta.", 25.0327, 121.5180),
    ("DM", "捷運東門站", "MRT Dongmen Sta.", 25.0339, 121.5290),
    ("DAP", "大安森林公園", "Daan Forest Park", 25.0334, 121.5360),
    ("XYAH", "捷運信義安和站", "MRT Xinyi Anhe Sta.", 25.0331, 121.5527),
    ("XS", "捷運象山站", "MRT Xiangshan Sta.", 25.0327, 121.5707),
)


def _route(
    route_id: str,
    short_name: str,
    long_names: tuple[str, str],
    outbound: tuple[str, str, tuple[str, ...]],
    inbound: tuple[str, str, tuple[str, ...]],
    short_name_en: str = "",
) -> Route:
    return Route(
        route_id=route_id,
        short_name=short_name,
        short_name_en=short_name_en,
        long_name_zh=long_names[0],
        long_name_en=long_names[1],
        directions=(
            RouteDirection(0, outbound[0], outbound[1], outbound[2]),
            RouteDirection(1, inbound[0], inbound[1], inbound[2]),
        ),
    )


_307_EAST = ("BQ", "XP", "XM", "TMS", "SDS", "ZXXS", "ZXFX", "ZXDH", "SYS", "CH0", "YC", "FY")
_307_WEST = ("FY", "YC", "CH1", "SYS", "ZXDH", "ZXFX", "ZXXS", "TMS", "XM", "XP", "BQ")
_262 = ("ZH", "DX", "TMS", "ZS", "XTG", "MS")
_262_SHORT = ("TMS", "ZS", "XTG", "MS")
_R30 = ("CHR", "SZL", "T101", "LZL")
_BR9 = ("ZXFX", "NJFX", "SSA")
_BL1 = ("SYS", "CH0", "YC", "NGE")
_BL1_BACK = ("NGE", "YC", "CH1", "SYS")
_XINYI = ("CKS", "DM", "DAP", "XYAH", "T101", "XS")


def _reverse(stops: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(reversed(stops))


ROUTES = (
    _route("307", "307", ("板橋－撫遠街", "Banqiao - Fuyuan St."),
           ("撫遠街", "Fuyuan St.", _307_EAST), ("板橋", "Banqiao", _307_WEST)),
    _route("262", "262", ("中和－民生社區", "Zhonghe - Minsheng Community"),
           ("民生社區", "Minsheng Community", _262), ("中和", "Zhonghe", _reverse(_262))),
    _route("262S", "262區", ("臺北車站－民生社區", "Taipei Main Station - Minsheng Community"),
           ("民生社區", "Minsheng Community", _262_SHORT),
           ("臺北車站", "Taipei Main Station", _reverse(_262_SHORT))),
    _route("R30", "紅30", ("捷運市政府站－六張犁", "MRT City Hall - Liuzhangli"),
           ("六張犁", "Liuzhangli", _R30), ("捷運市政府站", "MRT City Hall Sta.", _reverse(_R30)),
           short_name_en="R30"),
    _route("BR9", "棕9", ("捷運忠孝復興站－松山機場", "Zhongxiao Fuxing - Songshan Airport"),
           ("松山機場", "Songshan Airport", _BR9),
           ("捷運忠孝復興站", "MRT Zhongxiao Fuxing Sta.", _reverse(_BR9))),
    _route("BL1", "藍1", ("國父紀念館－南港展覽館", "Sun Yat-sen Memorial Hall - Nangang"),
           ("南港展覽館", "Nangang Exhibition Center", _BL1),
           ("國父紀念館", "Sun Yat-sen Memorial Hall", _BL1_BACK)),
    _route("XY", "信義幹線", ("中正紀念堂－象山", "Chiang Kai-shek Memorial Hall - Xiangshan"),
           ("象山", "Xiangshan", _XINYI), ("東門", "Dongmen", _reverse(_XINYI)),
           short_name_en="Xinyi Main Line"),
)  # fmt: skip


@pytest.fixture(scope="module")
def network() -> NetworkIndex:
    return NetworkIndex(
        stops=tuple(Stop(sid, zh, en, lat, lon) for sid, zh, en, lat, lon in _STOPS),
        routes=ROUTES,
    )


# -- the utterance table -------------------------------------------------------------

_BANDS = {
    "sure": (0.8, 1.0),  # complete and clearly said
    "likely": (0.55, 0.8),  # complete, but a name was misspelled or only partly said
    "unsure": (0.01, 0.55),  # something is missing or ambiguous: ask
    "none": (0.0, 0.0),  # nothing understood
}


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['kind']}:{case['text'] or '(empty)'}"


def test_the_table_covers_every_kind_of_request() -> None:
    kinds = {case["kind"] for case in CASES}
    assert len(CASES) >= 60
    assert kinds >= {"zh", "simplified", "en", "fullwidth", "numerals", "misspelled",
                     "homophone", "ambiguous", "nonsense", "location", "unknown"}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_utterance(case: dict[str, Any], network: NetworkIndex) -> None:
    lat, lon = LOCATIONS[case["at"]] if "at" in case else (None, None)
    proposal = parse_intent(case["text"], network, lang=case["lang"], lat=lat, lon=lon)

    assert (proposal.route_id, proposal.direction_id, proposal.stop_id) == (
        case["route_id"],
        case["direction_id"],
        case["stop_id"],
    )
    low, high = _BANDS[case["confidence"]]
    assert low <= proposal.confidence <= high
    offered = [[c.route_id, c.direction_id, c.stop_id] for c in proposal.choices]
    assert offered == case.get("choices", [])
    assert len(proposal.choices) <= max(MAX_CHOICES, MAX_ROUTE_CHOICES)
    for choice in proposal.choices:
        direction = network.route_by_id[choice.route_id].direction(choice.direction_id)
        assert direction is not None
        assert choice.stop_id in direction.stop_ids
    complete = None not in (case["route_id"], case["direction_id"], case["stop_id"])
    _assert_prompt(proposal.prompt.zh_tw, proposal.prompt.en, complete=complete)


def _assert_prompt(zh: str, en: str, *, complete: bool) -> None:
    assert any("\u4e00" <= char <= "\u9fff" for char in zh)
    assert en.isascii() or "“" in en
    if complete:
        assert "對嗎？" in zh
        assert "Is that right?" in en
    else:
        assert zh.endswith(("？", "。"))
        assert en.endswith(("?", "."))


def test_a_proposal_is_always_served_by_the_network(network: NetworkIndex) -> None:
    for case in CASES:
        lat, lon = LOCATIONS[case["at"]] if "at" in case else (None, None)
        proposal = parse_intent(case["text"], network, lat=lat, lon=lon)
        if proposal.route_id is not None and proposal.direction_id is not None:
            direction = network.route_by_id[proposal.route_id].direction(proposal.direction_id)
            assert direction is not None
            if proposal.stop_id is not None:
                # Never boarding where the bus ends its run.
                assert proposal.stop_id in direction.stop_ids[:-1], case["text"]


# -- prompts ---------------------------------------------------------------------------


def test_readback_in_both_languages(network: NetworkIndex) -> None:
    proposal = parse_intent("我要搭307路往板橋，在捷運市政府站上車", network)
    assert proposal.prompt.zh_tw == "307路 往板橋，在捷運市政府站上車，對嗎？"
    assert proposal.prompt.en == (
        "Route 307 towards Banqiao, boarding at MRT City Hall Station. Is that right?"
    )
    assert proposal.as_dict() == {
        "stop_id": "CH1",
        "route_id": "307",
        "direction_id": 1,
        "confidence": 1.0,
        "prompt": {
            "zh-TW": "307路 往板橋，在捷運市政府站上車，對嗎？",
            "en": "Route 307 towards Banqiao, boarding at MRT City Hall Station. Is that right?",
        },
        "choices": [],
    }


def test_asks_for_the_direction_by_its_headsigns(network: NetworkIndex) -> None:
    proposal = parse_intent("307 at Ximen", network, lang="en")
    assert proposal.prompt.en.startswith("Route 307, boarding at MRT Ximen Station. Which one:")
    assert [c.label.en for c in proposal.choices] == [
        "Route 307 towards Fuyuan Street, at MRT Ximen Station",
        "Route 307 towards Banqiao, at MRT Ximen Station",
    ]
    assert [c.label.zh_tw for c in proposal.choices] == [
        "307路 往撫遠街，捷運西門站",
        "307路 往板橋，捷運西門站",
    ]
    alone = parse_intent("307", network)
    assert alone.prompt.zh_tw == "307路。請問往撫遠街還是往板橋？請問在哪一站上車？"


def test_asks_for_the_route_naming_those_at_the_stop(network: NetworkIndex) -> None:
    proposal = parse_intent("在捷運市政府站上車", network)
    assert proposal.prompt.zh_tw.endswith("請問要搭哪一路公車：307路、紅30還是藍1？")
    assert proposal.prompt.en.endswith("Which bus route: Route 307, Route R30 or Route Blue 1?")


def test_says_what_it_could_not_find(network: NetworkIndex) -> None:
    assert parse_intent("999路 在市政府上車", network).prompt.zh_tw.startswith("找不到999路。")
    assert parse_intent("bus 999 at City Hall", network).prompt.en.startswith(
        "I could not find route 999."
    )
    assert parse_intent("307 在民生社區上車", network).prompt.en.startswith(
        "Route 307 does not stop at Minsheng Community."
    )
    assert "找不到「zoo」這個站" in parse_intent("307 at the zoo", network).prompt.zh_tw
    nothing = parse_intent("今天天氣很好", network)
    assert nothing.prompt.zh_tw == "請說出要搭的路線、方向和上車站。"
    assert nothing.as_dict()["choices"] == []


def test_choices_serialise_with_labels(network: NetworkIndex) -> None:
    body = parse_intent("藍一 在永春高中上車", network).as_dict()
    assert body["stop_id"] == "YC"
    assert body["direction_id"] is None
    assert body["choices"][0] == {
        "stop_id": "YC",
        "route_id": "BL1",
        "direction_id": 0,
        "label": {
            "zh-TW": "藍1 往南港展覽館，永春高中",
            "en": "Route Blue 1 towards Nangang Exhibition Center, at Yongchun Senior High School",
        },
    }


def test_confidence_orders_clear_over_misspelled_over_ambiguous(network: NetworkIndex) -> None:
    clear = parse_intent("307 往板橋 在國父紀念館上車", network).confidence
    misspelled = parse_intent("307 往板橋 在國父紀年館上車", network).confidence
    ambiguous = parse_intent("307 往板橋 在忠孝站上車", network).confidence
    assert clear > misspelled > ambiguous


def test_nearest_stop_is_on_the_side_the_route_runs(network: NetworkIndex) -> None:
    west = parse_intent("307往板橋", network, lat=CITY_HALL[0], lon=CITY_HALL[1])
    east = parse_intent("307往撫遠街", network, lat=CITY_HALL[0], lon=CITY_HALL[1])
    assert (west.stop_id, east.stop_id) == ("CH1", "CH0")


def test_names_with_numerals_are_protected_but_bare_numbers_are_not(
    network: NetworkIndex,
) -> None:
    assert "臺北101" in network.protected_names
    assert "三張犁" in network.protected_names
    assert "101" not in network.protected_names
    stop = Stop("E3", "307出口", "Stop 307", 25.0, 121.5)
    route = Route("307", "307", "", "", (RouteDirection(0, "甲", "A", ("E3", "E3")),))
    index = NetworkIndex(stops=(stop,), routes=(route,))
    assert "307" not in index.protected_names
    assert [m.route_ids for m in parse_utterance("307 at stop 3", index).routes] == [("307",)]


def test_network_index_rejects_an_inconsistent_network() -> None:
    stop = Stop("A", "甲", "A", 25.0, 121.5)
    broken = Route("X", "1", "", "", (RouteDirection(0, "乙", "B", ("A", "missing")),))
    with pytest.raises(ValueError, match="unknown stop missing"):
        NetworkIndex(stops=(stop,), routes=(broken,))
    with pytest.raises(ValueError, match="duplicate stop_id"):
        NetworkIndex(stops=(stop, stop), routes=())


# -- normalisation and numerals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("３０７路", "307路"),
        ("ＲＯＵＴＥ　３０７", "route 307"),
        ("捷运市政府站上车", "捷運市政府站上車"),
        ("臺北車站", "臺北車站"),
        ("台北車站", "臺北車站"),
        ("台北车站", "臺北車站"),
        ("台电大楼", "臺電大樓"),
        ("國父紀念舘", "國父紀念館"),
        ("坐公交车", "坐公車"),
        ("  307   往  板橋 ", "307 往 板橋"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_voice_and_stop_search_share_one_normaliser() -> None:
    assert normalize is text.normalize
    assert search.search_key("台北车站") == normalize("臺北車站")


def test_match_key_and_name_keys() -> None:
    assert match_key("MRT City Hall Sta.") == "mrtcityhallsta"
    assert name_keys("捷運市政府站") == {"捷運市政府站", "市政府"}
    assert "cityhall" in name_keys("MRT City Hall Sta.")
    assert "fuyuanstreet" in name_keys("Fuyuan St.")
    assert name_keys("台北車站") == {"臺北車站"}  # 車站 keeps its 站


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MRT City Hall Sta.", "MRT City Hall Station"),
        ("Fuyuan St.", "Fuyuan Street"),
        ("Zhongxiao E. Rd. Sec. 4", "Zhongxiao E. Road Section 4"),
        ("Taipei Main Station", "Taipei Main Station"),
    ],
)
def test_spoken_en(raw: str, expected: str) -> None:
    assert spoken_en(raw) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("三零七", 307),
        ("三〇七", 307),
        ("三百零七", 307),
        ("三百七", 370),
        ("三百七十", 370),
        ("兩百六十二", 262),
        ("二六二", 262),
        ("十", 10),
        ("十五", 15),
        ("三十", 30),
        ("兩千五", 2500),
        ("一千零二十", 1020),
        ("幺三七", 137),
        ("三四百", None),
        ("十百", None),
        ("", None),
        ("三a", None),
    ],
)
def test_parse_chinese_numeral(text: str, value: int | None) -> None:
    assert parse_chinese_numeral(text) == value


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("three oh seven", 307),
        ("three zero seven", 307),
        ("three hundred seven", 307),
        ("three hundred and seven", 307),
        ("two sixty two", 262),
        ("two six two", 262),
        ("thirty", 30),
        ("twelve", 12),
        ("nine", 9),
        ("double two", 22),
        ("one thousand two hundred", 1200),
        ("red", None),
        ("", None),
    ],
)
def test_parse_english_number(words: str, value: int | None) -> None:
    assert parse_english_number(words.split()) == value


def test_find_numbers_in_mixed_text() -> None:
    found = [(t.value, t.kind) for t in find_numbers("bus three oh seven, 紅三十 and 262")]
    assert found == [(307, "en"), (30, "zh"), (262, "digits")]
    # A lone "oh" or "and" is not a number.
    assert find_numbers("oh and") == []


def test_utterance_roles_and_route_mentions(network: NetworkIndex) -> None:
    parsed = parse_utterance(normalize("我要搭307路往板橋，在捷運市政府站上車"), network)
    assert [m.spoken for m in parsed.routes] == ["307"]
    assert [(p.text, p.role) for p in parsed.phrases] == [
        ("板橋", Role.DIRECTION),
        ("捷運市政府站", Role.BOARD),
    ]
    english = parse_utterance(normalize("Banqiao bound 307 at Ximen"), network)
    assert [(p.text, p.role) for p in english.phrases] == [
        ("banqiao", Role.DIRECTION),
        ("ximen", Role.BOARD),
    ]


@pytest.mark.parametrize(
    "text",
    ["在三張犁上車", "在台北101上車", "5分鐘後到", "等一下", "第三站", "which one"],
)
def test_numbers_that_are_not_routes(text: str, network: NetworkIndex) -> None:
    assert parse_utterance(normalize(text), network).routes == ()


@pytest.mark.parametrize(
    ("text", "route_ids"),
    [
        ("紅 三十", ("R30",)),
        ("r30", ("R30",)),
        ("br9", ("BR9",)),
        ("blue one", ("BL1",)),
        ("262區", ("262S",)),
        ("262 shuttle", ("262S",)),
        ("262", ("262",)),
        ("信義幹線", ("XY",)),
        ("the three oh seven", ("307",)),
    ],
)
def test_route_mentions(text: str, route_ids: tuple[str, ...], network: NetworkIndex) -> None:
    assert [m.route_ids for m in parse_utterance(normalize(text), network).routes] == [route_ids]
