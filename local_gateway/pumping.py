"""An SMS pumping attack on the local gateway, and what the traffic policy let out.

Bots ask for one-time codes to every number of blocks of adjacent numbers, and to numbers
of a country the sender does not serve; real users ask for one code each, to scattered
numbers. Everything goes through the SQS door, shuffled, with the policy the stack
deploys (`cdk.json`'s `trafficPolicy`) plus the attacked country blocked, as an operator
would do (`smsgw policy block`). `make load` runs it at full size after the load run; the
integration tests run it small.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any, Final

from local_gateway.gateway import LocalGateway
from local_gateway.load import wait_for_fates
from local_gateway.resources import default_policy_document

BLOCKED_COUNTRY: Final = "RU"
_BLOCK: Final = 100  # numbers in a block of adjacent numbers (the Prefix limit's 2 digits)


@dataclass(frozen=True)
class PumpingReport:
    """How many SMS each kind of request got out."""

    attack_requests: int
    attack_sent: int
    attack_bound: int
    blocked_requests: int
    blocked_sent: int
    users: int
    users_served: int
    duplicated: int
    unaccounted: int
    seconds: float

    @property
    def holds(self) -> bool:
        """The attack bounded, the blocked country silent, every user served, once."""
        return (
            self.attack_sent <= self.attack_bound
            and self.blocked_sent == 0
            and self.users_served == self.users
            and not self.duplicated
            and not self.unaccounted
        )

    def summary(self) -> str:
        """One line a person reads."""
        return (
            f"pumping: the attack got {self.attack_sent} of {self.attack_requests} SMS out "
            f"(bound {self.attack_bound}); the blocked country {self.blocked_sent} of "
            f"{self.blocked_requests}; {self.users_served} of {self.users} real users got "
            f"their code; {self.duplicated} duplicated, {self.unaccounted} unaccounted; "
            f"{self.seconds:.0f} s"
        )


def run_pumping(
    gateway: LocalGateway, blocks: int, blocked: int, users: int, timeout_s: float = 1800
) -> PumpingReport:
    """Send the attack and the users' requests; wait for every fate; count what went out."""
    sandbox = gateway.sandbox
    if sandbox is None:
        raise RuntimeError("a pumping run needs the sandbox (it counts what went out)")
    sandbox.reset()
    gateway.reset_protection()  # the counters start empty, as for a fresh stack
    policy = json.loads(default_policy_document())
    policy.setdefault("Countries", {})["Block"] = [BLOCKED_COUNTRY]
    ssm = gateway.clients["ssm"]
    name = gateway.outputs["PolicyParameterName"]
    before = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    requests = _requests(blocks, blocked, users)
    started, wall_start = time.monotonic(), time.time()
    try:
        ssm.put_parameter(Name=name, Value=json.dumps(policy), Type="String", Overwrite=True)
        # In AWS the block takes effect within a minute; the run does not wait it out.
        gateway.refresh_policy()
        _send(gateway, requests)
        parked = wait_for_fates(gateway, {r["UserId"] for r in requests}, started + timeout_s)
    finally:
        ssm.put_parameter(Name=name, Value=before, Type="String", Overwrite=True)
        gateway.refresh_policy()
    sent = [m.body.get("UserId", "") for m in sandbox.accepted]
    fates = sent + [p["UserId"] for p in parked]
    prefix = next(limit for limit in policy.get("Limits", []) if limit["Scope"] == "Prefix")
    # The windows are fixed and aligned to the clock: a run that straddles an edge may let
    # a block's count through in each window it touched (the README's edge note).
    windows = int(time.time() // prefix["Seconds"] - wall_start // prefix["Seconds"]) + 1
    return PumpingReport(
        attack_requests=blocks * _BLOCK,
        attack_sent=sum(1 for u in sent if u.startswith("attack-")),
        attack_bound=blocks * prefix["Count"] * windows,
        blocked_requests=blocked,
        blocked_sent=sum(1 for u in sent if u.startswith("blocked-")),
        users=users,
        users_served=len({u for u in sent if u.startswith("user-")}),
        duplicated=len(fates) - len(set(fates)),
        unaccounted=len({r["UserId"] for r in requests} - set(fates)),
        seconds=time.monotonic() - started,
    )


def _requests(blocks: int, blocked: int, users: int) -> list[dict[str, Any]]:
    rng = random.Random(20261130)
    attack = [
        (f"attack-{b}-{n}", f"+86138{b:04d}00{n:02d}") for b in range(blocks) for n in range(_BLOCK)
    ]
    russia = [(f"blocked-{n}", f"+7912{n:07d}") for n in range(blocked)]
    prefixes = ("139", "150", "186", "188")
    scattered = {f"+86{rng.choice(prefixes)}{rng.randrange(10**8):08d}" for _ in range(users)}
    while len(scattered) < users:
        scattered.add(f"+86{rng.choice(prefixes)}{rng.randrange(10**8):08d}")
    real = [(f"user-{n}", number) for n, number in enumerate(sorted(scattered))]
    everyone = attack + russia + real
    rng.shuffle(everyone)
    return [
        {
            "PhoneNumbers": [number],
            "TemplateId": "UTA-OTP",
            "TemplateParams": [f"{rng.randrange(10**6):06d}"],
            "UserId": user_id,
        }
        for user_id, number in everyone
    ]


def _send(gateway: LocalGateway, requests: list[dict[str, Any]]) -> None:
    sqs, queue = gateway.clients["sqs"], gateway.outputs["QueueUrl"]
    for start in range(0, len(requests), 10):
        if start % 300 == 0:
            while gateway.depth(queue) > 300:  # a steady producer (see load._pace)
                time.sleep(0.1)
        entries = [
            {"Id": str(n), "MessageBody": json.dumps(body)}
            for n, body in enumerate(requests[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
