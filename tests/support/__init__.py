"""Helpers shared by tests (browser, axe-core)."""
