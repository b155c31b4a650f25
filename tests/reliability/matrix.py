"""One cell of the fault matrix: a scenario at a door, run and judged."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sms_gateway.gateway import Gateway
from tests.reliability.doors import RUNNERS, DoorRun, TestMessage, make_messages
from tests.reliability.invariants import Observed, Tally, tally
from tests.reliability.scenarios import K, Scenario
from tests.reliability.world import WORST_CASE_CALL_MS, Cell, World, leaked
from tests.unit.conftest import assert_nothing_personal_in


@dataclass
class Row:
    """What one cell produced: the judged outcomes and the figures behind them."""

    scenario: str
    door: str
    messages: int
    tally: Tally
    provider_calls: int
    invocations: int
    retries: int
    replays: int
    # Provider calls begun with less time left than a worst-case call needs.
    calls_without_time: int
    crashes: list[str]
    leaks: list[str]
    codes: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The row as the report reads it."""
        return {
            "scenario": self.scenario,
            "door": self.door,
            "messages": self.messages,
            "outcomes": self.tally.as_dict(),
            "provider_calls": self.provider_calls,
            "invocations": self.invocations,
            "retries": self.retries,
            "replays": self.replays,
            "calls_without_time": self.calls_without_time,
        }


def run_cell(world: World, scenario: Scenario, door: str) -> Row:
    """Build the cell, break it as the scenario says, send three messages through `door`
    with its retries, and judge every message."""
    cell = world.new_cell(f"{scenario.id}-{door}", create_secret=scenario.create_secret)
    mark = world.logs.mark()
    gateway: Gateway | None = None
    try:
        if scenario.install is not None:
            cell.recover = scenario.install(world, cell)
            cell.recover_after = K
        gateway = world.build_gateway(cell, scenario.read_timeout_s)
        messages = make_messages(world, cell)
        if scenario.provider is not None:
            for message in messages:
                world.sandbox.add_fault(scenario.provider(message.template_id))
        run = RUNNERS[door](world, cell, messages, scenario.contexts, scenario.copies)
        if scenario.settle_s:
            time.sleep(scenario.settle_s)  # a late answer is recorded when it is sent
        observations, codes = observe(world, cell, messages, run, door, scenario.unknown_kinds)
        provider_calls = len(world.sandbox.requests)
        text = world.logs.since(mark)
        # The unit suite's own check too: whatever the sandbox saw (both actions' numbers
        # and parameters, TaskContent included) and the known secrets, none in the logs.
        assert_nothing_personal_in(text, world.sandbox)
    finally:
        world.end_cell(cell, gateway)
    numbers = {n for m in messages for n in m.numbers}
    params = {p for m in messages for p in m.params}
    return Row(
        scenario=scenario.id,
        door=door,
        messages=len(messages),
        tally=tally(observations),
        provider_calls=provider_calls,
        invocations=run.invocations,
        retries=run.retries,
        replays=cell.replays,
        calls_without_time=_calls_without_time(cell),
        crashes=run.crashes,
        leaks=leaked(text, numbers, params, world.secrets),
        codes=codes,
    )


def observe(
    world: World,
    cell: Cell,
    messages: list[TestMessage],
    run: DoorRun,
    door: str,
    unknown_kinds: frozenset[str],
) -> tuple[list[Observed], dict[str, tuple[str | None, int | None]]]:
    """What the provider, the dead-letter queue and the door say about each message."""
    requests = world.sandbox.requests
    accepted = world.sandbox.accepted
    dead_letters = world.dead_letters(cell)
    observations: list[Observed] = []
    codes = dict(run.codes)
    for message in messages:
        numbers = set(message.numbers)
        asked = [r for r in requests if national_numbers(r.body) & numbers]
        after_unknown, unknown_seen = 0, False
        for request in asked:
            after_unknown += unknown_seen
            unknown_seen = unknown_seen or request.fault in unknown_kinds
        parked = [
            d["Attributes"] for d in dead_letters if any(n in d["Body"] for n in message.numbers)
        ]
        for attributes in parked:
            if attributes.get("ErrorCode"):
                ret_code = attributes.get("RetCode")
                codes[message.id] = (attributes["ErrorCode"], int(ret_code) if ret_code else None)
        observations.append(
            Observed(
                message=message.id,
                door=door,
                seen=run.seen.get(message.id, "nothing"),
                dead_letters=parked,
                accepted=sum(1 for a in accepted if national_numbers(a.body) & numbers),
                asked_after_unknown=after_unknown,
            )
        )
    return observations, codes


def national_numbers(body: Any) -> set[str]:
    """The national part of every number a provider request carried (both actions)."""
    if not isinstance(body, dict):
        return set()
    numbers = [str(n) for n in body.get("PhoneNumbers") or []]
    numbers += [
        str(target.get("Phone", ""))
        for task in body.get("TaskContent") or []
        for target in task.get("Target") or []
    ]
    return {n.split(")")[-1] for n in numbers}


def _calls_without_time(cell: Cell) -> int:
    return sum(
        1
        for lambda_left, api_left in cell.call_starts
        if min(lambda_left, api_left if api_left is not None else lambda_left) < WORST_CASE_CALL_MS
    )
