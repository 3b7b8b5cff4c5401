"""FastAPI dependencies: app state, database session, who is calling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.core.problems import Problem
from rider_api.core.security import OPERATOR_COOKIE, RIDER_COOKIE, bearer_token, hash_token
from rider_api.models import Rider
from rider_api.state import AppState

__all__ = [
    "CurrentRider",
    "LatitudeQuery",
    "LongitudeQuery",
    "OperatorDep",
    "PageOperatorDep",
    "SessionDep",
    "StateDep",
    "operator_digest",
    "request_token",
]


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


def request_token(request: Request) -> str | None:
    """The rider's token: the ``Authorization: Bearer`` header, else the app's cookie."""
    return bearer_token(request.headers) or request.cookies.get(RIDER_COOKIE) or None


async def current_rider(request: Request, state: StateDep) -> Rider:
    token = request_token(request)
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


def operator_digest(state: AppState, token: str) -> str | None:
    """The stored hash of ``token`` if it is an operator's token, else None."""
    digest = hash_token(token.strip())
    return digest if digest in state.operator_token_hashes else None


def _operator(request: Request, state: AppState, *, redirect: bool) -> str:
    # The console's cookie before the rider app's: one browser may hold both.
    token = (
        bearer_token(request.headers)
        or request.cookies.get(OPERATOR_COOKIE)
        or request.cookies.get(RIDER_COOKIE)
    )
    if not token:
        if redirect:
            raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/ops/login"})
        raise Problem(
            401,
            "Sign in first: send 'Authorization: Bearer <operator token>'.",
            code="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    digest = operator_digest(state, token)
    if digest is None:
        raise Problem(403, "This page and API are for operators only.", code="operator-only")
    return digest


async def current_operator(request: Request, state: StateDep) -> str:
    """The operator's token hash, for the operator API (401 or 403 otherwise)."""
    return _operator(request, state, redirect=False)


async def page_operator(request: Request, state: StateDep) -> str:
    """The same for console pages: without any token, a redirect to the sign-in page."""
    return _operator(request, state, redirect=True)


OperatorDep = Annotated[str, Depends(current_operator)]
PageOperatorDep = Annotated[str, Depends(page_operator)]

#: A place given by the caller (``?lat=&lon=``), for "near me".
LatitudeQuery = Annotated[float | None, Query(ge=-90, le=90)]
LongitudeQuery = Annotated[float | None, Query(ge=-180, le=180)]
