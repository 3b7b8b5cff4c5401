"""Response bodies of the network endpoints (names in zh-TW and English)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from broker_config.messages import Localized
from rider_api.models import Route, RouteDirection, Stop
from rider_api.network.queries import (
    Departure,
    RouteDetail,
    RouteSummary,
    ServingRoute,
    StopDetail,
    StopHit,
)

__all__ = [
    "DeparturePublic",
    "DirectionPublic",
    "DirectionStopsPublic",
    "RouteDetailPublic",
    "RoutePublic",
    "StopDetailPublic",
    "StopPublic",
    "StopRoutePublic",
]


def localized(zh: str, en: str) -> Localized:
    return Localized.model_validate({"zh-TW": zh, "en": en})


class StopPublic(BaseModel):
    stop_id: str
    name: Localized
    #: How the name is spoken (GTFS tts_stop_name), else the name.
    spoken_name: Localized
    lat: float
    lon: float
    distance_m: float | None = Field(
        default=None, description="Metres from the given lat/lon (only when one was given)."
    )

    @classmethod
    def of(cls, stop: Stop, distance_m: float | None = None) -> StopPublic:
        return cls(
            stop_id=stop.stop_id,
            name=localized(stop.name_zh, stop.name_en),
            spoken_name=localized(
                stop.tts_name_zh or stop.name_zh, stop.tts_name_en or stop.name_en
            ),
            lat=stop.lat,
            lon=stop.lon,
            distance_m=None if distance_m is None else round(distance_m, 1),
        )

    @classmethod
    def of_hit(cls, hit: StopHit) -> StopPublic:
        return cls.of(hit.stop, hit.distance_m)


class DirectionPublic(BaseModel):
    direction_id: int
    #: Where the bus goes (the trips' headsign).
    headsign: Localized

    @classmethod
    def of(cls, direction: RouteDirection) -> DirectionPublic:
        return cls(
            direction_id=direction.direction_id,
            headsign=localized(direction.headsign_zh, direction.headsign_en),
        )


class _RouteFields(BaseModel):
    route_id: str
    #: What riders say and see: "307", "紅30".
    short_name: str
    #: The long name, e.g. 公館－圓山 / Gongguan - Yuanshan.
    name: Localized
    route_type: int
    color: str | None
    text_color: str | None

    @staticmethod
    def fields_of(route: Route) -> dict[str, object]:
        return {
            "route_id": route.route_id,
            "short_name": route.short_name,
            "name": localized(route.long_name_zh, route.long_name_en),
            "route_type": route.route_type,
            "color": route.color,
            "text_color": route.text_color,
        }


class RoutePublic(_RouteFields):
    directions: list[DirectionPublic]

    @classmethod
    def of(cls, summary: RouteSummary) -> RoutePublic:
        return cls.model_validate(
            {
                **cls.fields_of(summary.route),
                "directions": [DirectionPublic.of(d) for d in summary.directions],
            }
        )


class DirectionStopsPublic(DirectionPublic):
    #: In the order the bus serves them.
    stops: list[StopPublic]


class RouteDetailPublic(_RouteFields):
    directions: list[DirectionStopsPublic]

    @classmethod
    def of(cls, detail: RouteDetail) -> RouteDetailPublic:
        directions = [
            DirectionStopsPublic(
                direction_id=d.direction.direction_id,
                headsign=localized(d.direction.headsign_zh, d.direction.headsign_en),
                stops=[StopPublic.of(stop) for stop in d.stops],
            )
            for d in detail.directions
        ]
        return cls.model_validate({**cls.fields_of(detail.route), "directions": directions})


class StopRoutePublic(BaseModel):
    """A route and direction that serves the stop."""

    route_id: str
    short_name: str
    route_name: Localized
    direction_id: int
    headsign: Localized
    #: 0-based place of the stop along the direction.
    position: int
    #: The direction ends here: riders cannot board towards the headsign.
    is_last_stop: bool

    @classmethod
    def of(cls, serving: ServingRoute) -> StopRoutePublic:
        return cls(
            route_id=serving.route.route_id,
            short_name=serving.route.short_name,
            route_name=localized(serving.route.long_name_zh, serving.route.long_name_en),
            direction_id=serving.direction.direction_id,
            headsign=localized(serving.direction.headsign_zh, serving.direction.headsign_en),
            position=serving.position,
            is_last_stop=serving.is_last_stop,
        )


class DeparturePublic(BaseModel):
    route_id: str
    short_name: str
    direction_id: int
    headsign: Localized
    trip_id: str
    departs_at: dt.datetime
    #: Seconds from now until the departure.
    in_s: int
    #: ``schedule``: from the timetable, not from a live vehicle.
    source: Literal["schedule"] = "schedule"

    @classmethod
    def of(cls, departure: Departure) -> DeparturePublic:
        return cls(
            route_id=departure.route.route_id,
            short_name=departure.route.short_name,
            direction_id=departure.direction_id,
            headsign=localized(departure.headsign_zh, departure.headsign_en),
            trip_id=departure.trip_id,
            departs_at=departure.departs_at,
            in_s=departure.in_s,
        )


class StopDetailPublic(StopPublic):
    routes: list[StopRoutePublic]
    #: The next scheduled departures (live vehicles and ETAs come with reservations).
    next_departures: list[DeparturePublic]

    @classmethod
    def of_detail(cls, detail: StopDetail, departures: list[Departure]) -> StopDetailPublic:
        base = StopPublic.of(detail.stop)
        return cls(
            **base.model_dump(),
            routes=[StopRoutePublic.of(s) for s in detail.routes],
            next_departures=[DeparturePublic.of(d) for d in departures],
        )
