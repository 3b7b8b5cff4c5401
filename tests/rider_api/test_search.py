"""The forgiving stop search, pure: name forms, sound keys and the ranking tiers over the
demo city's stop names (no database)."""

from __future__ import annotations

import pytest

from rider_api.network.demo_feed import STOPS
from rider_api.network.search import Match, StopSearchIndex, strip_affixes
from rider_api.network.text import normalize, romanised_word, sound_key


@pytest.fixture(scope="module")
def index() -> StopSearchIndex:
    return StopSearchIndex.build((sid, zh, en) for sid, (zh, en, *_rest) in STOPS.items())


def top(index: StopSearchIndex, query: str) -> tuple[str, Match] | None:
    hits = index.search(query)
    return (hits[0].stop_id, hits[0].match) if hits else None


@pytest.mark.parametrize(
    ("query", "stop_id", "match"),
    [
        # The four the blind tester found nothing for.
        ("忠孝復興站", "TPE-1006", Match.EXACT),  # the name plus 站
        ("Chunghsiao Fuhsing", "TPE-1006", Match.SOUND),  # Wade-Giles, still on signs
        ("taipei main staton", "TPE-1001", Match.FUZZY),  # a typo
        ("台北车站", "TPE-1001", Match.EXACT),  # simplified
        # Suffixes in both languages.
        ("忠孝復興車站", "TPE-1006", Match.EXACT),
        ("忠孝復興站牌", "TPE-1006", Match.EXACT),
        ("Zhongxiao Fuxing station", "TPE-1006", Match.EXACT),
        ("zhongxiao fuxing stop", "TPE-1006", Match.EXACT),
        ("MRT Zhongshan", "TPE-1016", Match.PREFIX),
        # Pinyin of the Chinese name, and older romanisations.
        ("zhongxiao fuxing", "TPE-1006", Match.EXACT),
        ("zhong xiao fu xing", "TPE-1006", Match.WORDS),  # every word is in the name
        ("shuang li an", "TPE-1024", Match.WORDS),
        ("Shuanglien", "TPE-1024", Match.SOUND),  # Wade-Giles
        ("Jhongsiao Fusing", "TPE-1006", Match.SOUND),  # Tongyong
        ("Jungshiau Fushing", "TPE-1006", Match.SOUND),  # MPS2
        ("Nanking Fuhsing", "TPE-1014", Match.SOUND),
        ("Sungchiang Nanking", "TPE-1015", Match.SOUND),
        ("Kungkuan", "TPE-1019", Match.SOUND),
        ("Hsimen", "TPE-1018", Match.SOUND),
        # Homophones a speech recogniser writes.
        ("南京富興", "TPE-1014", Match.SOUND),
        ("雙蓮", "TPE-1024", Match.SOUND),
        ("國父紀年館", "TPE-1008", Match.SOUND),
        # Typos in either script.
        ("zhongxiao fuxng", "TPE-1006", Match.FUZZY),
        ("Raohe Stret Night Market", "TPE-1011", Match.FUZZY),
        ("饒河街觀光液市", "TPE-1011", Match.SOUND),
        # Landmarks and short names.
        ("北車", "TPE-1001", Match.EXACT),
        ("故宮", "TPE-1031", Match.EXACT),
    ],
)
def test_forgiving_queries_find_the_stop(
    index: StopSearchIndex, query: str, stop_id: str, match: Match
) -> None:
    assert top(index, query) == (stop_id, match)


def test_ranking_exact_before_prefix_before_words() -> None:
    index = StopSearchIndex.build(
        [
            ("A", "中山國中", "Zhongshan Junior High School"),
            ("B", "捷運中山站", "MRT Zhongshan Sta."),
            ("C", "中山", "Zhongshan"),
            ("D", "民權中山路口", "Minquan Zhongshan Intersection"),
        ]
    )
    hits = index.search("中山")
    assert [(h.stop_id, h.match) for h in hits] == [
        ("C", Match.EXACT),  # the shorter name first among equals
        ("B", Match.EXACT),  # 中山 once 捷運 and 站 are set aside
        ("A", Match.PREFIX),
        ("D", Match.WORDS),
    ]


