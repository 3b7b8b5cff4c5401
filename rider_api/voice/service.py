"""The parser against the running server's network: index building, caching, proposals.

The rest of this package is pure; this module is where it meets the loaded network. Both
``POST /v1/voice/intents`` and the rider web app's ``/voice`` page call
``AppState.voice.propose``.
"""

from __future__ import annotations

import asyncio

from broker_config.messages import Lang
from rider_api.network.view import NetworkView
from rider_api.voice.intents import parse_intent
from rider_api.voice.network import NetworkIndex, Route, RouteDirection, Stop
from rider_api.voice.proposal import IntentProposal

__all__ = ["VoiceService", "build_index"]


def build_index(network: NetworkView) -> NetworkIndex:
    """The parser's view of the loaded network."""
    stops = tuple(
        Stop(s.stop_id, name_zh=s.name.zh_tw, name_en=s.name.en, lat=s.lat, lon=s.lon)
        for s in network.stops.values()
    )
    directions: dict[str, list[RouteDirection]] = {}
    for (route_id, direction_id), info in sorted(network.directions.items()):
        directions.setdefault(route_id, []).append(
            RouteDirection(
                direction_id,
                headsign_zh=info.headsign.zh_tw,
                headsign_en=info.headsign.en,
                stop_ids=tuple(s for s in info.stop_ids if s in network.stops),
            )
        )
    routes = tuple(
        Route(
            r.route_id,
            short_name=r.short_name,
            long_name_zh=r.long_name.zh_tw,
            long_name_en=r.long_name.en,
            directions=tuple(directions.get(r.route_id, ())),
            short_name_en=r.short_name_en or "",
        )
        for r in network.routes.values()
    )
    return NetworkIndex(stops=stops, routes=routes)


class VoiceService:
    """Proposals against the loaded network; the parser's index is built once per
    NetworkView (a new import makes a new view, hence a new index)."""

    def __init__(self) -> None:
        #: The indexes of the last two views: the current one, and the next one while
        #: it is being swapped in (requests in between still use the current).
        self._cached: list[tuple[NetworkView, NetworkIndex]] = []

    async def prepare(self, network: NetworkView) -> None:
        """Build ``network``'s index in a worker thread (a second or more for a big city's
        stops): the loop keeps serving with the current one meanwhile."""
        self._keep(network, await asyncio.to_thread(build_index, network))

    def index(self, network: NetworkView) -> NetworkIndex:
        for view, built in self._cached:
            if view is network:
                return built
        return self._keep(network, build_index(network))

    def _keep(self, network: NetworkView, built: NetworkIndex) -> NetworkIndex:
        self._cached = [*(c for c in self._cached if c[0] is not network)][-1:]
        self._cached.append((network, built))
        return built

    def propose(
        self,
        network: NetworkView,
        text: str,
        *,
        lang: Lang,
        lat: float | None = None,
        lon: float | None = None,
    ) -> IntentProposal:
        """Parse ``text`` against ``network``; books nothing."""
        return parse_intent(text, self.index(network), lang=lang, lat=lat, lon=lon)
