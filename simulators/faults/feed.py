"""The tiny GTFS feed (route R1 over S1..S5) and where bus V1 stands on it."""

from __future__ import annotations

import time
from pathlib import Path

from broker_config.messages import VehiclePosition, VehicleStopStatus
from simulators.faults.const import STOPS


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_feed(folder: Path) -> Path:
    """Route R1 over S1..S5 both ways, a trip every 4 minutes all day, 2 minutes a stop."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "A,Fault Bus,https://example.org,Asia/Taipei,zh-TW\n"
    )
    (folder / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{s},站{s},25.04,{121.50 + 0.005 * i:.3f}\n" for i, s in enumerate(STOPS))
    )
    (folder / "routes.txt").write_text(
        "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,307,故障線,3\n"
    )
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "ALL,1,1,1,1,1,1,1,20200101,20351231\n"
    )
    trips = ["route_id,service_id,trip_id,trip_headsign,direction_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for direction, order in ((0, STOPS), (1, STOPS[::-1])):
        for start in range(0, 26 * 3600, 4 * 60):
            trip_id = f"T{direction}-{start // 60:04d}"
            trips.append(f"R1,ALL,{trip_id},站{order[-1]},{direction}")
            for i, stop_id in enumerate(order):
                t = _hms(start + i * 120)
                times.append(f"{trip_id},{t},{t},{stop_id},{i + 1}")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return folder


def bus_position() -> VehiclePosition:
    """V1 standing at S1, direction 0 (the first stop of its trip)."""
    return VehiclePosition(
        route_id="R1",
        direction_id=0,
        lat=25.04,
        lon=121.50,
        stop_id="S1",
        current_stop_sequence=1,
        current_status=VehicleStopStatus.STOPPED_AT,
        timestamp=time.time(),
    )
