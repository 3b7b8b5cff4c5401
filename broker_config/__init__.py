"""BusHail v1 protocol: topics, payload models, the MQTT session layer and the managed broker.

This package is the single source of the public interface described in docs/protocol.md.
It imports none of the other BusHail packages.
"""

from broker_config.const import DEFAULT_ROOT, PROTOCOL_VERSION

__all__ = ["DEFAULT_ROOT", "PROTOCOL_VERSION"]
