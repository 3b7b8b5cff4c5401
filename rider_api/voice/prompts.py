"""What the rider hears back, in zh-TW and English: read-backs and questions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker_config.messages import Localized
from rider_api.voice.lexicon import COLORS_EN
from rider_api.voice.network import Route, RouteDirection, Stop, StopGroup, parse_route_name
from rider_api.voice.normalize import spoken_en

__all__ = ["Notes", "choice_label", "proposal_prompt", "route_name_en", "route_name_zh"]


@dataclass(frozen=True, slots=True)
class Notes:
    """What went wrong while parsing, worth telling the rider."""

    unknown_routes: tuple[str, ...] = ()  # "999", "紅99": said but not in the network
    stop_not_found: str | None = None  # the rider's words for a stop matching nothing
    not_served: StopGroup | None = None  # a real stop the said route does not call at
    direction_not_found: str | None = None


# Taipei's route variants: 262區 is the short-turn 262, 307副 a branch of 307.
_SUFFIXES_EN = {"區": "Shuttle", "副": "Branch", "直": "Express", "直達": "Express", "夜": "Night"}


def _localized(zh: str, en: str) -> Localized:
    return Localized.model_validate({"zh-TW": zh, "en": en})


def route_name_zh(route: Route) -> str:
    """ "307路", "紅30", "信義幹線": the way it is said in Mandarin."""
    return f"{route.short_name}路" if route.short_name.isdigit() else route.short_name


def route_name_en(route: Route) -> str:
    """ "Route 307", "Route Red 30", "Xinyi Main Line"."""
    if route.short_name_en:
        name = route.short_name_en
    else:
        name = _spoken_number_en(route.short_name) or route.long_name_en or route.short_name
    return f"Route {name}" if any(char.isdigit() for char in name) else name


def _spoken_number_en(short_name: str) -> str | None:
    key = parse_route_name(short_name)
    if key is None:
        return None
    color, number, suffix = key
    if suffix and suffix not in _SUFFIXES_EN:
        return short_name
    name = f"{COLORS_EN[color]} {number}" if color else number
    return f"{name} {_SUFFIXES_EN[suffix]}" if suffix else name


def _headsign_zh(direction: RouteDirection) -> str:
    return "往" + direction.headsign_zh.removeprefix("往")


def _headsign_en(direction: RouteDirection) -> str:
    headsign = direction.headsign_en
    for prefix in ("To ", "to ", "Towards ", "towards "):
        headsign = headsign.removeprefix(prefix)
    return "towards " + spoken_en(headsign)


def choice_label(route: Route, direction: RouteDirection, stop: Stop) -> Localized:
    return _localized(
        f"{route_name_zh(route)} {_headsign_zh(direction)}，{stop.name_zh}",
        f"{route_name_en(route)} {_headsign_en(direction)}, at {spoken_en(stop.name_en)}",
    )


def proposal_prompt(
    *,
    route: Route | None,
    direction: RouteDirection | None,
    stop: Stop | None,
    choices: Sequence[Localized],
    notes: Notes,
    routes_here: Sequence[Route] = (),
) -> Localized:
    """A read-back when the proposal is complete, otherwise what is known and a question."""
    zh: list[str] = []
    en: list[str] = []
    for spoken in notes.unknown_routes:
        zh.append(f"找不到{spoken if not spoken.isdigit() else spoken + '路'}。")
        en.append(f"I could not find route {_spoken_number_en(spoken) or spoken}.")
    if notes.not_served is not None and route is not None:
        zh.append(f"{route_name_zh(route)}不停靠{notes.not_served.name_zh}。")
        en.append(f"{route_name_en(route)} does not stop at {spoken_en(notes.not_served.name_en)}.")
    elif notes.stop_not_found is not None:
        zh.append(f"找不到「{notes.stop_not_found}」這個站。")
        en.append(f"I could not find the stop “{notes.stop_not_found}”.")
    if notes.direction_not_found is not None and route is not None and direction is None:
        zh.append(f"{route_name_zh(route)}不往「{notes.direction_not_found}」。")
        en.append(f"{route_name_en(route)} does not go towards “{notes.direction_not_found}”.")

    if route is not None and direction is not None and stop is not None:
        zh.append(f"{route_name_zh(route)} {_headsign_zh(direction)}，在{stop.name_zh}上車，對嗎？")
        en.append(
            f"{route_name_en(route)} {_headsign_en(direction)}, boarding at "
            f"{spoken_en(stop.name_en)}. Is that right?"
        )
        if len(choices) > 1:
            zh.append("也可能是：" + "；".join(c.zh_tw for c in choices[1:]) + "。")
            en.append("Or did you mean: " + "; or ".join(c.en for c in choices[1:]) + "?")
        return _localized("".join(zh), " ".join(en))

    known_zh: list[str] = []
    known_en: list[str] = []
    if route is not None:
        known_zh.append(route_name_zh(route) + (f" {_headsign_zh(direction)}" if direction else ""))
        known_en.append(route_name_en(route) + (f" {_headsign_en(direction)}" if direction else ""))
    if stop is not None:
        known_zh.append(f"在{stop.name_zh}上車")
        known_en.append(f"boarding at {spoken_en(stop.name_en)}")
    if known_zh and not (notes.not_served is not None and stop is None and direction is None):
        zh.append("，".join(known_zh) + "。")
        sentence = ", ".join(known_en)
        en.append(_upper_first(sentence) + ".")

    if choices:
        zh.append("請問是哪一個：" + "；還是".join(c.zh_tw for c in choices) + "？")
        en.append("Which one: " + "; or ".join(c.en for c in choices) + "?")
    elif route is None and stop is None and not notes.unknown_routes and not known_zh:
        zh.append("請說出要搭的路線、方向和上車站。")
        en.append("Please say the bus route, the direction and the stop where you will board.")
    else:
        if route is None and routes_here:
            names_zh = [route_name_zh(r) for r in routes_here]
            names_en = [route_name_en(r) for r in routes_here]
            zh.append(f"請問要搭哪一路公車：{'、'.join(names_zh[:-1])}還是{names_zh[-1]}？")
            en.append(f"Which bus route: {', '.join(names_en[:-1])} or {names_en[-1]}?")
        elif route is None:
            zh.append("請問要搭哪一路公車？")
            en.append("Which bus route would you like?")
        elif direction is None:
            if len(route.directions) == 2:
                first, second = route.directions
                zh.append(f"請問{_headsign_zh(first)}還是{_headsign_zh(second)}？")
                en.append(f"{_upper_first(_headsign_en(first))} or {_headsign_en(second)}?")
            else:
                zh.append("請問往哪個方向？")
                en.append("Which direction?")
        if stop is None:
            zh.append("請問在哪一站上車？")
            en.append("Which stop will you board at?")
    return _localized("".join(zh), " ".join(en))


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]
