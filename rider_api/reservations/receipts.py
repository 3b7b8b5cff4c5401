"""Receipts for device events: the device stops re-sending an event when it hears one.

A receipt is written in the same transaction as what the event did (or the record that
it was refused), through the outbox, so "done" means stored. A copy of an event already
applied gets a ``duplicate`` receipt: the device may have missed the first one.
"""

from __future__ import annotations

import uuid
from typing import Literal

from broker_config.messages import EventReceipt, utcnow
from rider_api.db.unit_of_work import UnitOfWork

__all__ = ["Outcome", "send_receipt"]

Outcome = Literal["applied", "duplicate", "refused"]


def send_receipt(
    uow: UnitOfWork,
    topic: str,
    event_id: uuid.UUID,
    outcome: Outcome,
    detail: str | None = None,
    *,
    reservation_id: uuid.UUID | None = None,
) -> None:
    """Queue the receipt of ``event_id`` on the device's receipts ``topic``.

    With ``reservation_id`` it leaves after that reservation's messages of the same
    transaction (the device sees the effect, then the receipt).
    """
    receipt = EventReceipt(event_id=event_id, outcome=outcome, detail=detail, at=utcnow())
    uow.enqueue(topic, receipt, reservation_id=reservation_id, qos=1, retain=False)
