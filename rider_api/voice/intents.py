"""Turn a spoken or typed request into a booking proposal (pure: no I/O, books nothing).

Every reading of the utterance is scored as a (route, direction, boarding stop) option;
a field is proposed only when the options that carry most of the weight agree on it,
and the confidence says how much the proposal can be trusted as a whole.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from broker_config.messages import Lang
from rider_api.voice.matching import best_groups, phrase_keys, similarity
from rider_api.voice.network import NetworkIndex, Route, StopGroup, distance_m
from rider_api.voice.normalize import normalize
from rider_api.voice.prompts import Notes, choice_label, proposal_prompt
from rider_api.voice.proposal import Choice, IntentProposal
from rider_api.voice.utterance import ParsedUtterance, Role, parse_utterance

__all__ = ["MAX_CHOICES", "MAX_ROUTE_CHOICES", "Choice", "IntentProposal", "parse_intent"]

logger = logging.getLogger(__name__)

MAX_CHOICES = 5  # alternatives when the stop or the direction is unsure
MAX_ROUTE_CHOICES = 8  # routes offered at a known stop when the route is not known
MAX_ROUTES_SAID = 5  # routes at a stop named in the question "which route?"
STOP_MIN = 0.55  # weakest phrase/name similarity still taken for a stop
DIRECTION_MIN = 0.55
ROUTE_NOT_SAID = 0.6  # weight of a route inferred from the stop or direction
STOP_NOT_SAID = 0.4
DIRECTION_NOT_SAID = 0.9  # an unsaid direction is often implied by the stop
MAX_WALK_M = 1000.0  # the nearest stop of a named route, if it is this close
HEADSIGN_ONLY_MIN = 0.7  # a destination alone must name a headsign clearly
NEARBY_M = 500.0  # stops considered when neither route nor stop is said
REPORT = 0.7  # share of the weight that must agree before a field is proposed
UNSURE = 0.6  # below this confidence, alternatives are offered
CHOICE_FLOOR = 0.25  # alternatives offered weigh at least this share of the best
_SHARPNESS = 8  # weights are score**8: 0.95 vs 0.77 is clear, 0.8 vs 0.75 is not


@dataclass(frozen=True, slots=True)
class _Option:
    route_id: str
    direction_id: int
    stop_id: str | None
    group: str | None
    c_route: float
    c_stop: float
    c_dir: float

    @property
    def score(self) -> float:
        return self.c_route * self.c_stop * self.c_dir

    @property
    def weight(self) -> float:
        return self.score**_SHARPNESS


@dataclass
class _Evidence:
    """What the utterance says, resolved against the network."""

    index: NetworkIndex
    location: tuple[float, float] | None
    routes: dict[str, float]
    board: list[frozenset[str]]
    direction: list[frozenset[str]]
    board_text: str | None
    direction_text: str | None
    unknown_routes: tuple[str, ...]
    _board_sims: dict[str, float] = field(default_factory=dict)
    _direction_sims: dict[str, float] | None = None

    def board_similarity(self, group: str) -> float:
        if group not in self._board_sims:
            keys = self.index.groups[group].keys
            self._board_sims[group] = max((similarity(p, keys) for p in self.board), default=0.0)
        return self._board_sims[group]

    def direction_similarity(self, group: str) -> float:
        """How well a stop further along matches the destination (0 when far off).

        Computed once per utterance over the n-gram candidates of the whole network, so
        checking every later stop of every route stays a dictionary lookup.
        """
        if self._direction_sims is None:
            self._direction_sims = {}
            for keys in self.direction:
                for found, score in best_groups(self.index, keys, DIRECTION_MIN, limit=40):
                    self._direction_sims[found.key] = max(
                        score, self._direction_sims.get(found.key, 0.0)
                    )
        return self._direction_sims.get(group, 0.0)

    def distance(self, stop_id: str) -> float | None:
        if self.location is None:
            return None
        stop = self.index.stop_by_id[stop_id]
        return distance_m(self.location[0], self.location[1], stop.lat, stop.lon)


def parse_intent(
    text: str,
    index: NetworkIndex,
    *,
    lang: Lang = "zh-TW",
    lat: float | None = None,
    lon: float | None = None,
) -> IntentProposal:
    """Parse ``text`` (spoken or typed, zh-TW or English) into a booking proposal.

    Both languages are understood whatever ``lang`` says (riders mix them); ``lang`` is
    logged only. ``lat``/``lon``, when both given, stand in for an unsaid stop (the
    nearest stop the route serves) and break ties between equally named stops.
    """
    parsed = parse_utterance(normalize(text), index)
    location = (lat, lon) if lat is not None and lon is not None else None
    evidence = _evidence(parsed, index, location)
    notes = Notes(unknown_routes=evidence.unknown_routes)
    options, notes = _options(evidence, notes)
    proposal = _decide(index, options, notes)
    logger.debug(
        "voice intent lang=%s routes=%s phrases=%s -> route=%s dir=%s stop=%s conf=%.2f",
        lang,
        [mention.spoken for mention in parsed.routes],
        [(phrase.text, phrase.role.value) for phrase in parsed.phrases],
        proposal.route_id,
        proposal.direction_id,
        proposal.stop_id,
        proposal.confidence,
    )
    return proposal


def _evidence(
    parsed: ParsedUtterance, index: NetworkIndex, location: tuple[float, float] | None
) -> _Evidence:
    routes: dict[str, float] = {}
    for mention in parsed.routes:
        for route_id in mention.route_ids:
            routes[route_id] = max(routes.get(route_id, 0.0), mention.strength)
    unknown = tuple(mention.spoken for mention in parsed.routes if not mention.route_ids)
    board = [p.text for p in parsed.phrases if p.role is Role.BOARD]
    direction = [p.text for p in parsed.phrases if p.role is Role.DIRECTION]
    loose = [p.text for p in parsed.phrases if p.role is Role.NONE]
    if not board and loose:
        # A bare place name is where the rider boards, if it names a stop at all.
        pool = _route_groups(index, routes) if routes else None
        scored = [(_best_stop_similarity(index, text, pool), text) for text in loose]
        score, text = max(scored)
        if score >= STOP_MIN:
            board.append(text)
            loose.remove(text)
    direction += loose
    return _Evidence(
        index=index,
        location=location,
        routes=routes,
        board=[phrase_keys(text) for text in board],
        direction=[phrase_keys(text) for text in direction],
        board_text=board[0] if board else None,
        direction_text=direction[0] if direction else None,
        unknown_routes=unknown,
    )


def _route_groups(index: NetworkIndex, routes: Iterable[str]) -> list[StopGroup]:
    keys = {
        index.group_of[stop_id]
        for route_id in routes
        for direction in index.route_by_id[route_id].directions
        for stop_id in direction.stop_ids
    }
    return [index.groups[key] for key in sorted(keys)]


def _best_stop_similarity(index: NetworkIndex, text: str, pool: list[StopGroup] | None) -> float:
    keys = phrase_keys(text)
    if pool is None:
        found = best_groups(index, keys, minimum=0.0, limit=1)
        return found[0][1] if found else 0.0
    return max((similarity(keys, group.keys) for group in pool), default=0.0)


def _distance_score(metres: float) -> float:
    """1 within 150 m (GPS error, the width of a road), then falling off with the walk."""
    return 1.0 if metres <= 150 else float(2.718281828 ** (-(metres - 150) / 400))


def _stop_score(evidence: _Evidence, stop_id: str, mode: str) -> float | None:
    """How well a stop fits what was said (or where the rider is); None: out of the running."""
    distance = evidence.distance(stop_id)
    if mode == "named":
        score = evidence.board_similarity(evidence.index.group_of[stop_id])
        if score < STOP_MIN:
            return None
        if distance is not None:
            score *= 0.85 + 0.15 * _distance_score(distance)
        return score
    if mode == "located" and distance is not None and distance <= MAX_WALK_M:
        return _distance_score(distance)
    return None


def _options(evidence: _Evidence, notes: Notes) -> tuple[list[_Option], Notes]:
    index = evidence.index
    raw: list[tuple[str, int, int | None, float, float]] = []  # route, dir, pos, c_route, c_stop
    if evidence.routes:
        mode = "named" if evidence.board else "located" if evidence.location else "unknown"
        if mode == "named":
            pool = _route_groups(index, evidence.routes)
            if max((evidence.board_similarity(g.key) for g in pool), default=0.0) < STOP_MIN:
                found = best_groups(index, evidence.board[0], STOP_MIN, limit=1)
                notes = _with(notes, found[0][0] if found else None, evidence.board_text)
                mode = "unknown"
        for route_id, strength in evidence.routes.items():
            for direction in index.route_by_id[route_id].directions:
                boardable = direction.stop_ids[:-1] or direction.stop_ids  # not where it ends
                scored = [
                    (position, _stop_score(evidence, stop_id, mode))
                    for position, stop_id in enumerate(boardable)
                ]
                scored_known = [(p, s) for p, s in scored if s is not None]
                if not scored_known:
                    raw.append((route_id, direction.direction_id, None, strength, STOP_NOT_SAID))
                for position, stop_score in scored_known:
                    raw.append((route_id, direction.direction_id, position, strength, stop_score))
    else:
        route_weight = ROUTE_NOT_SAID * (0.5 if evidence.unknown_routes else 1.0)
        stops: list[tuple[str, float]] = []
        if evidence.board:
            groups: dict[str, float] = {}
            for keys in evidence.board:
                for group, _score in best_groups(index, keys, STOP_MIN):
                    groups[group.key] = 1.0
            if not groups:
                notes = _with(notes, None, evidence.board_text)
            for key in groups:
                for stop_id in index.groups[key].stop_ids:
                    score = _stop_score(evidence, stop_id, "named")
                    if score is not None:
                        stops.append((stop_id, score))
        elif evidence.location is not None:
            nearby = sorted(
                (distance, stop.stop_id)
                for stop in index.stops
                if (distance := evidence.distance(stop.stop_id) or 0.0) <= NEARBY_M
            )[:10]
            stops = [(stop_id, _distance_score(distance)) for distance, stop_id in nearby]
        for stop_id, stop_score in stops:
            for route_id, direction_id, position in index.serving.get(stop_id, ()):
                pattern = index.route_by_id[route_id].direction(direction_id)
                if pattern is not None and position == len(pattern.stop_ids) - 1 > 0:
                    continue  # the bus ends its run here
                raw.append((route_id, direction_id, position, route_weight, stop_score))
        if not stops and evidence.direction and not evidence.board:
            # Only a destination: the routes that head there, boarding stop unknown.
            for route in index.routes:
                for direction in route.directions:
                    keys = index.headsign_keys[(route.route_id, direction.direction_id)]
                    if max(similarity(p, keys) for p in evidence.direction) >= HEADSIGN_ONLY_MIN:
                        entry = (route.route_id, direction.direction_id, None)
                        raw.append((*entry, route_weight, STOP_NOT_SAID))
    options = [_option(evidence, *entry) for entry in raw]
    if evidence.direction and options:
        if max(option.c_dir for option in options) < DIRECTION_MIN:
            notes = Notes(
                unknown_routes=notes.unknown_routes,
                stop_not_found=notes.stop_not_found,
                not_served=notes.not_served,
                direction_not_found=evidence.direction_text,
            )
            options = [_replace_dir(option, DIRECTION_NOT_SAID) for option in options]
    return _dedupe(options), notes


def _with(notes: Notes, not_served: StopGroup | None, text: str | None) -> Notes:
    return Notes(
        unknown_routes=notes.unknown_routes,
        stop_not_found=None if not_served is not None else text,
        not_served=not_served,
        direction_not_found=notes.direction_not_found,
    )


def _option(
    evidence: _Evidence,
    route_id: str,
    direction_id: int,
    position: int | None,
    c_route: float,
    c_stop: float,
) -> _Option:
    index = evidence.index
    pattern = index.route_by_id[route_id].direction(direction_id)
    assert pattern is not None  # noqa: S101 - positions come from the pattern itself
    stop_id = pattern.stop_ids[position] if position is not None else None
    c_dir = DIRECTION_NOT_SAID
    if evidence.direction:
        c_dir = max(similarity(keys, index.headsign_keys[(route_id, direction_id)])
                    for keys in evidence.direction)  # fmt: skip
        if position is not None:
            later = (index.group_of[s] for s in pattern.stop_ids[position + 1 :])
            c_dir = max(c_dir, 0.95 * max(map(evidence.direction_similarity, later), default=0.0))
        c_dir = max(c_dir, 0.05)
    return _Option(
        route_id=route_id,
        direction_id=direction_id,
        stop_id=stop_id,
        group=index.group_of[stop_id] if stop_id is not None else None,
        c_route=c_route,
        c_stop=c_stop,
        c_dir=c_dir,
    )


def _replace_dir(option: _Option, c_dir: float) -> _Option:
    return _Option(
        option.route_id,
        option.direction_id,
        option.stop_id,
        option.group,
        option.c_route,
        option.c_stop,
        c_dir,
    )


def _dedupe(options: list[_Option]) -> list[_Option]:
    best: dict[tuple[str, int, str | None], _Option] = {}
    for option in options:
        key = (option.route_id, option.direction_id, option.group)
        if key not in best or best[key].score < option.score:
            best[key] = option
    return sorted(best.values(), key=lambda option: -option.score)


def _decide(index: NetworkIndex, options: list[_Option], notes: Notes) -> IntentProposal:
    if not options or options[0].score < 0.02:
        prompt = proposal_prompt(route=None, direction=None, stop=None, choices=(), notes=notes)
        return IntentProposal(None, None, None, 0.0, prompt)
    best = options[0]
    cert_route = _share(options, lambda o: o.route_id)
    cert_dir = _share(options, lambda o: (o.route_id, o.direction_id))
    cert_stop = _share(options, lambda o: o.group)
    route = index.route_by_id[best.route_id] if cert_route >= REPORT else None
    direction = route.direction(best.direction_id) if route and cert_dir >= REPORT else None
    stop_id = best.stop_id if cert_stop >= REPORT else None
    confidence = best.score * max(cert_route, 0.5) * max(cert_dir, 0.5) * max(cert_stop, 0.5)
    confidence = round(min(1.0, max(0.0, confidence)), 2)

    complete = route is not None and direction is not None and stop_id is not None
    choices: list[Choice] = []
    routes_here: list[Route] = []
    floor = CHOICE_FLOOR * best.weight
    candidates = [o for o in options if o.stop_id is not None and o.weight >= floor]
    if route is None and stop_id is not None:
        # The stop is known, the route is not (unsaid, or not in the network): every
        # route boarding there is a choice, so the rider picks one instead of saying it.
        here = [o for o in candidates if o.group == best.group]
        here.sort(key=lambda o: (-o.weight, natural_order(index.route_by_id[o.route_id])))
        choices = [_choice(index, option) for option in here[:MAX_ROUTE_CHOICES]]
        served = {o.route_id for o in options if o.group == best.group}
        routes_here = [r for r in index.routes if r.route_id in served]
    elif not complete or confidence < UNSURE:
        if (len(candidates) >= 2 or not complete) and len(candidates) <= MAX_CHOICES:
            choices = [_choice(index, option) for option in candidates]
    prompt = proposal_prompt(
        route=route,
        direction=direction,
        stop=index.stop_by_id[stop_id] if stop_id is not None else None,
        # Route choices are offered as buttons; the question names the routes only.
        choices=[choice.label for choice in choices] if not routes_here else [],
        notes=notes,
        routes_here=routes_here if 2 <= len(routes_here) <= MAX_ROUTES_SAID else (),
    )
    return IntentProposal(
        stop_id=stop_id,
        route_id=route.route_id if route else None,
        direction_id=direction.direction_id if direction else None,
        confidence=confidence,
        prompt=prompt,
        choices=tuple(choices),
    )


def _share(options: list[_Option], value: Callable[[_Option], Hashable]) -> float:
    """How much of the weight backs the best option's value of one field.

    Each value counts with its best option only, so a stop served by five routes does not
    outweigh an equally well matched stop served by one.
    """
    weights: dict[Hashable, float] = {}
    for option in options:
        key = value(option)
        weights[key] = max(weights.get(key, 0.0), option.weight)
    return weights[value(options[0])] / sum(weights.values())


def natural_order(route: Route) -> tuple[tuple[int, int | str], ...]:
    """Routes as riders list them: "2" before "10", "262" before "紅30"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.split(r"(\d+)", route.short_name)
        if part
    )


def _choice(index: NetworkIndex, option: _Option) -> Choice:
    assert option.stop_id is not None  # noqa: S101 - only complete options are offered
    route = index.route_by_id[option.route_id]
    direction = route.direction(option.direction_id)
    assert direction is not None  # noqa: S101
    return Choice(
        stop_id=option.stop_id,
        route_id=option.route_id,
        direction_id=option.direction_id,
        label=choice_label(route, direction, index.stop_by_id[option.stop_id]),
    )
