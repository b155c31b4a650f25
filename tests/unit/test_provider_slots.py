"""The provider slots: calls wait for one, and the time left is checked once it is theirs."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from sms_gateway.credentialed_client import CredentialedClient
from sms_gateway.credentials import CredentialsSource
from sms_gateway.errors import OutOfTimeError
from sms_gateway.uspeedo_client import Credentials, UspeedoClient

CREDENTIALS = Credentials("AKID", "secret", 1)
ENOUGH_MS = 3_600_000


class _FixedCredentials:
    def get(self, *, refresh: bool = False) -> Credentials:
        return CREDENTIALS


class _Client:
    credentials = CREDENTIALS


def _client_with_one_slot() -> CredentialedClient:
    return CredentialedClient(
        cast(CredentialsSource, _FixedCredentials()),
        "http://127.0.0.1:1",
        lambda credentials, endpoint: cast(UspeedoClient, _Client()),
        max_in_flight=1,
    )


def test_the_time_left_is_checked_after_waiting_for_a_slot() -> None:
    client = _client_with_one_slot()
    first_entered, release_first, first_done = threading.Event(), threading.Event(), [False]
    second_checked = threading.Event()
    seen_by_second_check: list[bool] = []
    second_error: list[BaseException] = []

    def first_call(_: Any) -> str:
        first_entered.set()
        release_first.wait(5)
        first_done[0] = True
        return "first"

    def second_remaining_ms() -> int:
        # What the second call's time check saw: was the first call's slot given back?
        seen_by_second_check.append(first_done[0])
        second_checked.set()
        return 0  # the wait used up the invocation

    def second() -> None:
        try:
            client.call(lambda _: "second", second_remaining_ms)
        except OutOfTimeError as exc:
            second_error.append(exc)

    first = threading.Thread(target=client.call, args=(first_call, lambda: ENOUGH_MS))
    first.start()
    assert first_entered.wait(5)
    waiting = threading.Thread(target=second)
    waiting.start()
    second_checked.wait(0.5)  # a check made before waiting for the slot happens at once
    release_first.set()
    first.join(5)
    waiting.join(5)

    assert seen_by_second_check == [True]
    assert [type(e) for e in second_error] == [OutOfTimeError]


def test_a_call_gives_its_slot_back_when_it_fails() -> None:
    client = _client_with_one_slot()

    def failing(_: Any) -> str:
        raise RuntimeError("the provider call failed")

    with pytest.raises(RuntimeError):
        client.call(failing)
    # A slot kept by the failed call would leave the next one waiting for ever: it runs on
    # a thread of its own, given a few seconds.
    answers: list[str] = []
    following = threading.Thread(
        target=lambda: answers.append(client.call(lambda _: "next")), daemon=True
    )
    following.start()
    following.join(5)

    assert answers == ["next"]
