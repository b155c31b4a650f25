"""The harness's leak check: what it counts as a leak, and what it does not."""

from tests.unit.conftest import values_in

CODE = "552186"


def test_a_code_inside_a_random_id_is_not_a_leak() -> None:
    line = (
        '{"message_id":"29fad911-6d9d-4035-aac8-5e13c3552186",'
        '"SessionNos":["ab552186-0000-4000-8000-000000000000"]}'
    )

    assert values_in(line, {CODE}) == []


def test_a_code_beside_an_id_is_still_a_leak() -> None:
    line = '{"message_id":"29fad911-6d9d-4035-aac8-5e13c3bac6c0","reason":"code 552186 refused"}'

    assert values_in(line, {CODE}) == [CODE]


def test_a_code_in_a_string_or_after_a_letter_is_a_leak() -> None:
    assert values_in('{"params":["552186"]}', {CODE}) == [CODE]
    assert values_in("code:x552186", {CODE}) == [CODE]


def test_a_longer_run_of_digits_is_not_the_code() -> None:
    assert values_in("account 1552186 and 5521860", {CODE}) == []
