"""What the parser answers: the proposal and its choices (the body of the HTTP reply)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker_config.messages import Localized

__all__ = ["Choice", "IntentProposal"]


@dataclass(frozen=True, slots=True)
class Choice:
    """One complete alternative for the rider to pick."""

    stop_id: str
    route_id: str
    direction_id: int
    label: Localized

    def as_dict(self) -> dict[str, Any]:
        return {
            "stop_id": self.stop_id,
            "route_id": self.route_id,
            "direction_id": self.direction_id,
            "label": self.label.model_dump(by_alias=True),
        }


@dataclass(frozen=True, slots=True)
class IntentProposal:
    """The parse of one utterance; unknown parts are None. Books nothing by itself."""

    stop_id: str | None
    route_id: str | None
    direction_id: int | None
    confidence: float
    prompt: Localized
    choices: tuple[Choice, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of ``POST /v1/voice/intents``."""
        return {
            "stop_id": self.stop_id,
            "route_id": self.route_id,
            "direction_id": self.direction_id,
            "confidence": self.confidence,
            "prompt": self.prompt.model_dump(by_alias=True),
            "choices": [choice.as_dict() for choice in self.choices],
        }
