"""The GPU pool's rules: which RunPod endpoint a model step goes to, and when an endpoint is
healthy. Pure: the worker's endpoint pool (services/runpod/pool.py) holds the state and the
clock.

Selection: among the endpoints the job's tier may use that are healthy (or on trial after a
probe) and have a free slot, the cheapest per GPU second; on a tie the one with more free
slots, then by id, so the choice is reproducible. An endpoint a job's previous RunPod job died
on is avoided while another eligible endpoint is usable, even if that one must be waited for.
When no eligible endpoint is healthy, the unhealthy ones are used rather than none.

Health: `failures_to_unhealthy` consecutive failures mark an endpoint unhealthy; after its
cooldown a probe (RunPod's /health) that answers puts it on trial, where one job may go to it;
that job's success makes it healthy, a failure unhealthy again with the cooldown doubled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

# The longest cooldown an endpoint that keeps failing its trials waits between probes.
LONGEST_COOLDOWN_S = 600.0


class EndpointState(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    # Its probe answered: one job may try it.
    TRIAL = "trial"


@dataclass(frozen=True)
class Candidate:
    """What the selection rule needs to know of one endpoint now."""

    id: str
    price_per_s_usd: float
    # Tier names it runs; empty: every tier.
    tiers: frozenset[str]
    free_slots: int
    state: EndpointState
    # On trial: whether its one trial job is already out.
    trial_taken: bool = False

    def runs(self, tier: str) -> bool:
        return not self.tiers or not tier or tier in self.tiers

    @property
    def usable(self) -> bool:
        if self.state is EndpointState.HEALTHY:
            return True
        return self.state is EndpointState.TRIAL and not self.trial_taken


def choose_endpoint(
    candidates: Sequence[Candidate], tier: str, *, avoid: Iterable[str] = ()
) -> str | None:
    """The endpoint a model step of `tier` goes to now; None: wait for a slot (or a recovery)."""
    runs_tier = [c for c in candidates if c.runs(tier)]
    # With every eligible endpoint unhealthy, holding jobs back gains nothing (a pool of one
    # keeps working): they go on, and each job's own attempts bound what fails.
    usable = [c for c in runs_tier if c.usable] or runs_tier
    avoided = set(avoid)
    preferred = [c for c in usable if c.id not in avoided] or usable
    free = [c for c in preferred if c.free_slots > 0]
    if not free:
        return None
    return min(free, key=lambda c: (c.price_per_s_usd, -c.free_slots, c.id)).id


def eligible(candidates: Sequence[Candidate], tier: str) -> list[str]:
    """The endpoints a tier's jobs may ever use (configuration, whatever their health)."""
    return [c.id for c in candidates if c.runs(tier)]


class EndpointHealth:
    """One endpoint's health over an injected clock's times (seconds)."""

    def __init__(self, *, failures_to_unhealthy: int, cooldown_s: float) -> None:
        self.failures_to_unhealthy = failures_to_unhealthy
        self.base_cooldown_s = cooldown_s
        self.cooldown_s = cooldown_s
        self.state = EndpointState.HEALTHY
        self.failures = 0
        self.unhealthy_since: float | None = None
        self.trial_taken = False
        self.marked_unhealthy = 0

    def succeeded(self) -> None:
        """A request answered or a run completed: the endpoint works."""
        self.failures = 0
        if self.state is not EndpointState.HEALTHY:
            self.state = EndpointState.HEALTHY
            self.cooldown_s = self.base_cooldown_s
            self.unhealthy_since = None
            self.trial_taken = False

    def failed(self, now: float) -> bool:
        """A failure; True when it just made the endpoint unhealthy."""
        self.failures += 1
        if self.state is EndpointState.TRIAL:
            self.cooldown_s = min(self.cooldown_s * 2, LONGEST_COOLDOWN_S)
            return self._unhealthy(now)
        if self.state is EndpointState.HEALTHY and self.failures >= self.failures_to_unhealthy:
            return self._unhealthy(now)
        return False

    def _unhealthy(self, now: float) -> bool:
        self.state = EndpointState.UNHEALTHY
        self.unhealthy_since = now
        self.trial_taken = False
        self.marked_unhealthy += 1
        return True

    def probe_due(self, now: float) -> bool:
        """Whether its cooldown is over, so a probe may ask whether it is back."""
        return (
            self.state is EndpointState.UNHEALTHY
            and self.unhealthy_since is not None
            and now - self.unhealthy_since >= self.cooldown_s
        )

    def probed(self, now: float, *, answered: bool) -> None:
        """A probe's outcome: on trial if it answered, else another cooldown."""
        if self.state is not EndpointState.UNHEALTHY:
            return
        if answered:
            self.state = EndpointState.TRIAL
            self.trial_taken = False
        else:
            self.unhealthy_since = now
