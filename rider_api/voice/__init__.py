"""Voice and typed booking: an utterance -> a booking proposal (``POST /v1/voice/intents``).

Pure: no database, no HTTP. The caller builds a :class:`NetworkIndex` from the loaded
network (see ``rider_api.voice.network``) and calls :func:`parse_intent`.
"""

from rider_api.voice.intents import parse_intent
from rider_api.voice.network import NetworkIndex, Route, RouteDirection, Stop
from rider_api.voice.proposal import Choice, IntentProposal

__all__ = [
    "Choice",
    "IntentProposal",
    "NetworkIndex",
    "Route",
    "RouteDirection",
    "Stop",
    "parse_intent",
]
