"""The audit log of operator actions: written in the transaction of the action, read by
/ops/audit, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import Localized, utcnow
from rider_api.console.sessions import Operator
from rider_api.models import OperatorAudit

__all__ = ["AuditAction", "AuditPage", "announcement_detail", "audit_page", "record"]

DETAIL_MAX = 500


class AuditAction(StrEnum):
    """What an operator did; each has a label ``audit.action.<value>`` in the console."""

    LOGIN = "login"
    LOGIN_FAILED = "login.failed"
    LOGOUT = "logout"
    BROADCAST = "broadcast"
    CANCEL = "reservation.cancel"
    #: A device's broker password changed, its access withdrawn or given back.
    DEVICE_ROTATE = "device.rotate"
    DEVICE_REVOKE = "device.revoke"
    DEVICE_RESTORE = "device.restore"


def record(
    session: AsyncSession,
    *,
    action: AuditAction,
    operator: Operator | None,
    client: str | None = None,
    target: str | None = None,
    detail: str | None = None,
) -> OperatorAudit:
    """Add an audit row to ``session``: it commits, or not, with the action itself.

    ``client`` is needed only without an ``operator`` (who carries their address).
    """
    row = OperatorAudit(
        at=utcnow(),
        operator=operator.label if operator is not None else None,
        action=action.value,
        target=target[:200] if target else None,
        detail=detail[:DETAIL_MAX] if detail else None,
        client=(operator.client if operator is not None else client) or None,
    )
    session.add(row)
    return row


def announcement_detail(text: Localized, *, priority: str, stops: int) -> str:
    """What the log says of an announcement: its priority, reach and both texts."""
    reach = f"{stops} stop" if stops == 1 else f"{stops} stops"
    return f"{priority}; {reach}; zh-TW: {text.get('zh-TW')}; en: {text.get('en')}"


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of the log, newest first; pages count from 1."""

    rows: list[OperatorAudit]
    page: int
    pages: int
    total: int


async def audit_page(session: AsyncSession, *, page: int, size: int) -> AuditPage:
    """Page ``page`` of the log (the last page if ``page`` is past it)."""
    total = (await session.exec(select(func.count()).select_from(OperatorAudit))).one()
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    rows = (
        await session.exec(
            select(OperatorAudit)
            .order_by(col(OperatorAudit.id).desc())
            .offset((page - 1) * size)
            .limit(size)
        )
    ).all()
    return AuditPage(rows=list(rows), page=page, pages=pages, total=total)
