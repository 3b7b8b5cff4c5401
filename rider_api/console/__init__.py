"""The operator console: live board, service quality, broadcast (``pages.router``)."""
