"""Scenarios of bench/chaos.py."""
