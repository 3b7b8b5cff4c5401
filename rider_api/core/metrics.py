"""Prometheus metrics of one app instance (its own registry, no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from broker_config.messages import ReservationStatus

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reservations = Gauge(
            "bushail_reservations",
            "Reservations by status",
            ["status"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "bushail_reservation_transitions_total",
            "Reservation transitions",
            ["to"],
            registry=self.registry,
        )
        self.booking_to_alert = Histogram(
            "bushail_booking_to_alert_seconds",
            "Time from booking to the driver alert being written",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600),
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "bushail_outbox_backlog", "Outbox messages not yet published", registry=self.registry
        )
        self.broker_connected = Gauge(
            "bushail_broker_connected", "1 while connected to the broker", registry=self.registry
        )
        self.devices_online = Gauge(
            "bushail_devices_online", "Devices online", ["kind"], registry=self.registry
        )
        self.alerts_unacknowledged = Gauge(
            "bushail_alerts_unacknowledged",
            "Driver alerts sent and not yet acknowledged",
            registry=self.registry,
        )
        self.incidents = Counter(
            "bushail_incidents_total", "Incidents", ["kind"], registry=self.registry
        )
        self.positions = Counter(
            "bushail_positions_total", "Vehicle positions handled", registry=self.registry
        )

    def transition(self, old: ReservationStatus, new: ReservationStatus) -> None:
        self.transitions.labels(to=new.value).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
