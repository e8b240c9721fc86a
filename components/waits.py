"""What the upgrade's dynamic providers (rollout.py, pool_version.py) share: configure() and the Scaleway client of
NodeRegistrationProvider (credentials from the stack config, never inputs), an injectable clock, and one back-off
loop."""

from __future__ import annotations

import time
from typing import Iterator

import pulumi.dynamic as dyn

from .registration import NodeRegistrationProvider

MAX_POLL_SECONDS = 30.0


class ScalewayWaiter(dyn.ResourceProvider):
    def __init__(self, clock=None, sleep=None) -> None:
        # Injectable for tests; plain functions pickle by reference.
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._scaleway = NodeRegistrationProvider(clock, sleep)

    def configure(self, req: dyn.ConfigureRequest) -> None:
        self._scaleway.configure(req)

    def backoff(self, timeout_seconds: float, delay: float) -> Iterator[int]:
        """Yield before each attempt, sleeping with back-off (×1.5 up to MAX_POLL_SECONDS) in between; stop when the
        next sleep would pass the deadline. The caller raises its own timeout after the loop."""
        deadline = self._clock() + float(timeout_seconds)
        attempt = 0
        while True:
            attempt += 1
            yield attempt
            if self._clock() + delay > deadline:
                return
            self._sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)
