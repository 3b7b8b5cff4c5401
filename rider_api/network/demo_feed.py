"""The synthetic Taipei demo feed: how rider_api/data/taipei_demo/ is generated.

SYNTHETIC: real Taipei route numbers and stop names with approximate real coordinates,
but invented paths and timetables. Not an official timetable. Regenerate with
``python -m rider_api.network.demo_feed rider_api/data/taipei_demo``.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["DEMO_FEED", "ROUTES", "STOPS", "write_demo_feed"]

DEMO_FEED = Path(__file__).resolve().parent.parent / "data" / "taipei_demo"

#: stop_id: (zh-TW name, English name, lat, lon, tts zh, tts en)
STOPS: dict[str, tuple[str, str, float, float, str, str]] = {
    "TPE-1001": ("臺北車站", "Taipei Main Station", 25.0463, 121.5170, "", ""),
    "TPE-1002": ("北門", "Beimen", 25.0494, 121.5103, "", ""),
    "TPE-1003": ("善導寺", "Shandao Temple", 25.0448, 121.5233, "", ""),
    "TPE-1004": (
        "華山文創園區",
        "Huashan 1914 Creative Park",
        25.0441,
        121.5294,
        "",
        "Huashan nineteen fourteen Creative Park",
    ),
    "TPE-1005": ("忠孝新生", "Zhongxiao Xinsheng", 25.0424, 121.5330, "", ""),
    "TPE-1006": ("忠孝復興", "Zhongxiao Fuxing", 25.0415, 121.5438, "", ""),
    "TPE-1007": ("忠孝敦化", "Zhongxiao Dunhua", 25.0413, 121.5510, "", ""),
    "TPE-1008": ("國父紀念館", "Sun Yat-sen Memorial Hall", 25.0413, 121.5577, "", ""),
    "TPE-1009": (
        "捷運市政府站",
        "MRT Taipei City Hall Sta.",
        25.0412,
        121.5654,
        "",
        "M R T Taipei City Hall Station",
    ),
    "TPE-1010": (
        "臺北101/世貿",
        "Taipei 101 / World Trade Center",
        25.0330,
        121.5637,
        "臺北一零一，世貿",
        "Taipei one oh one, World Trade Center",
    ),
    "TPE-1011": ("饒河街觀光夜市", "Raohe Street Night Market", 25.0510, 121.5775, "", ""),
    "TPE-1012": ("松山車站", "Songshan Station", 25.0493, 121.5779, "", ""),
    "TPE-1013": ("南京三民路口", "Nanjing Sanmin Intersection", 25.0516, 121.5640, "", ""),
    "TPE-1014": ("南京復興", "Nanjing Fuxing", 25.0521, 121.5440, "", ""),
    "TPE-1015": ("松江南京", "Songjiang Nanjing", 25.0520, 121.5330, "", ""),
    "TPE-1016": (
        "捷運中山站",
        "MRT Zhongshan Sta.",
        25.0527,
        121.5204,
        "",
        "M R T Zhongshan Station",
    ),
    "TPE-1017": ("中山堂", "Zhongshan Hall", 25.0432, 121.5103, "", ""),
    "TPE-1018": ("西門", "Ximen", 25.0421, 121.5081, "", ""),
    "TPE-1019": ("公館", "Gongguan", 25.0149, 121.5343, "", ""),
    # Written with 台 on purpose, as the MRT station is: search must find it as 臺電大樓.
    "TPE-1020": ("台電大樓", "Taipower Building", 25.0207, 121.5282, "", ""),
    "TPE-1021": ("古亭", "Guting", 25.0263, 121.5229, "", ""),
    "TPE-1022": ("中正紀念堂", "Chiang Kai-shek Memorial Hall", 25.0353, 121.5183, "", ""),
    "TPE-1023": (
        "臺大醫院",
        "NTU Hospital",
        25.0413,
        121.5163,
        "",
        "National Taiwan University Hospital",
    ),
    "TPE-1024": ("雙連", "Shuanglian", 25.0577, 121.5206, "", ""),
    "TPE-1025": ("民權西路", "Minquan W. Rd.", 25.0626, 121.5193, "", "Minquan West Road"),
    "TPE-1026": ("圓山", "Yuanshan", 25.0713, 121.5201, "", ""),
    "TPE-1027": ("捷運劍潭站", "MRT Jiantan Sta.", 25.0848, 121.5250, "", "M R T Jiantan Station"),
    "TPE-1028": ("捷運士林站", "MRT Shilin Sta.", 25.0935, 121.5262, "", "M R T Shilin Station"),
    "TPE-1029": ("士林官邸", "Shilin Official Residence", 25.0930, 121.5307, "", ""),
    "TPE-1030": ("外雙溪", "Waishuangxi", 25.0990, 121.5420, "", ""),
    "TPE-1031": ("故宮博物院", "National Palace Museum", 25.1024, 121.5485, "", ""),
    "TPE-1032": ("科技大樓", "Technology Building", 25.0261, 121.5434, "", ""),
    "TPE-1033": ("捷運大安站", "MRT Daan Sta.", 25.0330, 121.5434, "", "M R T Da-an Station"),
    "TPE-1034": ("中山國中", "Zhongshan Junior High School", 25.0609, 121.5442, "", ""),
    "TPE-1035": ("松山機場", "Songshan Airport", 25.0630, 121.5520, "", ""),
}

#: route_id: (short name, long name zh-TW, long name en, colour, stops of direction 0)
#: English short names where the Chinese one has characters (colour routes, main lines).
SHORT_NAMES_EN = {"ZX": "Zhongxiao Main Line", "R30": "Red 30", "BR9": "Brown 9"}

ROUTES: dict[str, tuple[str, str, str, str, Sequence[int]]] = {
    "ZX": (
        "忠孝幹線",
        "北門－臺北101/世貿",
        "Zhongxiao Main Line: Beimen - Taipei 101",
        "",
        (1002, 1001, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010),
    ),
    "307": (
        "307",
        "饒河街觀光夜市－西門",
        "Raohe Street Night Market - Ximen",
        "",
        (1011, 1012, 1013, 1014, 1015, 1016, 1001, 1017, 1018),
    ),
    "262": (
        "262",
        "公館－圓山",
        "Gongguan - Yuanshan",
        "",
        (1019, 1020, 1021, 1022, 1023, 1001, 1016, 1024, 1025, 1026),
    ),
    "R30": (
        "紅30",
        "圓山－故宮博物院",
        "Red 30: Yuanshan - National Palace Museum",
        "E3002C",
        (1026, 1027, 1028, 1029, 1030, 1031),
    ),
    "BR9": (
        "棕9",
        "科技大樓－松山機場",
        "Brown 9: Technology Building - Songshan Airport",
        "C48C31",
        (1032, 1033, 1006, 1014, 1034, 1035),
    ),
}

SERVICE_ID = "DAILY"
FIRST_DEPARTURE_S = 5 * 3600 + 30 * 60
LAST_DEPARTURE_S = 23 * 3600
#: A late trip after midnight, written as 24:10:00 as GTFS allows.
NIGHT_TRIP = ("307", 0, 24 * 3600 + 10 * 60)
_PEAKS = ((7 * 3600, 9 * 3600), (17 * 3600, 19 * 3600 + 30 * 60))
_DWELL_S = {"TPE-1001": 30}


def _headway_s(t: int) -> int:
    return 600 if any(start <= t < end for start, end in _PEAKS) else 900


def _run_s(a: str, b: str) -> int:
    """Driving time between two stops: 1.4 x the straight line at 18 km/h, whole minutes."""
    _, _, lat1, lon1, _, _ = STOPS[a]
    _, _, lat2, lon2, _, _ = STOPS[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    metres = 2 * 6_371_000 * math.asin(math.sqrt(h))
    return max(60, math.ceil(metres * 1.4 / (18 / 3.6) / 60) * 60)


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _write(
    folder: Path, name: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    with (folder / name).open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_demo_feed(folder: Path) -> None:
    """Write the synthetic feed's .txt files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(
        folder,
        "feed_info.txt",
        (
            "feed_publisher_name",
            "feed_publisher_url",
            "feed_lang",
            "default_lang",
            "feed_start_date",
            "feed_end_date",
            "feed_version",
        ),
        [
            (
                "BusHail SYNTHETIC demo feed (合成示範資料，非官方時刻表)",
                "https://bushail.org",
                "zh-TW",
                "en",
                "20250101",
                "20271231",
                "synthetic-1",
            )
        ],
    )
    _write(
        folder,
        "agency.txt",
        ("agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"),
        [
            (
                "TPE-DEMO",
                "臺北市公車（合成示範資料）",
                "https://bushail.org/demo",
                "Asia/Taipei",
                "zh-TW",
            )
        ],
    )
    _write(
        folder,
        "stops.txt",
        ("stop_id", "stop_name", "tts_stop_name", "stop_lat", "stop_lon", "wheelchair_boarding"),
        [
            (sid, zh, tts_zh, f"{lat:.4f}", f"{lon:.4f}", 1)
            for sid, (zh, _en, lat, lon, tts_zh, _tts_en) in STOPS.items()
        ],
    )
    _write(
        folder,
        "routes.txt",
        (
            "route_id",
            "agency_id",
            "route_short_name",
            "route_long_name",
            "route_type",
            "route_color",
            "route_text_color",
        ),
        [
            (rid, "TPE-DEMO", short, long_zh, 3, color, "FFFFFF" if color else "")
            for rid, (short, long_zh, _long_en, color, _stops) in ROUTES.items()
        ],
    )
    _write(
        folder,
        "calendar.txt",
        (
            "service_id",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "start_date",
            "end_date",
        ),
        [(SERVICE_ID, 1, 1, 1, 1, 1, 1, 1, "20250101", "20271231")],
    )
    trips: list[tuple[object, ...]] = []
    stop_times: list[tuple[object, ...]] = []
    for route_id, (_short, _zh, _en, _color, numbers) in ROUTES.items():
        for direction_id in (0, 1):
            stop_ids = [f"TPE-{n}" for n in (numbers if direction_id == 0 else numbers[::-1])]
            starts = []
            t = FIRST_DEPARTURE_S
            while t <= LAST_DEPARTURE_S:
                starts.append(t)
                t += _headway_s(t)
            if NIGHT_TRIP[:2] == (route_id, direction_id):
                starts.append(NIGHT_TRIP[2])
            headsign = STOPS[stop_ids[-1]][0]
            for start in starts:
                trip_id = f"{route_id}-{direction_id}-{start // 3600:02d}{start // 60 % 60:02d}"
                trips.append((route_id, SERVICE_ID, trip_id, headsign, direction_id))
                t = start
                for seq, stop_id in enumerate(stop_ids, start=1):
                    if seq > 1:
                        t += _run_s(stop_ids[seq - 2], stop_id)
                    dwell = _DWELL_S.get(stop_id, 0) if 1 < seq < len(stop_ids) else 0
                    stop_times.append((trip_id, _hms(t), _hms(t + dwell), stop_id, seq))
                    t += dwell
    _write(
        folder,
        "trips.txt",
        ("route_id", "service_id", "trip_id", "trip_headsign", "direction_id"),
        trips,
    )
    _write(
        folder,
        "stop_times.txt",
        ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
        stop_times,
    )

    translations: list[tuple[str, ...]] = [
        ("agency", "agency_name", "en", "Taipei City Bus (synthetic demo data)", "TPE-DEMO", ""),
    ]
    for sid, (_zh, en, _lat, _lon, _tts_zh, tts_en) in STOPS.items():
        translations.append(("stops", "stop_name", "en", en, sid, ""))
        if tts_en:
            translations.append(("stops", "tts_stop_name", "en", tts_en, sid, ""))
    for rid, (_short, _zh, long_en, _color, _stops) in ROUTES.items():
        translations.append(("routes", "route_long_name", "en", long_en, rid, ""))
        if rid in SHORT_NAMES_EN:
            translations.append(("routes", "route_short_name", "en", SHORT_NAMES_EN[rid], rid, ""))
    terminals = sorted({f"TPE-{n}" for r in ROUTES.values() for n in (r[4][0], r[4][-1])})
    for sid in terminals:
        # By field_value: one line translates the headsign of every trip showing it.
        translations.append(("trips", "trip_headsign", "en", STOPS[sid][1], "", STOPS[sid][0]))
    _write(
        folder,
        "translations.txt",
        ("table_name", "field_name", "language", "translation", "record_id", "field_value"),
        translations,
    )


if __name__ == "__main__":
    write_demo_feed(Path(sys.argv[1]) if len(sys.argv) > 1 else DEMO_FEED)
