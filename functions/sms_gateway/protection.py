"""Protection before the gateway pays: expiry, opt-outs, country rules, limits and caps.

Each number of a chunk is checked in the contract's order — opt-out, country, limits —
and a refused one gets its reason (`opted_out`, `country_blocked`, `rate_limited`,
`cap_reached`); the rest of the chunk is sent. In `Monitor` mode nothing the policy would
refuse is refused (it is counted as `PolicyWouldRefuse`), but opt-outs still apply: they
are the recipient's consent, not traffic shaping.

A chunk is screened once: its limit decisions are remembered in the protection table
under the chunk's idempotency key (an HMAC), so a retry of a chunk that was counted — its
provider call failed, say — does not count its numbers again. A chunk none of whose
numbers passed stores nothing: after the policy changes, a redrive is judged afresh.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sms_gateway import contract
from sms_gateway.errors import ExpiredError
from sms_gateway.gateway_key import GatewayKeySource
from sms_gateway.limit_counters import Candidate, LimitCounters, LimitRefusal
from sms_gateway.optouts import OptOutStore
from sms_gateway.phone import region_of
from sms_gateway.policy import TrafficPolicy
from sms_gateway.policy_source import PolicySource
from sms_gateway.telemetry import Counters

logger = logging.getLogger(__name__)

LIMIT_REASONS: Final = frozenset({contract.RATE_LIMITED, contract.CAP_REACHED})


@dataclass(frozen=True)
class Screening:
    """What the checks decided for one chunk: the refused positions with their reasons,
    and — when every refusal was a limit — seconds until the earliest refusing window
    ends (the API's `Retry-After`)."""

    refused: tuple[tuple[int, str], ...] = ()
    retry_after: float | None = None


@dataclass(frozen=True)
class _Decision:
    reason: str
    window_end: float | None = None


class Protection:
    """The checks of one gateway: its policy, opt-out list and counters."""

    def __init__(
        self,
        policies: PolicySource,
        optouts: OptOutStore | None,
        limits: LimitCounters | None,
        gateway_key: GatewayKeySource,
        telemetry: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policies = policies
        self._optouts = optouts
        self._limits = limits
        self._gateway_key = gateway_key
        self._telemetry = telemetry
        self._clock = clock

    def check_age(self, entered_at: float | None, time_to_live: int | None) -> None:
        """Raise `ExpiredError` if the message is older than its `TimeToLive`, else the
        policy's `MaxAgeSeconds`, counted from when it entered AWS. No TTL and no policy
        (or no `MaxAgeSeconds`): no expiry."""
        if entered_at is None:
            return
        policy = self._policies.current()
        max_age = time_to_live or (policy.max_age_seconds if policy else None)
        age = self._clock() - entered_at
        if max_age is not None and age > max_age:
            raise ExpiredError(
                f"the message is {age:.0f} s old, older than the {max_age} s it may wait; "
                "it was not sent"
            )

    def screen(self, chunk_key: str, phones: Sequence[str]) -> Screening:
        """Check every number of one chunk; count those that pass against the limits."""
        policy = self._policies.current()
        optouts, remembered = self._read(chunk_key, phones, policy)
        regions = [region_of(phone) for phone in phones]
        decisions: dict[int, _Decision] = {
            position: _Decision(contract.OPTED_OUT)
            for position, phone in enumerate(phones)
            if phone in optouts
        }
        if policy is not None:
            for position, region in enumerate(regions):
                if position not in decisions and not policy.countries.permits(region):
                    decisions[position] = _Decision(contract.COUNTRY_BLOCKED)
            if remembered is not None:  # a retry of a counted chunk: its decisions stand
                decisions.update(
                    {p: _Decision(r.reason, r.window_end) for p, r in remembered.items()}
                )
            else:
                decisions.update(
                    self._limit_decisions(policy, chunk_key, phones, regions, decisions)
                )
        return self._verdict(policy, decisions, regions)

    def _read(
        self, chunk_key: str, phones: Sequence[str], policy: TrafficPolicy | None
    ) -> tuple[set[str], dict[int, LimitRefusal] | None]:
        """The opt-outs among `phones` and the chunk's remembered limit decisions, read
        at once (one round)."""
        limits = self._limits if policy is not None and policy.limits else None
        optouts = self._optouts
        if optouts is None:
            return set(), limits.remembered(chunk_key) if limits else None
        if limits is None:
            return optouts.opted_out(phones), None
        remembered = limits.pool.submit(limits.remembered, chunk_key)
        return optouts.opted_out(phones), remembered.result()

    def _limit_decisions(
        self,
        policy: TrafficPolicy,
        chunk_key: str,
        phones: Sequence[str],
        regions: Sequence[str],
        decided: dict[int, _Decision],
    ) -> dict[int, _Decision]:
        if not policy.limits or self._limits is None:
            return {}
        candidates = [
            Candidate(position, phone, regions[position])
            for position, phone in enumerate(phones)
            if position not in decided
        ]
        if not candidates:
            return {}
        key = self._gateway_key.get()
        refused = self._limits.take(policy.limits, candidates, key, self._clock())
        found = {p: _Decision(r.reason, r.window_end) for p, r in refused.items()}
        if len(found) < len(candidates):
            self._limits.remember(chunk_key, refused, self._clock())  # something was counted
        return found

    def _verdict(
        self, policy: TrafficPolicy | None, decisions: dict[int, _Decision], regions: Sequence[str]
    ) -> Screening:
        enforcing = policy is None or policy.enforcing
        refused = {
            position: decision
            for position, decision in decisions.items()
            if enforcing or decision.reason == contract.OPTED_OUT
        }
        would = {p: d for p, d in decisions.items() if p not in refused}
        self._count("PolicyRefused", refused, regions)
        self._count("PolicyWouldRefuse", would, regions)
        ends = [d.window_end for d in refused.values()]
        only_limits = bool(refused) and all(d.reason in LIMIT_REASONS for d in refused.values())
        retry_after = (
            max(0.0, min(e for e in ends if e is not None) - self._clock()) if only_limits else None
        )
        return Screening(
            refused=tuple(sorted((p, d.reason) for p, d in refused.items())),
            retry_after=retry_after,
        )

    def _count(self, metric: str, decisions: dict[int, _Decision], regions: Sequence[str]) -> None:
        tally = Counter((d.reason, regions[p]) for p, d in decisions.items())
        for (reason, region), count in tally.items():
            self._telemetry.count_with(metric, {"Reason": reason, "Country": region}, count)
        if tally:
            # Reasons and countries, never a number.
            logger.info(
                "numbers refused by the traffic policy"
                if metric == "PolicyRefused"
                else "numbers the traffic policy would refuse (Monitor)",
                extra={"refusals": {f"{r}/{c}": n for (r, c), n in tally.items()}},
            )
