"""Open transit data: agencies' GTFS-Realtime feeds in, BusHail's out (docs/gtfs-rt.md).

- ``freshness``: which source's position of a bus wins (onboard unit or agency feed);
  ``sources``: the one door both go through to the dispatcher.
- ``mapping``: the feed's vehicle ids to BusHail's.
- ``decode``: a feed's entities to ``VehiclePosition`` (pure).
- ``poller``: one feed URL fetched on a timer, politely (conditional GET, back-off).
- ``publish``, ``alerts``, ``cache``: the feeds BusHail serves at ``/gtfs-rt/``.
- ``metrics``: per-feed Prometheus metrics; ``hub``: all of it as the one object the
  application state holds (``AppState.feeds``).
"""
