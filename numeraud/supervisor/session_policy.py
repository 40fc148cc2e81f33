"""A handler's delivery rules: attempts, the in-flight timeout, backoff and heartbeats (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from numeraud.common.backoff import exponential_delay
from numeraud.common.config import BusConfig, HandlerConfig


@dataclass(frozen=True)
class Policy:
    """Per-handler delivery rules, from ``[handlers.NAME]`` and ``[bus]``."""

    max_attempts: int = 5
    #: Seconds an event may stay in flight; ``None`` means no limit. The supervisor waits ``grace``
    #: more than this, because the handler runtime enforces the limit itself first.
    timeout: float | None = 6 * 3600.0
    grace: float = 5.0
    backoff: float = 1.0
    backoff_max: float = 300.0
    heartbeat_ms: int = 1000
    #: Heartbeat intervals of silence after which a peer is gone.
    liveness: int = 5

    @classmethod
    def of(cls, handler: HandlerConfig, bus: BusConfig) -> Policy:
        """The rules of ``[handlers.NAME]`` on ``[bus]``; the grace is one heartbeat silence."""
        return cls(
            max_attempts=handler.max_attempts,
            timeout=handler.timeout,
            grace=bus.heartbeat_interval * bus.heartbeat_liveness,
            backoff=handler.retry_backoff,
            backoff_max=handler.retry_backoff_max,
            heartbeat_ms=bus.heartbeat_ms,
            liveness=bus.heartbeat_liveness,
        )

    @property
    def silence(self) -> float:
        """Seconds of silence after which a peer is gone (heartbeat interval times liveness)."""
        return self.heartbeat_ms * self.liveness / 1000.0

    def backoff_for(self, attempts: int) -> float:
        """Delay before delivery number ``attempts + 1``: exponential, capped."""
        if attempts <= 0:
            return 0.0
        return exponential_delay(attempts - 1, self.backoff, self.backoff_max)
