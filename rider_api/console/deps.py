"""FastAPI dependencies of the console pages: its settings and the ``lang`` query.

Who is calling is checked with ``OperatorDep``/``PageOperatorDep`` from
:mod:`rider_api.api.deps` (one operator check for the API and the console).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from broker_config.messages import Lang
from rider_api.api.deps import StateDep
from rider_api.settings import ConsoleSettings

__all__ = ["LangQuery", "SettingsDep", "console_settings"]


def console_settings(state: StateDep) -> ConsoleSettings:
    """The console's settings, built with the application."""
    return state.console


SettingsDep = Annotated[ConsoleSettings, Depends(console_settings)]
#: ``?lang=en`` shows a page in English; without it, zh-TW.
LangQuery = Annotated[Lang | None, Query()]
