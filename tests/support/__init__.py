"""Helpers shared by tests (browser, axe-core, waiting for a condition)."""
