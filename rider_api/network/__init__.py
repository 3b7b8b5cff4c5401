"""The transit network: GTFS import, name search and read queries."""

from rider_api.network.errors import FeedError, FeedProblem
from rider_api.network.importer import (
    ImportReport,
    import_feed,
    import_feed_async,
    load_feed,
    write_network,
)

__all__ = [
    "FeedError",
    "FeedProblem",
    "ImportReport",
    "import_feed",
    "import_feed_async",
    "load_feed",
    "write_network",
]
