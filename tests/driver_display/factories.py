"""Test factories of the driver display: DriverAlerts with readable defaults."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from broker_config.messages import DriverAlert, Localized, ReservationStatus

MakeAlert = Callable[..., DriverAlert]

STOP_NAMES = {
    "S1": ("臺北車站", "Taipei Main Station"),
    "S2": ("中山站", "Zhongshan Station"),
    "S3": ("雙連站", "Shuanglian Station"),
    "S4": ("民權西路站", "Minquan W. Rd. Station"),
}


def make_alert(**overrides: Any) -> DriverAlert:
    """``make_alert(stop_id="S1", status="assigned", seq=1, ...)``: a valid DriverAlert."""
    stop_id = overrides.pop("stop_id", "S1")
    zh, en = STOP_NAMES.get(stop_id, (stop_id, stop_id))
    fields: dict[str, Any] = {
        "reservation_id": uuid.uuid4(),
        "seq": 1,
        "kind": "pickup",
        "status": ReservationStatus.ASSIGNED,
        "stop_id": stop_id,
        "stop_name": Localized.model_validate({"zh-TW": zh, "en": en}),
        "stop_sequence": 3,
        "eta_s": 180,
        "note": None,
    }
    fields.update(overrides)
    return DriverAlert.model_validate(fields)
