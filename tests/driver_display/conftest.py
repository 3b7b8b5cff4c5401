"""Fixtures of the driver display tests."""

from __future__ import annotations

import pytest

from tests.driver_display import factories
from tests.driver_display.factories import MakeAlert


@pytest.fixture
def make_alert() -> MakeAlert:
    """A DriverAlert factory (see ``factories.make_alert``)."""
    return factories.make_alert
