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


def test_a_code_inside_a_digest_is_not_a_leak() -> None:
    line = "idempotency key: sms-gateway-chunk#6adec3827f1fab552186a0b1c2d3e4f5"

    assert values_in(line, {CODE}) == []


def test_a_number_in_a_hyphenated_run_of_digits_is_still_a_leak() -> None:
    number = "13800138000"

    assert values_in("to +86-13800138000-0000-0000", {number}) == [number]
    assert values_in("chunk#13800138000", {number}) == [number]
    assert values_in("face-13800138000", {number}) == [number]
    assert values_in("13800138000-abcdefabcdef0000", {number}) == [number]


def test_the_port_of_a_loopback_server_is_not_a_leak() -> None:
    line = "Starting new HTTP connection (1): 127.0.0.1:55218"

    assert values_in(line, {"55218"}) == []
    assert values_in("param 55218 on 127.0.0.1:80", {"55218"}) == ["55218"]
