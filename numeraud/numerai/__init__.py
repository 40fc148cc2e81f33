"""Talking to Numerai: the numerapi client wrapper, retries within a deadline, submission checks, credentials."""
