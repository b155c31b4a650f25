"""The fault matrix: every door × every fault, each message judged against the contract.

A cell sends three messages (one number; two recipients with their own codes, which go
as SendBatchUSMSMessage; two numbers in other accepted forms) through one door with that
door's real retry behaviour, while one fault is in place. Then the invariant checker
judges each message, and the cell must also show: no crash, every call started with
time to finish it, the refusal's code, and no personal data or secret in its logs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability import figures
from tests.reliability.doors import DOORS, make_messages, run_sqs
from tests.reliability.invariants import REDRIVEN, SENT, tally
from tests.reliability.matrix import Row, observe, run_cell
from tests.reliability.scenarios import SCENARIOS, Scenario, default_contexts
from tests.reliability.world import World


@pytest.fixture(scope="module")
def rows() -> Iterator[list[Row]]:
    """Every passing cell's row; written for the report when the whole matrix passed."""
    collected: list[Row] = []
    yield collected
    expected = len(SCENARIOS) * len(DOORS)
    figures.write_part(
        "fault_matrix",
        {
            "doors": list(DOORS),
            "scenarios": [{"id": s.id, "fault": s.fault, "kind": s.kind} for s in SCENARIOS],
            "rows": [row.as_json() for row in collected],
        },
        complete=len(collected) == expected,
    )


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_every_message_meets_the_contract(
    world: World, rows: list[Row], scenario: Scenario, door: str
) -> None:
    row = run_cell(world, scenario, door)

    assert row.crashes == []
    assert row.tally.violations == []
    assert (row.tally.duplicates, row.tally.lost) == (0, 0)
    expected = scenario.expected(door)
    assert dict(row.tally.counts) == {expected: row.messages}
    assert row.calls_without_time == 0, "a provider call began without time to finish it"
    if expected == REDRIVEN:
        # The queue's redrive and Lambda's on-failure destination carry no reason.
        assert row.codes == {}
    else:
        if scenario.expect_code is not None:
            assert {code for code, _ in row.codes.values()} == {scenario.expect_code}
        if scenario.expect_ret_code is not None:
            assert {ret for _, ret in row.codes.values()} == {scenario.expect_ret_code}
    assert row.leaks == []
    rows.append(row)


def test_copies_in_one_batch_are_sent_once(world: World) -> None:
    """Both copies of each message in the same batch, processed at once: one sends, the
    other finds the lock (MessageInProgress) or the record, and is never sent again. How
    the threads interleave varies, so this is judged but not tabled."""
    cell = world.new_cell("copies-in-one-batch")
    gateway = world.build_gateway(cell)
    try:
        messages = make_messages(world, cell)
        run = run_sqs(world, cell, messages, default_contexts, 2, together=True)
        observations, _ = observe(world, cell, messages, run, "sqs", frozenset())
    finally:
        world.end_cell(cell, gateway)

    judged = tally(observations)
    assert judged.violations == []
    assert dict(judged.counts) == {SENT: len(messages)}
    assert run.crashes == []
