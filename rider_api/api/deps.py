"""FastAPI dependencies: app state, database session, who is calling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.console.sessions import Operator
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
    "RiderOrOperator",
    "SessionDep",
    "StateDep",
    "client_address",
    "operator_digest",
    "request_token",
]


async def get_state(request: Request) -> AppState:
    # ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a
    # hand-off on every request that uses the state.
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


def client_address(request: Request) -> str | None:
    """The client's address as the server saw it (the proxy's, behind one)."""
    return request.client.host if request.client is not None else None


async def _operator(request: Request, state: AppState, *, redirect: bool) -> Operator:
    """The one operator check: ``Authorization: Bearer <operator token>`` (scripts, the
    operator API) or the console's session cookie. The rider app's cookie is never read
    here, and a rider's bearer token is refused."""
    client = client_address(request)
    token = bearer_token(request.headers)
    if token is not None:
        digest = operator_digest(state, token)
        if digest is None:
            raise Problem(403, "This page and API are for operators only.", code="operator-only")
        return Operator(digest=digest, session=None, client=client)
    session_id = request.cookies.get(OPERATOR_COOKIE)
    if session_id:
        operator = await state.operator_sessions.resolve(
            session_id, operators=state.operator_token_hashes, client=client
        )
        if operator is not None:
            return operator
    # No credential, or a sign-in that has ended (signed out, idle, too old).
    if redirect:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/ops/login"})
    raise Problem(
        401,
        "Sign in first: send 'Authorization: Bearer <operator token>'.",
        code="unauthenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def current_operator(request: Request, state: StateDep) -> Operator:
    """The calling operator, for the operator API and the console's data (401 or 403)."""
    return await _operator(request, state, redirect=False)


async def page_operator(request: Request, state: StateDep) -> Operator:
    """The same for console pages: without a credential, a redirect to the sign-in page."""
    return await _operator(request, state, redirect=True)


OperatorDep = Annotated[Operator, Depends(current_operator)]
PageOperatorDep = Annotated[Operator, Depends(page_operator)]


async def rider_or_operator(request: Request, state: StateDep) -> Rider | Operator:
    """A rider (as ``CurrentRider``) or an operator's bearer token: for what both may
    read (the network)."""
    token = bearer_token(request.headers)
    if token is not None:
        digest = operator_digest(state, token)
        if digest is not None:
            return Operator(digest=digest, session=None, client=client_address(request))
    return await current_rider(request, state)


RiderOrOperator = Annotated[Rider | Operator, Depends(rider_or_operator)]

#: A place given by the caller (``?lat=&lon=``), for "near me".
LatitudeQuery = Annotated[float | None, Query(ge=-90, le=90)]
LongitudeQuery = Annotated[float | None, Query(ge=-180, le=180)]
