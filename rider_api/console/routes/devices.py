"""GET /ops/devices: the broker's stop and vehicle logins; rotate, revoke or restore one.

Each change is asked for on a confirmation page (``GET /ops/devices/{login}/{action}``)
and made by that page's form (``POST``, with its confirmation box ticked), then written to
the audit log; the page then says what the broker did. The change is made by
``broker_config.admin.DeviceAdmin`` on the broker's state folder
(``ConsoleSettings.broker_state_dir``: the broker runs on this machine); without that
setting the page explains the ``bushail-broker device`` commands instead.

A password is never shown or logged: whoever installs a device reads its new password on
the broker's machine with ``bushail-broker password LOGIN``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shlex
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from broker_config.admin import DeviceAdmin, LoginChange, LoginState, RunningBroker
from broker_config.const import STOP_LOGIN_PREFIX, VEHICLE_LOGIN_PREFIX
from broker_config.errors import MqttError
from broker_config.i18n import pick_lang
from broker_config.messages import Lang
from rider_api.api.deps import StateDep
from rider_api.console.audit import AuditAction, record
from rider_api.console.deps import ConsolePageOperator, LangQuery, SettingsDep
from rider_api.console.i18n import t
from rider_api.console.rendering import render
from rider_api.console.sessions import Operator
from rider_api.settings import ConsoleSettings
from rider_api.state import AppState

__all__ = [
    "ChangeRefusedError",
    "ChangeReport",
    "DeviceLogin",
    "audit_detail",
    "change_report",
    "check_action",
    "device_logins",
    "matching",
    "password_command",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter()

Action = Literal["rotate", "revoke", "restore"]
LoginKind = Literal["stop", "vehicle"]
Refusal = Literal["unknown", "revoked", "already_revoked", "not_revoked"]
LoginPath = Annotated[str, PathParam(min_length=1, max_length=100)]

_AUDIT: Final[dict[Action, AuditAction]] = {
    "rotate": AuditAction.DEVICE_ROTATE,
    "revoke": AuditAction.DEVICE_REVOKE,
    "restore": AuditAction.DEVICE_RESTORE,
}
#: Why an action does not apply to a login in the state it is in.
_NOT_NOW: Final[dict[Action, Refusal]] = {
    "rotate": "revoked",
    "revoke": "already_revoked",
    "restore": "not_revoked",
}
#: A change reads the state folder's files, changes them and writes them back: two at
#: once (two operators) must not interleave. It does not hold back another process
#: (``bushail-broker device`` on the same folder).
_ONE_CHANGE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True, slots=True)
class DeviceLogin:
    """A stop gateway's or vehicle's broker login, as the page lists it."""

    login: str
    kind: LoginKind
    revoked: bool

    def offers(self) -> tuple[Action, ...]:
        """The actions the page offers for this login."""
        return ("restore",) if self.revoked else ("rotate", "revoke")


def device_logins(states: Iterable[LoginState]) -> list[DeviceLogin]:
    """The stop and vehicle logins, stops first (server and monitor logins are the
    broker operator's business, rotated with the CLI, never revoked)."""
    found: list[DeviceLogin] = []
    for state in states:
        if state.login.startswith(STOP_LOGIN_PREFIX):
            found.append(DeviceLogin(state.login, "stop", state.revoked))
        elif state.login.startswith(VEHICLE_LOGIN_PREFIX):
            found.append(DeviceLogin(state.login, "vehicle", state.revoked))
    return sorted(found, key=lambda d: (d.kind, d.login))


def matching(logins: Iterable[DeviceLogin], query: str) -> list[DeviceLogin]:
    """The logins containing ``query`` (any case); all of them for an empty query."""
    wanted = query.strip().casefold()
    return [d for d in logins if wanted in d.login.casefold()]


class ChangeRefusedError(ValueError):
    """The action does not apply to the login (unknown, or in the wrong state): nothing
    was changed."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


def check_action(logins: Iterable[DeviceLogin], login: str, action: Action) -> DeviceLogin:
    """The login ``action`` may be applied to, or ChangeRefusedError saying why not."""
    found = next((d for d in logins if d.login == login), None)
    if found is None:
        raise ChangeRefusedError("unknown")
    if action not in found.offers():
        raise ChangeRefusedError(_NOT_NOW[action])
    return found


def password_command(login: str, state_dir: Path) -> str:
    """The command that prints ``login``'s password on the broker's machine."""
    return f"bushail-broker password {shlex.quote(login)} --state-dir {shlex.quote(str(state_dir))}"


def _seconds(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


@dataclass(frozen=True, slots=True)
class ChangeReport:
    """What the page says after a change."""

    sentences: list[str]
    #: The command that prints the new password (after a rotation, or a restore with a
    #: new password): the password itself is never shown.
    password_command: str | None
    #: The broker still accepts the previous password: said as an alert.
    warning: bool


def change_report(
    change: LoginChange, *, lang: Lang, state_dir: Path, new_password: bool
) -> ChangeReport:
    """What happened, in words: the change, and whether the broker refused the previous
    password and how soon."""
    renewed = change.kind == "restored" and new_password
    done = "restored_new" if renewed else change.kind.value
    sentences = [t(f"logins.done.{done}", lang, login=change.login)]
    if not change.reloaded:
        sentences.append(t("logins.done.not_running", lang, dir=str(state_dir)))
    elif change.old_password_refused is None:
        sentences.append(t("logins.done.reloaded", lang))
    elif change.old_password_refused:
        sentences.append(t("logins.done.refused", lang, s=_seconds(change.confirmed_after_s)))
    else:
        sentences.append(t("logins.done.accepted", lang, dir=str(state_dir)))
    command = (
        password_command(change.login, state_dir) if change.kind == "rotated" or renewed else None
    )
    return ChangeReport(sentences, command, warning=change.old_password_refused is False)


def audit_detail(change: LoginChange, *, new_password: bool) -> str:
    """What the audit log says of a change (never a password)."""
    parts = ["with a new password"] if change.kind == "restored" and new_password else []
    if not change.reloaded:
        parts.append("no broker running: applies when it starts")
    elif change.old_password_refused is None:
        parts.append("broker reloaded")
    elif change.old_password_refused:
        secs = _seconds(change.confirmed_after_s)
        parts.append(f"broker reloaded; previous password refused after {secs} s")
    else:
        parts.append("broker reloaded; previous password STILL ACCEPTED")
    return "; ".join(parts)


# -- the broker's state folder, in a worker thread ---------------------------------------
# DeviceAdmin reads and writes the folder's files and hashes every login's password in
# its own (async) methods: the whole of each call runs in a worker thread, its MQTT
# probes on an event loop of that thread's own, so the API's loop is never blocked.


@dataclass(frozen=True, slots=True)
class _Folder:
    logins: list[DeviceLogin]
    #: A managed broker runs from the folder (a change applies at once).
    running: bool


def _read(state_dir: Path, root: str) -> _Folder:
    admin = DeviceAdmin(state_dir, root=root)
    if not admin.state_dir.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(admin.state_dir))
    running = RunningBroker.find(admin.state_dir) is not None
    return _Folder(device_logins(admin.logins()), running)


async def _apply(
    admin: DeviceAdmin, *, login: str, action: Action, new_password: bool
) -> LoginChange:
    if action == "rotate":
        return await admin.rotate(login)
    if action == "revoke":
        return await admin.revoke(login)
    return await admin.restore(login, new_password=new_password)


def _change(
    state_dir: Path, root: str, *, login: str, action: Action, new_password: bool
) -> LoginChange:
    """Check that ``action`` applies to ``login`` as it stands now, and make it."""
    with _ONE_CHANGE_AT_A_TIME:
        admin = DeviceAdmin(state_dir, root=root)
        check_action(device_logins(admin.logins()), login, action)
        change = _apply(admin, login=login, action=action, new_password=new_password)
        return asyncio.run(change)


# -- pages -------------------------------------------------------------------------------


async def _list_page(
    request: Request,
    state: AppState,
    settings: ConsoleSettings,
    lang: Lang,
    *,
    q: str = "",
    code: int = 200,
    result: ChangeReport | None = None,
    error: str | None = None,
) -> HTMLResponse:
    page: dict[str, object] = {
        "configured": settings.broker_state_dir is not None,
        "q": q,
        "result": result,
        "error": error,
        # A change's answer comes from /ops/devices/...: link the language switch and
        # the menu to the list itself.
        "path": "/ops/devices",
    }
    if settings.broker_state_dir is not None:
        state_dir = settings.broker_state_dir
        page["state_dir"] = str(state_dir)
        page["state_dir_arg"] = shlex.quote(str(state_dir))
        try:
            folder = await asyncio.to_thread(_read, state_dir, state.settings.mqtt_root)
        except (OSError, ValueError) as exc:
            logger.error("broker state folder %s cannot be read: %s", state_dir, exc)
            page["unreadable"] = t("logins.unreadable", lang, dir=str(state_dir), reason=str(exc))
        else:
            page["running"] = folder.running
            page["total"] = len(folder.logins)
            page["shown"] = matching(folder.logins, q)
    return render(request, state, lang, "devices.html", code=code, **page)


def _refused_text(exc: ChangeRefusedError, login: str, lang: Lang) -> tuple[str, int]:
    return t(f"logins.err.{exc.reason}", lang, login=login), 404 if exc.reason == "unknown" else 409


@router.get("/devices", response_class=HTMLResponse)
async def devices(
    request: Request,
    _op: ConsolePageOperator,
    state: StateDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=100)] = "",
    lang: LangQuery = None,
) -> HTMLResponse:
    """The stop and vehicle logins, filtered by ``q``; revoked ones marked."""
    return await _list_page(request, state, settings, pick_lang(lang), q=q)


@router.get("/devices/{login}/{action}", response_class=HTMLResponse)
async def confirm(
    request: Request,
    _op: ConsolePageOperator,
    state: StateDep,
    settings: SettingsDep,
    login: LoginPath,
    action: Action,
    lang: LangQuery = None,
) -> HTMLResponse:
    """The confirmation page of one change: what it does, a box to tick, the button."""
    lang_ = pick_lang(lang)
    if settings.broker_state_dir is None:
        return await _list_page(request, state, settings, lang_, code=404)
    try:
        folder = await asyncio.to_thread(_read, settings.broker_state_dir, state.settings.mqtt_root)
        check_action(folder.logins, login, action)
    except ChangeRefusedError as exc:
        error, code = _refused_text(exc, login, lang_)
        return await _list_page(request, state, settings, lang_, code=code, error=error)
    except (OSError, ValueError):
        # The list says why the folder cannot be read.
        return await _list_page(request, state, settings, lang_, code=500)
    state_dir_arg = shlex.quote(str(settings.broker_state_dir))
    return render(
        request,
        state,
        lang_,
        "device_confirm.html",
        login=login,
        action=action,
        error=None,
        state_dir_arg=state_dir_arg,
    )


@router.post("/devices/{login}/{action}", response_class=HTMLResponse)
async def change(
    request: Request,
    op: ConsolePageOperator,
    state: StateDep,
    settings: SettingsDep,
    login: LoginPath,
    action: Action,
    confirm: Annotated[bool, Form()] = False,
    new_password: Annotated[bool, Form()] = False,
    lang: LangQuery = None,
) -> HTMLResponse:
    """Rotate, revoke or restore ``login`` (the confirmation box ticked), then say what
    the broker did; written to the audit log."""
    lang_ = pick_lang(lang)
    state_dir = settings.broker_state_dir
    if state_dir is None:
        return await _list_page(request, state, settings, lang_, code=404)
    root = state.settings.mqtt_root
    new_password = new_password and action == "restore"
    if not confirm:
        return render(
            request,
            state,
            lang_,
            "device_confirm.html",
            code=422,
            login=login,
            action=action,
            error=t("confirm.required", lang_),
            state_dir_arg=shlex.quote(str(state_dir)),
        )
    try:
        done = await asyncio.to_thread(
            _change, state_dir, root, login=login, action=action, new_password=new_password
        )
    except ChangeRefusedError as exc:
        error, code = _refused_text(exc, login, lang_)
        return await _list_page(request, state, settings, lang_, code=code, error=error)
    except (OSError, ValueError, MqttError, TimeoutError) as exc:
        # Part of the change may be made: it is recorded as tried, and the list shows
        # where the login stands.
        logger.exception("device login %s: %s from the console failed", login, action)
        detail = f"failed: {type(exc).__name__}: {exc}"
        await _record(state, op=op, action=action, login=login, detail=detail)
        error = t("logins.err.failed", lang_, login=login, reason=type(exc).__name__)
        return await _list_page(request, state, settings, lang_, code=500, error=error)
    detail = audit_detail(done, new_password=new_password)
    await _record(state, op=op, action=action, login=login, detail=detail)
    logger.info("device login %s: %s by %s from the console", login, done.kind, op.label)
    report = change_report(done, lang=lang_, state_dir=state_dir, new_password=new_password)
    return await _list_page(request, state, settings, lang_, result=report)


async def _record(
    state: AppState, *, op: Operator, action: Action, login: str, detail: str
) -> None:
    """The change's audit row, in a transaction of its own (the change is not in the
    database: it is written once the broker has answered)."""
    async with state.unit_of_work() as uow:
        record(uow.session, action=_AUDIT[action], operator=op, target=login, detail=detail)
