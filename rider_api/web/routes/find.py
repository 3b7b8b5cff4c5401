"""GET /find: stops by name (forgiving: 站, typos, pinyin, older romanisations) or near
the rider's position, with the distance, the direction in words and the walk."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from broker_config.messages import Lang
from rider_api.api.deps import LatitudeQuery, LongitudeQuery, StateDep
from rider_api.network.geo import Walk, spoken_metres
from rider_api.network.queries import NEAR_RADIUS_M, FoundStop, find_stops, stops_near
from rider_api.network.search import Match
from rider_api.web.deps import OptionalRider
from rider_api.web.rate_limits import SearchPageLimit
from rider_api.web.strings import t
from rider_api.web.views import page_lang, render, to_start

__all__ = ["router", "walk_text"]

router = APIRouter()
HeadingQuery = Annotated[float | None, Query(ge=0, lt=360)]


def walk_text(walk: Walk, lang: Lang) -> str:
    """ "120 m north-east, about 3 min walk" / "東北方 120 公尺，步行約 3 分鐘" (or "at 2
    o'clock" when the rider's heading is known)."""
    zh, en = walk.direction_words()
    return t(
        "walk_clock" if walk.clock is not None else "walk_compass",
        lang,
        direction=zh if lang == "zh-TW" else en,
        m=spoken_metres(walk.distance_m),
        min=walk.walk_min,
    )


def _items(found: list[FoundStop], lang: Lang) -> list[dict[str, Any]]:
    items = []
    for f in found:
        close = {Match.SOUND: "match_sound", Match.FUZZY: "match_fuzzy"}.get(f.match or Match.EXACT)
        items.append(
            {
                "stop_id": f.stop.stop_id,
                "name": f.stop.name.get(lang),
                "walk": walk_text(f.walk, lang) if f.walk is not None else None,
                "close": t(close, lang) if close else None,
            }
        )
    return items


@router.get("/find", dependencies=[SearchPageLimit])
async def find(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    q: Annotated[str, Query(max_length=100)] = "",
    lat: LatitudeQuery = None,
    lon: LongitudeQuery = None,
    heading: HeadingQuery = None,
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    near = lat is not None and lon is not None
    query = q.strip()
    if not query and not near:
        errors = [{"field": "q", "text": t("err_query", lang)}]
        return render(request, "find.html", lang, status_code=422, errors=errors, q="")
    summary = ""
    if query or lat is None or lon is None:
        found = find_stops(state.network, query=query, lat=lat, lon=lon, heading=heading)
        close = bool(found) and all(f.match in (Match.SOUND, Match.FUZZY) for f in found)
        summary = t("results_close", lang, q=query) if close else ""
    else:
        nearby = stops_near(state.network, lat=lat, lon=lon, heading=heading)
        found = nearby.stops
        radius = int(nearby.radius_m)
        if not found:
            summary = t("near_none", lang, r=radius)
        elif nearby.widened:
            summary = t("near_wider", lang, first=int(NEAR_RADIUS_M), r=radius, n=len(found))
        else:
            summary = t("near_within", lang, r=radius, n=len(found))
    return render(
        request,
        "results.html",
        lang,
        hits=_items(found, lang),
        q=query,
        near=near and not query,
        summary=summary,
        errors=[],
    )
