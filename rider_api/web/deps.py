"""FastAPI dependencies of the rider web app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rider_api.api.deps import StateDep, current_rider
from rider_api.core.problems import Problem
from rider_api.models import Rider

__all__ = ["OptionalRider", "optional_rider"]


async def optional_rider(request: Request, state: StateDep) -> Rider | None:
    """The signed-in rider (token cookie or header), or None: pages then show the start."""
    try:
        return await current_rider(request, state)
    except Problem:
        return None


OptionalRider = Annotated[Rider | None, Depends(optional_rider)]
