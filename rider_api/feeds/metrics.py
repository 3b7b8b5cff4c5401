"""Prometheus metrics of the feeds, on the instance's own registry (``Metrics.registry``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["FeedMetrics"]


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.fetches = Counter(
            "bushail_gtfs_rt_fetches_total",
            "Fetches of an agency GTFS-Realtime feed, by result (ok, not_modified, error)",
            ["feed", "result"],
            registry=registry,
        )
        self.problems = Counter(
            "bushail_gtfs_rt_problems_total",
            "Feed errors and entities left out, by kind",
            ["feed", "kind"],
            registry=registry,
        )
        self.entities = Gauge(
            "bushail_gtfs_rt_entities",
            "Entities in the feed's last fetched copy",
            ["feed"],
            registry=registry,
        )
        self.applied = Counter(
            "bushail_gtfs_rt_positions_applied_total",
            "Positions from the feed that entered the fleet view",
            ["feed"],
            registry=registry,
        )
        self.last_success_age = Gauge(
            "bushail_gtfs_rt_last_success_age_seconds",
            "Seconds since the feed was last fetched without error",
            ["feed"],
            registry=registry,
        )
        self.feed_age = Gauge(
            "bushail_gtfs_rt_feed_age_seconds",
            "Age of the feed's content (its header timestamp) when last fetched",
            ["feed"],
            registry=registry,
        )
        self.sources = Counter(
            "bushail_position_sources_total",
            "Positions by source (onboard, feed) and what the freshness arbitration did",
            ["source", "outcome"],
            registry=registry,
        )
        self.published = Counter(
            "bushail_gtfs_rt_published_builds_total",
            "Builds of a feed BusHail publishes (at most one a second each)",
            ["feed"],
            registry=registry,
        )
