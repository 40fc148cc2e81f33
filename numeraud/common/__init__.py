"""What every numeraud process shares: configuration, logs, systemd notification, the bus codec, failpoints.

Nothing here opens the event log or starts a thread of the supervisor; the handler side and the
supervisor side both import from here, and from nowhere in each other.
"""
