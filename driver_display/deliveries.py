"""Where a driver's tap is, as the screen tells it: pure, no I/O.

A tap is ``sending`` from the moment it is stored until the server's receipt for it
arrives; then ``recorded`` (the server applied it, now or before) or ``refused`` with the
server's reason. The broker having a copy changes nothing here: it may have had nobody
to give it to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from broker_config.device.receipts import Outcome
from broker_config.messages import DriverEventType

__all__ = ["Delivery", "DeliveryState", "TapKey"]

DeliveryState = Literal["sending", "recorded", "refused"]

#: A reservation and an answer tapped for it (the latest such tap is the one shown).
TapKey = tuple[uuid.UUID, DriverEventType]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a tap is: ``sending`` until the server's receipt, then ``recorded`` (applied)
    or ``refused`` (``detail``: the server's reason, in English as the server wrote it)."""

    state: DeliveryState
    detail: str | None = None

    @classmethod
    def of(cls, outcome: Outcome | None, detail: str | None = None) -> Delivery:
        """The delivery of a tap settled with ``outcome`` (None: not settled yet)."""
        if outcome is None:
            return cls("sending")
        if outcome in ("applied", "duplicate"):
            return cls("recorded")
        return cls("refused", detail)
