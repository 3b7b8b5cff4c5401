"""HTTP API: one router per resource in ``routes``; dependencies in ``deps``."""
