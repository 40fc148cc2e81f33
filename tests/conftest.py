"""Shared fixtures live in plugin modules so every suite can use them."""

pytest_plugins = ["tests.fixtures"]
