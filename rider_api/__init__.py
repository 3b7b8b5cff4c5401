"""BusHail server: network (GTFS), riders, reservations, lifecycle, dispatcher, outbox, pages."""
