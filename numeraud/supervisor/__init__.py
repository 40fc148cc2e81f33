"""The supervisor side (``numeraud run``): the loop, dispatcher, sessions, event log, follower, data sync, spawner.

It owns the SQLite event log and the bus's ROUTER; it holds no user model and loads no dataset.
"""
