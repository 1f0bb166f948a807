"""Fixtures of the engineer tests: the real desk of tests/fixtures/desk.py."""

from tests.fixtures.desk import shared_desk  # noqa: F401  (fixture)