def test_sound_ranks_after_written_matches_and_typos_only_when_nothing_else() -> None:
    index = StopSearchIndex.build(
        [("A", "雙連", "Shuanglian"), ("B", "雙蓮街", "Shuanglian Street"), ("C", "外雙溪", "")]
    )
    hits = index.search("雙連")
    assert [(h.stop_id, h.match) for h in hits] == [("A", Match.EXACT), ("B", Match.SOUND)]
    # A near spelling is looked for only when nothing matched otherwise.
    assert [h.match for h in index.search("shuanglian")] == [Match.EXACT, Match.PREFIX]
    assert [(h.stop_id, h.match) for h in index.search("shuanglan")] == [("A", Match.FUZZY)]


@pytest.mark.parametrize(
    "query",
    [
        "qwertyuiop",
        "hello world",
        "xyz",
        "zz",
        "asdfgh jkl",
        "12345",
        "今天天氣很好",
        "站站站站",
        "%",
        "_",
    ],
)
def test_nonsense_finds_nothing(index: StopSearchIndex, query: str) -> None:
    assert index.search(query) == []


def test_empty_and_control_characters(index: StopSearchIndex) -> None:
    assert index.search("") == []
    assert index.search("  \x00 ") == []
    assert index.search("臺北車站", limit=0) == []
    assert top(index, "臺北\x00車站") == ("TPE-1001", Match.WORDS)  # a NUL is a space


def test_a_query_with_a_suffix_does_not_widen_to_every_name_starting_alike(
    index: StopSearchIndex,
) -> None:
    # 台北車站 without 車站 is 臺北, which starts 臺北101/世貿 too: the typed query wins.
    assert [h.stop_id for h in index.search("台北车站")] == ["TPE-1001"]


def test_strip_affixes() -> None:
    assert strip_affixes("忠孝復興站") == "忠孝復興"
    assert strip_affixes("捷運市政府站") == "市政府"
    assert strip_affixes("臺北車站") == "臺北"
    assert strip_affixes("mrt taipei city hall sta.") == "taipei city hall"
    assert strip_affixes("songshan station") == "songshan"
    assert strip_affixes("站") == "站"  # nothing would be left
    assert strip_affixes("北站") == "北站"  # a one-character name keeps its 站


@pytest.mark.parametrize(
    ("spellings", "name"),
    [
        (("Chunghsiao Fuhsing", "Jhongsiao Fusing", "Jungshiau Fushing", "zhong xiao fu xing"),
         "忠孝復興"),
        (("Nanking Fuhsing", "南京富興", "nan jing fu xing"), "南京復興"),
        (("Shuanglien", "雙蓮", "shuang lian"), "雙連"),
        (("Taipei", "tai bei"), "臺北"),
        (("Kungkuan", "gong guan"), "公館"),
        (("Minchuan", "min quan"), "民權"),
        (("Shihlin", "shi lin"), "士林"),
        (("Chientan", "jian tan"), "劍潭"),
        (("Sinyi", "Hsinyi"), "信義"),
    ],
)  # fmt: skip
def test_sound_key_meets_romanisations_and_homophones(
    spellings: tuple[str, ...], name: str
) -> None:
    expected = sound_key(normalize(name))
    assert expected
    for spelling in spellings:
        assert sound_key(normalize(spelling)) == expected, spelling


def test_sound_key_tells_different_names_apart() -> None:
    names = [zh for zh, *_rest in STOPS.values()]
    keys = {sound_key(normalize(name)) for name in names}
    assert len(keys) == len(names)
    assert sound_key("") == ""
    assert sound_key("!!!") == ""


def test_romanised_word() -> None:
    assert romanised_word("nanking") == "nanjing"
    assert romanised_word("hsin") == "xin"
    assert romanised_word("shih") == "shi"
    assert romanised_word("lien") == "lian"
    assert romanised_word("zhongxiao") == "zhongxiao"  # pinyin stays pinyin
