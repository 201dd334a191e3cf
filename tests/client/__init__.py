"""Tests of metered.client (a package, so its conftest does not shadow tests/conftest.py)."""
