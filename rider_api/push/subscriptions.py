"""A rider's push subscriptions: checked, stored, listed, removed, pruned.

An endpoint is a URL the server will POST to, given by a rider: it must be https (http
only on the loopback, and only when ``push_allow_loopback_http`` says so, for tests),
carry no user name or fragment, and, unless ``push_allowed_hosts`` is empty, belong to
a known push service. So a rider cannot point the server at an internal address.
The keys must be a P-256 point and a 16-byte secret, as browsers make them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import utcnow
from rider_api.core.problems import Problem
from rider_api.db.unit_of_work import UnitsOfWork
from rider_api.models import PushSubscription, Rider
from rider_api.models.push import PushSubscriptionCreate
from rider_api.settings import ApiSettings

__all__ = [
    "check_endpoint",
    "check_keys",
    "endpoint_problem",
    "list_subscriptions",
    "prune",
    "remove_subscription",
    "save_subscription",
    "subscribed_riders",
    "subscriptions_of",
]

logger = logging.getLogger(__name__)

_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problem(endpoint: str, settings: ApiSettings) -> str | None:
    """Why ``endpoint`` may not be sent to, or None when it may."""
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "it is not a URL"
    host = (parts.hostname or "").lower()
    if not host:
        return "it has no host"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name"
    if parts.fragment:
        return "it has a fragment"
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in endpoint):
        return "it has spaces or characters outside ASCII"
    if parts.scheme == "http" and settings.push_allow_loopback_http and _is_loopback(host):
        return None
    if parts.scheme != "https":
        return "it is not https"
    allowed = settings.push_allowed_hosts
    if allowed and not any(host == a or host.endswith("." + a) for a in allowed):
        return "it is not a known push service"
    return None


def check_endpoint(endpoint: str, settings: ApiSettings) -> None:
    reason = endpoint_problem(endpoint, settings)
    if reason is not None:
        raise Problem(
            422,
            f"This push endpoint cannot be used: {reason}. Send the PushSubscription your "
            "browser gave.",
            code="push-endpoint-refused",
        )


def _b64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's P-256 public key (uncompressed point) and 16-byte auth secret."""
    try:
        point, secret = _b64(p256dh.rstrip("=")), _b64(auth.rstrip("="))
    except (binascii.Error, ValueError):
        point, secret = b"", b""
    try:
        if len(point) != 65 or point[0] != 4:
            raise ValueError("not an uncompressed point")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Problem(
            422, "keys.p256dh is not a P-256 public key.", code="push-keys-refused"
        ) from None
    if len(secret) != 16:
        raise Problem(422, "keys.auth is not a 16-byte secret.", code="push-keys-refused")


async def save_subscription(
    units: UnitsOfWork,
    *,
    settings: ApiSettings,
    rider: Rider,
    body: PushSubscriptionCreate,
) -> PushSubscription:
    """Store ``body`` for ``rider`` (checked first). The same endpoint stored before is
    updated, and moved to ``rider`` if another rider had it: the browser now belongs to
    whoever signed in on it last. Beyond the cap the rider's oldest are removed."""
    check_endpoint(body.endpoint, settings)
    check_keys(body.keys.p256dh, body.keys.auth)
    try:
        return await _save(units, settings=settings, rider=rider, body=body)
    except IntegrityError:
        # The same browser posted twice at once (two tabs): the other insert won.
        return await _save(units, settings=settings, rider=rider, body=body)


async def _save(
    units: UnitsOfWork, *, settings: ApiSettings, rider: Rider, body: PushSubscriptionCreate
) -> PushSubscription:
    now = utcnow()
    async with units() as uow:
        session = uow.session
        row = (
            await session.exec(
                select(PushSubscription).where(col(PushSubscription.endpoint) == body.endpoint)
            )
        ).first()
        if row is None:
            row = PushSubscription(
                rider_id=rider.id,
                endpoint=body.endpoint,
                p256dh=body.keys.p256dh,
                auth=body.keys.auth,
                created_at=now,
                updated_at=now,
            )
        else:
            if row.rider_id != rider.id:
                logger.info("web push: a browser's subscription moved to another rider")
            row.rider_id, row.p256dh, row.auth, row.updated_at = (
                rider.id,
                body.keys.p256dh,
                body.keys.auth,
                now,
            )
        session.add(row)
        await session.flush()
        older = (
            await session.exec(
                select(PushSubscription.id)
                .where(col(PushSubscription.rider_id) == rider.id)
                .order_by(col(PushSubscription.updated_at).desc(), col(PushSubscription.id).desc())
                .offset(settings.push_max_subscriptions_per_rider)
            )
        ).all()
        if older:
            await session.exec(delete(PushSubscription).where(col(PushSubscription.id).in_(older)))
            logger.info(
                "web push: rider %s has more than %d browsers; %d oldest removed",
                rider.id,
                settings.push_max_subscriptions_per_rider,
                len(older),
            )
    return row


async def remove_subscription(units: UnitsOfWork, *, rider: Rider, endpoint: str) -> bool:
    """Remove ``rider``'s subscription with ``endpoint``; False if there was none (another
    rider's is left alone, and the caller cannot tell it apart from none)."""
    async with units() as uow:
        result = await uow.session.exec(
            delete(PushSubscription).where(
                col(PushSubscription.rider_id) == rider.id,
                col(PushSubscription.endpoint) == endpoint,
            )
        )
    return bool(result.rowcount)


async def list_subscriptions(session: AsyncSession, *, rider: Rider) -> Sequence[PushSubscription]:
    return (
        await session.exec(
            select(PushSubscription)
            .where(col(PushSubscription.rider_id) == rider.id)
            .order_by(col(PushSubscription.id))
        )
    ).all()


async def subscribed_riders(session: AsyncSession) -> set[uuid.UUID]:
    """Every rider who has at least one subscription (one query; few riders have one)."""
    rows = await session.exec(select(PushSubscription.rider_id).distinct())
    return set(rows.all())


async def subscriptions_of(
    session: AsyncSession, rider_id: uuid.UUID
) -> Sequence[tuple[PushSubscription, str]]:
    """The rider's subscriptions, each with the rider's language now (one query)."""
    rows = await session.exec(
        select(PushSubscription, Rider.language)
        .join(Rider, col(Rider.id) == col(PushSubscription.rider_id))
        .where(col(PushSubscription.rider_id) == rider_id)
    )
    return rows.all()


async def prune(units: UnitsOfWork, subscription_id: int) -> None:
    """Forget a subscription its push service says is gone (404 or 410)."""
    async with units() as uow:
        await uow.session.exec(
            delete(PushSubscription).where(col(PushSubscription.id) == subscription_id)
        )
