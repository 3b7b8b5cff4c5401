"""FastAPI dependencies: app state, database session, who is calling."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.core.problems import Problem
from rider_api.models import Rider
from rider_api.state import AppState

__all__ = [
    "CurrentRider",
    "OperatorDep",
    "SessionDep",
    "StateDep",
    "bearer_token",
    "hash_token",
]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.bushail
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_UNAUTHENTICATED = Problem(
    401,
    "Sign in first: send 'Authorization: Bearer <token>' with the token from POST /v1/riders.",
    code="unauthenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get("bushail_token")
    return cookie or None


async def current_rider(request: Request, state: StateDep) -> Rider:
    token = bearer_token(request)
    if token is None:
        raise _UNAUTHENTICATED
    digest = hash_token(token)
    if digest in state.operator_token_hashes:
        raise Problem(403, "Operator tokens cannot act as riders.", code="operator-not-rider")
    rider = state.riders.get(digest)
    if rider is None:
        # Its own short session: streaming endpoints must not hold one for their lifetime.
        async with state.sessions() as session:
            rider = (
                await session.exec(select(Rider).where(col(Rider.token_hash) == digest))
            ).first()
        if rider is None:
            raise _UNAUTHENTICATED
        state.riders.put(digest, rider)
    return rider


CurrentRider = Annotated[Rider, Depends(current_rider)]


async def current_operator(request: Request, state: StateDep) -> str:
    token = bearer_token(request) or request.cookies.get("bushail_ops_token")
    if token is None:
        raise _UNAUTHENTICATED
    digest = hash_token(token)
    if digest not in state.operator_token_hashes:
        raise Problem(403, "This page and API are for operators only.", code="operator-only")
    return digest


OperatorDep = Annotated[str, Depends(current_operator)]
