"""Alembic migrations of the desk's database, shipped as package data."""
