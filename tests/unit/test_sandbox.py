"""The USpeedo sandbox over real HTTP on 127.0.0.1: signatures, field rules, receipts,
faults, the control API and keep-alive. Requests are signed by hand here, not by the
gateway's client, so the sandbox is checked against the documented API itself."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError

from sms_gateway import retcodes
from sms_gateway.signing import sign
from uspeedo_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_SECRET,
    AcceptedMessage,
    Fault,
    Sandbox,
)
from uspeedo_sandbox.server import NESTING_BOMB_DEPTH

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_ID = "UTA20210101XXXX"
DROP = object()  # an override that removes a field from the body


# --- helpers -----------------------------------------------------------------------------


def message(**overrides: Any) -> dict[str, Any]:
    """A valid SendUSMSMessage body; `Field=DROP` removes a field."""
    body: dict[str, Any] = {
        "Action": "SendUSMSMessage",
        "AccountId": DEFAULT_ACCOUNT_ID,
        "PhoneNumbers": ["(1)4155550100", "(86)13800000000"],
        "TemplateId": TEMPLATE_ID,
        "SenderId": "USpeedo",
        "TemplateParams": ["1234", "5"],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not DROP}


def signed_headers(
    body: dict[str, Any],
    *,
    access_key_id: str = DEFAULT_ACCESS_KEY_ID,
    secret: str = DEFAULT_SECRET,
    timestamp: int | str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four auth headers for `body`, as a client following the docs sends them."""
    return {
        "Content-Type": "application/json",
        "X-Access-Key-Id": access_key_id,
        "X-Signature": sign(body, secret),
        "X-Timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "X-Nonce": uuid.uuid4().hex if nonce is None else nonce,
    }


def post(
    pool: urllib3.HTTPConnectionPool,
    body: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
    *,
    path: str = "/api",
    **kwargs: Any,
) -> urllib3.BaseHTTPResponse:
    """POST `body` (signed with the default key unless `headers` are given)."""
    if isinstance(body, dict):
        headers = signed_headers(body) if headers is None else headers
        raw = json.dumps(body, ensure_ascii=False).encode()
    else:
        raw = body
    return pool.request("POST", path, body=raw, headers=headers or {}, **kwargs)


def call(
    pool: urllib3.HTTPConnectionPool,
    body: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST to the API and return its JSON answer, which must come with HTTP 200."""
    response = post(pool, body, headers)
    assert response.status == 200, response.data
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


def control(
    pool: urllib3.HTTPConnectionPool, method: str, name: str, body: Any = None
) -> tuple[int, Any]:
    """Call the control API: (HTTP status, JSON answer)."""
    raw = None if body is None else json.dumps(body).encode()
    response = pool.request(method, f"/_sandbox/{name}", body=raw)
    return response.status, response.json()


def make_pool(sb: Sandbox, read_timeout: float = 2.0) -> urllib3.HTTPConnectionPool:
    # retries=False: a fault must reach the test as it is, not be retried away by urllib3.
    return urllib3.HTTPConnectionPool(
        "127.0.0.1",
        sb.port,
        maxsize=1,
        retries=False,
        timeout=urllib3.Timeout(connect=1.0, read=read_timeout),
    )


class FakeClock:
    """A settable clock for the timestamp window and nonce expiry."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    # One server for the module (start/stop cost adds up); each test gets it reset.
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def sb(shared_sandbox: Sandbox) -> Sandbox:
    shared_sandbox.reset()
    return shared_sandbox


@pytest.fixture
def pool(sb: Sandbox) -> Iterator[urllib3.HTTPConnectionPool]:
    with make_pool(sb) as p:
        yield p


# --- accepted messages -------------------------------------------------------------------


def test_valid_send_is_accepted_and_listed(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    body = message(ExtendCode="01", UserId="order-42")
    # The official SDK appends ?Action=…: it must make no difference.
    response = post(pool, body, path="/api?Action=SendUSMSMessage")
    answer = response.json()

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert answer["RetCode"] == 0
    assert answer["Action"] == "SendUSMSMessageResponse"
    assert answer["Message"] == "提交发送成功"
    assert answer["UserId"] == "order-42"
    uuid.UUID(answer["SessionNo"])  # uuid-like
    assert sb.accepted == [AcceptedMessage(body=body, session_no=answer["SessionNo"])]
    status, listed = control(pool, "GET", "messages")
    assert status == 200
    [entry] = listed["Messages"]
    assert entry == {
        "Action": "SendUSMSMessage",
        "Body": body,
        "SessionNo": answer["SessionNo"],
        "Targets": sb.accepted[0].targets,
        "Refused": [],
    }
    shared = {"TemplateId": TEMPLATE_ID, "SenderId": "USpeedo", "TemplateParams": ["1234", "5"]}
    assert sb.accepted[0].targets == [
        {"Phone": phone, **shared, "ExtendCode": "01", "UserId": "order-42"}
        for phone in body["PhoneNumbers"]
    ]


def test_seed_example_with_bare_numbers_and_int_params_is_accepted(
    pool: urllib3.HTTPConnectionPool,
) -> None:
    # The seed document's own curl example: bare (China) numbers, integer TemplateParams.
    body = {
        "Action": "SendUSMSMessage",
        "AccountId": 123,
        "PhoneNumbers": ["18512345678", "13112345678"],
        "TemplateParams": [123456, 10],
        "SenderId": "UCloud",
        "TemplateId": "UTA20210101xxxx",
        "UserId": "hGBCrtQw",
    }
    assert call(pool, body)["RetCode"] == 0


def test_session_numbers_are_unique_and_user_id_is_echoed_only_when_sent(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    first, second = call(pool, message()), call(pool, message())

    assert first["SessionNo"] != second["SessionNo"]
    assert "UserId" not in first
    assert [m.session_no for m in sb.accepted] == [first["SessionNo"], second["SessionNo"]]


def test_accepted_is_a_copy(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    call(pool, message())
    sb.accepted[0].body["PhoneNumbers"].clear()
    sb.requests.clear()

    assert sb.accepted[0].body["PhoneNumbers"] == ["(1)4155550100", "(86)13800000000"]
    assert len(sb.requests) == 1


def test_chunked_body_is_read(pool: urllib3.HTTPConnectionPool) -> None:
    body = message()
    raw = json.dumps(body).encode()
    response = pool.request(
        "POST", "/api", body=iter([raw[:10], raw[10:]]), headers=signed_headers(body)
    )
    assert response.json()["RetCode"] == 0


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-Access-Key-Id", "X-Signature", "X-Timestamp", "X-Nonce"])
def test_missing_auth_header_is_170(pool: urllib3.HTTPConnectionPool, header: str) -> None:
    body = message()
    headers = signed_headers(body)
    del headers[header]

    answer = call(pool, body, headers)

    assert answer["RetCode"] == retcodes.SIGNATURE_MISSING == 170
    assert header in answer["Message"]


def test_unknown_access_key_is_215398(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    body = message()
    answer = call(pool, body, signed_headers(body, access_key_id="AKIDNOBODY"))
    assert answer["RetCode"] == retcodes.BAD_ACCESS_KEY == 215398
    assert sb.accepted == []


@pytest.mark.parametrize("timestamp", ["soon", "1.7e9", "-5"])
def test_timestamp_not_an_integer_is_171(pool: urllib3.HTTPConnectionPool, timestamp: str) -> None:
    body = message()
    answer = call(pool, body, signed_headers(body, timestamp=timestamp))
    assert answer["RetCode"] == retcodes.SIGNATURE_WRONG == 171


@pytest.mark.parametrize("skew", [-1000, 1000])
def test_stale_or_future_timestamp_is_171(pool: urllib3.HTTPConnectionPool, skew: int) -> None:
    body = message()
    answer = call(pool, body, signed_headers(body, timestamp=int(time.time()) + skew))
    assert answer["RetCode"] == 171


def test_timestamp_window_is_300_seconds_and_nonces_expire_after_it() -> None:
    clock = FakeClock()
    now = int(clock.now)
    with Sandbox(clock=clock) as sb, make_pool(sb) as pool:

        def send(timestamp: int, nonce: str) -> int:
            body = message()
            answer = call(pool, body, signed_headers(body, timestamp=timestamp, nonce=nonce))
            return int(answer["RetCode"])

        assert send(now - 301, "n1") == 171
        assert send(now + 301, "n2") == 171
        assert send(now - 300, "n3") == 0
        assert send(now + 300, "n4") == 0
        assert send(now, "n3") == 171  # reused within 5 minutes
        clock.now += 301
        assert send(now + 301, "n3") == 0  # five minutes on, the nonce is free again


def test_nonce_longer_than_32_is_215392(pool: urllib3.HTTPConnectionPool) -> None:
    body = message()
    assert call(pool, body, signed_headers(body, nonce="n" * 32))["RetCode"] == 0
    answer = call(pool, body, signed_headers(body, nonce="m" * 33))
    assert answer["RetCode"] == retcodes.PARAMETER_ERROR == 215392


def test_reused_nonce_is_171(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    body = message()
    assert call(pool, body, signed_headers(body, nonce="once"))["RetCode"] == 0
    answer = call(pool, body, signed_headers(body, nonce="once"))

    assert answer["RetCode"] == 171
    assert "nonce" in answer["Message"]
    assert len(sb.accepted) == 1


def test_wrongly_signed_request_does_not_use_up_its_nonce(
    pool: urllib3.HTTPConnectionPool,
) -> None:
    body = message()
    forged = signed_headers(body, secret="not-the-secret", nonce="precious")
    assert call(pool, body, forged)["RetCode"] == 171
    assert call(pool, body, signed_headers(body, nonce="precious"))["RetCode"] == 0


def test_wrong_signature_is_171(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    body = message()
    headers = signed_headers(body)
    tampered = message(PhoneNumbers=["(1)4155550199"])  # signed body ≠ sent body

    assert call(pool, tampered, headers)["RetCode"] == 171
    assert call(pool, body, signed_headers(body, secret="other"))["RetCode"] == 171
    assert sb.accepted == []


@pytest.mark.parametrize("raw", [b"{not json", b'["Action"]', b""])
def test_body_not_a_json_object_is_215392(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool, raw: bytes
) -> None:
    headers = signed_headers({})
    answer = call(pool, raw, headers)

    assert answer["RetCode"] == 215392
    assert answer["Action"] == "Response"
    record = sb.requests[-1]
    assert (record.body_is_json, record.ret_code) == (raw == b'["Action"]', 215392)


def test_action_missing_is_160_and_unknown_is_161(pool: urllib3.HTTPConnectionPool) -> None:
    assert call(pool, message(Action=DROP))["RetCode"] == retcodes.ACTION_MISSING == 160
    unknown = call(pool, message(Action="SendSomethingElse"))
    assert unknown["RetCode"] == retcodes.ACTION_UNKNOWN == 161
    assert unknown["Action"] == "SendSomethingElseResponse"
    assert call(pool, message(Action=7))["RetCode"] == 161


# --- SendUSMSMessage field rules ---------------------------------------------------------

MANY = [f"(1)415555{i:04d}" for i in range(1001)]


@pytest.mark.parametrize(
    ("overrides", "ret_code"),
    [
        ({"PhoneNumbers": DROP}, 215397),
        ({"PhoneNumbers": []}, 215397),
        ({"TemplateId": DROP}, 215397),
        ({"TemplateId": ""}, 215397),
        ({"PhoneNumbers": "(1)4155550100"}, 215392),
        ({"TemplateId": 42}, 215392),
        ({"PhoneNumbers": MANY}, 18019),
        ({"PhoneNumbers": MANY[:1000]}, 0),
        ({"PhoneNumbers": ["(1)4155550100", "+14155550100"]}, 18014),
        ({"PhoneNumbers": ["(1)123"]}, 18014),
        ({"PhoneNumbers": ["(12345)4155550100"]}, 18014),
        ({"PhoneNumbers": ["(1)4155550100123456"]}, 18014),
        ({"PhoneNumbers": [4155550100]}, 18014),
        ({"PhoneNumbers": ["(0086)13800000000", "13800000000"]}, 0),
        ({"SenderId": "ABCDEFGHIJKL"}, 215392),
        ({"SenderId": "ABCDEFGHIJK"}, 0),
        ({"SenderId": 7}, 215392),
        ({"TemplateParams": "1234"}, 215392),
        ({"TemplateParams": ["1234", True]}, 215392),
        ({"TemplateParams": ["1234", ["5"]]}, 215392),
        ({"TemplateParams": [123456, "10"]}, 0),
        ({"TemplateParams": DROP}, 0),
        ({"ExtendCode": "01a"}, 215392),
        ({"ExtendCode": 1}, 215392),
        ({"ExtendCode": "0123"}, 0),
        ({"UserId": "u" * 33}, 215392),
        ({"UserId": "it's"}, 215392),
        ({"UserId": "order-\U0001f600"}, 215392),
        ({"UserId": "u" * 32}, 0),
        ({"AccountId": 124}, 172),
        ({"AccountId": "123"}, 172),
        ({"AccountId": DROP}, 0),
    ],
)
def test_field_rules(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool, overrides: dict[str, Any], ret_code: int
) -> None:
    answer = call(pool, message(**overrides))

    assert answer["RetCode"] == ret_code, answer
    assert answer["Action"] == "SendUSMSMessageResponse"
    assert len(sb.accepted) == (1 if ret_code == 0 else 0)
    if ret_code:
        assert answer["Message"]
        assert "SessionNo" not in answer


def test_invalid_numbers_message_names_positions_not_numbers(
    pool: urllib3.HTTPConnectionPool,
) -> None:
    # The Message can end up in the gateway's logs: it must not carry phone numbers.
    answer = call(pool, message(PhoneNumbers=["(1)4155550100", "+14155550177"]))
    assert answer["RetCode"] == 18014
    assert "1" in answer["Message"]
    assert "4155550177" not in answer["Message"]


def test_template_registry_and_keys_without_an_account() -> None:
    credentials: dict[str, tuple[str, int | None]] = {
        "AKIDONE": ("secret-one", None),  # bound to no account: any AccountId goes
        "AKIDTWO": ("secret-two", 77),
    }
    with (
        Sandbox(credentials=credentials, templates={"T2": 2, "T0": 0}) as sb,
        make_pool(sb) as pool,
    ):

        def send(access_key_id: str, secret: str, **overrides: Any) -> int:
            body = message(**overrides)
            headers = signed_headers(body, access_key_id=access_key_id, secret=secret)
            return int(call(pool, body, headers)["RetCode"])

        assert send("AKIDONE", "secret-one", TemplateId="T9") == 18017
        assert send("AKIDONE", "secret-one", TemplateId="T2", TemplateParams=["1"]) == 18018
        assert send("AKIDONE", "secret-one", TemplateId="T0") == 18018
        assert send("AKIDONE", "secret-one", TemplateId="T0", TemplateParams=DROP) == 0
        assert send("AKIDONE", "secret-one", TemplateId="T2", AccountId=999) == 0
        assert send("AKIDONE", "secret-one", TemplateId="T2", AccountId="x") == 172
        assert send("AKIDTWO", "secret-two", TemplateId="T2", AccountId=123) == 172
        assert send("AKIDTWO", "secret-two", TemplateId="T2", AccountId=77) == 0
        assert send(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET, TemplateId="T2") == 215398
        assert len(sb.accepted) == 3


# --- receipts ----------------------------------------------------------------------------


def receipts_body(session_nos: Any) -> dict[str, Any]:
    return {"Action": "GetUSMSSendReceipt", "AccountId": 123, "SessionNoSet": session_nos}


def test_receipts_for_accepted_messages(pool: urllib3.HTTPConnectionPool) -> None:
    before = int(time.time())
    first = call(pool, message(PhoneNumbers=["(0086)13800000000", "13900000000"], UserId="u1"))
    second = call(pool, message(PhoneNumbers=["(1)4155550100"]))

    answer = call(pool, receipts_body([second["SessionNo"], "no-such-session", first["SessionNo"]]))

    assert answer["RetCode"] == 0
    assert answer["Action"] == "GetUSMSSendReceiptResponse"
    data = answer["Data"]
    assert [entry["SessionNo"] for entry in data] == [second["SessionNo"], first["SessionNo"]]
    receipt_time = data[1]["ReceiptSet"][0]["ReceiptTime"]
    assert isinstance(receipt_time, int)
    assert before <= receipt_time <= time.time()
    common = {
        "CostCount": 1,
        "ReceiptResult": "Success",
        "ReceiptCode": "DELIVRD",
        "ReceiptDesc": "delivered",
        "ReceiptTime": receipt_time,
    }
    assert data[1]["ReceiptSet"] == [
        {"Phone": "13800000000", "CountryCode": "86", "UserId": "u1", **common},
        {"Phone": "13900000000", "CountryCode": "86", "UserId": "u1", **common},
    ]
    assert [(r["Phone"], r["CountryCode"], r["UserId"]) for r in data[0]["ReceiptSet"]] == [
        ("4155550100", "1", "")
    ]


@pytest.mark.parametrize(
    ("session_nos", "ret_code"),
    [(DROP, 215397), ([], 215397), (["s"] * 101, 215392), ([1], 215392), ("s", 215392)],
)
def test_receipt_query_rules(
    pool: urllib3.HTTPConnectionPool, session_nos: Any, ret_code: int
) -> None:
    body = {k: v for k, v in receipts_body(session_nos).items() if v is not DROP}
    answer = call(pool, body)
    assert answer["RetCode"] == ret_code
    assert "Data" not in answer


def test_receipts_of_unknown_sessions_are_empty_not_refused(
    pool: urllib3.HTTPConnectionPool,
) -> None:
    answer = call(pool, receipts_body(["s"] * 100))
    assert (answer["RetCode"], answer["Data"]) == (0, [])


# --- records -----------------------------------------------------------------------------


def test_requests_are_recorded_with_what_was_answered(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    body = message()
    headers = signed_headers(body, nonce="nonce-1")
    call(pool, body, headers)
    call(pool, message(PhoneNumbers=[]))

    ok, refused = sb.requests
    assert (ok.method, ok.path, ok.action) == ("POST", "/api", "SendUSMSMessage")
    assert ok.headers["X-Nonce"] == "nonce-1"
    assert ok.headers["X-Signature"] == headers["X-Signature"]
    assert (ok.body, ok.body_is_json) == (body, True)
    assert (ok.ret_code, ok.http_status, ok.fault) == (0, 200, None)
    assert (refused.ret_code, refused.http_status) == (215397, 200)


# --- faults ------------------------------------------------------------------------------


def test_status_fault_with_retry_after_then_recovers(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="status", status=503, retry_after=7, count=1))

    faulted = post(pool, message())
    assert faulted.status == 503
    assert faulted.headers["Retry-After"] == "7"
    assert faulted.json()["RetCode"] == retcodes.SERVER_ERROR
    assert sb.accepted == []  # a faulted request is not sent

    assert call(pool, message())["RetCode"] == 0
    assert len(sb.accepted) == 1
    assert [(r.http_status, r.fault) for r in sb.requests] == [(503, "status"), (200, None)]
    assert sb.faults == []  # count 1: retired


def test_status_fault_without_retry_after(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="status", status=429, message="slow down"))
    response = post(pool, message())
    assert (response.status, response.json()["Message"]) == (429, "slow down")
    assert "Retry-After" not in response.headers


def test_retcode_fault(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="retcode", ret_code=18013))
    answer = call(pool, message())
    assert (answer["RetCode"], answer["Action"]) == (18013, "SendUSMSMessageResponse")
    assert sb.accepted == []


def test_garbage_fault(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="garbage"))
    response = post(pool, message())
    assert response.status == 200
    with pytest.raises(ValueError, match="Expecting value"):
        json.loads(response.data)
    assert sb.accepted == []


def test_nested_fault_answers_a_nesting_bomb(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="nested"))
    response = post(pool, message())
    assert response.status == 200
    assert response.data == b"[" * NESTING_BOMB_DEPTH + b"]" * NESTING_BOMB_DEPTH
    assert sb.accepted == []


def test_truncated_fault(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="truncated", count=1))
    with pytest.raises(ProtocolError, match="IncompleteRead"):
        post(pool, message())
    assert sb.accepted == []
    assert call(pool, message())["RetCode"] == 0  # the pool recovers on a new connection


def test_drop_fault_resets_the_connection(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="drop", count=1))
    with pytest.raises(ProtocolError) as raised:
        post(pool, message())
    # SO_LINGER 0: an RST (ECONNRESET), not a close (RemoteDisconnected has no errno).
    assert getattr(raised.value.args[1], "errno", None) == errno.ECONNRESET
    assert [(r.fault, r.http_status) for r in sb.requests] == [("drop", None)]
    assert sb.accepted == []


def test_slow_fault_answers_normally_and_accepts(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="slow", delay=0.05))
    assert call(pool, message())["RetCode"] == 0
    assert len(sb.accepted) == 1
    assert sb.requests[0].fault == "slow"


def test_hang_fault_times_out_the_client_and_stop_still_returns_promptly() -> None:
    sb = Sandbox().start()
    try:
        with make_pool(sb, read_timeout=0.5) as pool:
            sb.set_fault(Fault(kind="hang"))
            with pytest.raises(ReadTimeoutError):
                post(pool, message())
            assert [r.fault for r in sb.requests] == ["hang"]

            sb.clear_faults()  # releases the hung request; new ones are answered
            assert call(pool, message())["RetCode"] == 0

            sb.set_fault(Fault(kind="hang"))
            with pytest.raises(ReadTimeoutError):
                post(pool, message(), timeout=urllib3.Timeout(connect=1.0, read=0.2))
            assert len(sb.accepted) == 1
    finally:
        started = time.monotonic()
        sb.stop()  # a request is still hanging in the server
        stopped_in = time.monotonic() - started
    assert stopped_in < 1.0
    assert not sb.running
    # The hung request's thread was released too, not left behind.
    handlers = [t for t in threading.enumerate() if t.name.startswith(f"uspeedo-sandbox:{sb.port}")]
    for thread in handlers:
        thread.join(timeout=1.0)
    assert [t.name for t in handlers if t.is_alive()] == []


def test_count_and_action_filters(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    sb.set_fault(Fault(kind="status", status=503, action="GetUSMSSendReceipt", count=2))

    sent = call(pool, message())
    assert sent["RetCode"] == 0  # another Action: untouched
    assert post(pool, receipts_body([sent["SessionNo"]])).status == 503
    assert post(pool, receipts_body([sent["SessionNo"]])).status == 503
    assert call(pool, receipts_body([sent["SessionNo"]]))["RetCode"] == 0
    assert sb.faults == []


def test_template_filter_fails_one_message_among_others(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="retcode", ret_code=215400, template_id="UTA-FLAKY"))

    assert call(pool, {**message(), "TemplateId": "UTA-FLAKY"})["RetCode"] == 215400
    assert call(pool, message())["RetCode"] == 0
    assert [m.body["TemplateId"] for m in sb.accepted] == [message()["TemplateId"]]


def test_stacked_faults_apply_first_match_first(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.add_fault(Fault(kind="retcode", ret_code=18013, count=1))
    sb.add_fault(Fault(kind="status", status=502, count=1))

    assert call(pool, message())["RetCode"] == 18013
    assert post(pool, message()).status == 502
    assert call(pool, message())["RetCode"] == 0


def test_set_fault_replaces_installed_faults(sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="garbage"))
    sb.set_fault(Fault(kind="drop"))
    assert sb.faults == [Fault(kind="drop")]


def outcomes(sb: Sandbox, pool: urllib3.HTTPConnectionPool, seed: int) -> list[int]:
    sb.reset()
    sb.set_fault(Fault(kind="retcode", ret_code=18004, probability=0.5, seed=seed))
    return [int(call(pool, message())["RetCode"]) for _ in range(24)]


def test_probability_is_reproducible_with_a_seed(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    first = outcomes(sb, pool, seed=7)

    assert set(first) == {0, 18004}
    assert outcomes(sb, pool, seed=7) == first
    other = outcomes(sb, pool, seed=8)
    assert other != first
    assert len(sb.accepted) == other.count(0)  # only the unfaulted ones were sent


def test_faults_never_apply_to_the_control_api(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="drop"))
    assert control(pool, "GET", "messages") == (200, {"Messages": []})
    assert sb.faults == [Fault(kind="drop")]


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault(kind="flaky")
    with pytest.raises(ValueError, match="probability"):
        Fault(kind="drop", probability=1.5)
    with pytest.raises(ValueError, match="count"):
        Fault(kind="drop", count=-1)
    with pytest.raises(ValueError, match="unknown fields"):
        Fault.from_json({"kind": "drop", "sttaus": 503})
    assert Fault.from_json({"kind": "status", "status": 500}).to_json()["status"] == 500


# --- the control API ---------------------------------------------------------------------


def test_control_api(sb: Sandbox, pool: urllib3.HTTPConnectionPool) -> None:
    status, answer = control(pool, "POST", "faults", {"kind": "status", "status": 503, "count": 1})
    assert status == 200
    assert sb.faults == [Fault(kind="status", status=503, count=1)]
    assert answer == control(pool, "GET", "faults")[1]
    assert post(pool, message()).status == 503

    control(pool, "POST", "faults", {"kind": "garbage"})
    assert control(pool, "DELETE", "faults") == (200, {"Faults": []})
    assert sb.faults == []
    sent = call(pool, message())

    status, requests = control(pool, "GET", "requests")
    assert status == 200
    assert [(r["Fault"], r["HttpStatus"], r["RetCode"]) for r in requests["Requests"]] == [
        ("status", 503, 215400),
        (None, 200, 0),
    ]
    assert requests["Requests"][1]["Body"] == message()
    messages = control(pool, "GET", "messages")[1]["Messages"]
    assert [(m["Action"], m["Body"], m["SessionNo"]) for m in messages] == [
        ("SendUSMSMessage", message(), sent["SessionNo"])
    ]

    assert control(pool, "POST", "reset") == (200, {"Reset": True})
    assert (sb.accepted, sb.requests, sb.faults) == ([], [], [])


@pytest.mark.parametrize(
    "fault", [{"kind": "nope"}, {"kind": "status", "bogus": 1}, ["drop"], {"count": 1}]
)
def test_control_api_refuses_bad_faults(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool, fault: Any
) -> None:
    status, answer = control(pool, "POST", "faults", fault)
    assert status == 400
    assert answer["Error"]
    assert sb.faults == []


def test_unknown_paths_and_methods(pool: urllib3.HTTPConnectionPool) -> None:
    for method, path, status in [
        ("GET", "/_sandbox/nothing", 404),
        ("GET", "/nothing", 404),
        ("GET", "/api", 405),
        ("PUT", "/_sandbox/messages", 405),
    ]:
        response = pool.request(method, path)
        assert response.status == status, (method, path)
        assert response.json()["Error"]


# --- the server --------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_over_one_connection(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    session_nos = {call(pool, message())["SessionNo"] for _ in range(50)}
    assert len(session_nos) == 50
    assert pool.num_connections == 1


def test_stop_closes_idle_keep_alive_connections() -> None:
    sb = Sandbox().start()
    with make_pool(sb) as pool:
        assert call(pool, message())["RetCode"] == 0  # leaves an idle pooled connection
        started = time.monotonic()
        sb.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(HTTPError):
            post(pool, message())
    sb.stop()  # idempotent


def test_defaults_and_urls() -> None:
    sb = Sandbox()
    assert sb.credentials[DEFAULT_ACCESS_KEY_ID].secret == DEFAULT_SECRET == "sandbox-secret"
    assert sb.credentials["AKIDSANDBOX"].account_id == DEFAULT_ACCOUNT_ID == 123
    with sb:
        assert sb.port != 0
        assert sb.base_url == f"http://127.0.0.1:{sb.port}"
        assert sb.url == f"http://127.0.0.1:{sb.port}/api"
        with pytest.raises(RuntimeError):
            sb.start()


def test_cli_serves_until_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uspeedo_sandbox", "--port", "0", "--secret", "cli-secret"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/api")
        port = int(url.removesuffix("/api").rsplit(":", 1)[1])
        with urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False) as pool:
            body = message()
            assert call(pool, body, signed_headers(body, secret="cli-secret"))["RetCode"] == 0
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "Traceback" not in stderr


# --- SendBatchUSMSMessage ------------------------------------------------------------------


def target(phone: str = "(86)13800000000", **fields: Any) -> dict[str, Any]:
    """One Target; `Field=DROP` removes a field."""
    item: dict[str, Any] = {"Phone": phone, "TemplateParams": ["1234"], **fields}
    return {key: value for key, value in item.items() if value is not DROP}


def batch(*targets: dict[str, Any], **task_fields: Any) -> dict[str, Any]:
    """A valid SendBatchUSMSMessage body with one task; `Field=DROP` removes a task field."""
    task: dict[str, Any] = {
        "TemplateId": TEMPLATE_ID,
        "SenderId": "USpeedo",
        "Target": list(targets) or [target(), target("(1)4155550100", TemplateParams=["9"])],
        **task_fields,
    }
    task = {key: value for key, value in task.items() if value is not DROP}
    return {
        "Action": "SendBatchUSMSMessage",
        "AccountId": DEFAULT_ACCOUNT_ID,
        "TaskContent": [task],
    }


def test_valid_batch_is_accepted_with_each_numbers_own_parameters(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    body = batch(
        target("(86)13800000000", TemplateParams=["1111"], UserId="u-1"),
        target("(1)4155550100", TemplateParams=["2222"], ExtendCode="07"),
    )

    answer = call(pool, body)

    assert answer["RetCode"] == 0
    assert answer["Action"] == "SendBatchUSMSMessageResponse"
    assert answer["SuccessCount"] == 2
    assert answer["FailContent"] == []
    uuid.UUID(answer["ReqUuid"])
    [accepted] = sb.accepted
    assert (accepted.action, accepted.session_no, accepted.body) == (
        "SendBatchUSMSMessage",
        answer["SessionNo"],
        body,
    )
    shared = {"TemplateId": TEMPLATE_ID, "SenderId": "USpeedo"}
    assert accepted.targets == [
        {"Phone": "(86)13800000000", **shared, "TemplateParams": ["1111"], "UserId": "u-1"},
        {"Phone": "(1)4155550100", **shared, "TemplateParams": ["2222"], "ExtendCode": "07"},
    ]


MANY_TARGETS = [target(f"(1)415555{i:04d}") for i in range(1001)]


@pytest.mark.parametrize(
    ("body", "ret_code"),
    [
        ({"Action": "SendBatchUSMSMessage"}, 215397),
        ({"Action": "SendBatchUSMSMessage", "TaskContent": []}, 215397),
        ({"Action": "SendBatchUSMSMessage", "TaskContent": "x"}, 215392),
        ({"Action": "SendBatchUSMSMessage", "TaskContent": ["x"]}, 215392),
        (batch(TemplateId=DROP), 215397),
        (batch(TemplateId=""), 215397),
        (batch(TemplateId=7), 215392),
        (batch(SenderId="ABCDEFGHIJKL"), 215392),
        (batch(SenderId=DROP), 0),
        (batch(Target=DROP), 215397),
        (batch(Target=[]), 215397),
        (batch(Target=[["(86)13800000000"]]), 215392),
        (batch(target(Phone=DROP)), 215397),
        (batch(target(Phone=13800000000)), 215392),
        (batch(target(TemplateParams="1234")), 215392),
        (batch(target(TemplateParams=["1", True])), 215392),
        (batch(target(TemplateParams=[123456, "10"])), 0),
        (batch(target(TemplateParams=DROP)), 0),
        (batch(target(ExtendCode="0a")), 215392),
        (batch(target(UserId="it's")), 215392),
        (batch(target(UserId="u" * 32)), 0),
        (batch(*MANY_TARGETS), 18019),
        (batch(*MANY_TARGETS[:1000]), 0),
        ({**batch(), "AccountId": 124}, 172),
    ],
)
def test_batch_field_rules(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool, body: dict[str, Any], ret_code: int
) -> None:
    answer = call(pool, body)

    assert answer["RetCode"] == ret_code, answer
    assert answer["Action"] == "SendBatchUSMSMessageResponse"
    assert len(sb.accepted) == (1 if ret_code == 0 else 0)
    if ret_code:
        assert answer["Message"]
        assert "SessionNo" not in answer


def test_the_1000_target_limit_counts_every_task(pool: urllib3.HTTPConnectionPool) -> None:
    body = batch(*MANY_TARGETS[:600])
    body["TaskContent"].append({"TemplateId": "T2", "Target": MANY_TARGETS[600:1001]})

    assert call(pool, body)["RetCode"] == retcodes.TOO_MANY_NUMBERS == 18019


def test_numbers_the_provider_cannot_take_are_refused_alone_with_retcode_0(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    body = batch(target("(86)13800000000"), target("+14155550100"), target("(1)123"))

    answer = call(pool, body)

    assert (answer["RetCode"], answer["SuccessCount"]) == (0, 1)
    assert answer["SessionNo"]
    [task] = answer["FailContent"]
    assert (task["TemplateId"], task["SenderId"]) == (TEMPLATE_ID, "USpeedo")
    assert [(t["Phone"], t["FailureDetails"]) for t in task["Target"]] == [
        ("+14155550100", "invalid phone number"),
        ("(1)123", "invalid phone number"),
    ]
    assert task["Target"][0]["TemplateParams"] == ["1234"]  # echoed as sent, for a resend
    [accepted] = sb.accepted
    assert [t["Phone"] for t in accepted.targets] == ["(86)13800000000"]
    assert accepted.refused == (
        {"Phone": "+14155550100", "Reason": "invalid phone number"},
        {"Phone": "(1)123", "Reason": "invalid phone number"},
    )


def test_a_batch_with_no_number_taken_has_no_session_and_is_not_listed(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    answer = call(pool, batch(target("12"), target("(1)1")))

    assert (answer["RetCode"], answer["SuccessCount"]) == (0, 0)
    assert "SessionNo" not in answer
    assert len(answer["FailContent"][0]["Target"]) == 2
    assert sb.accepted == []
    assert sb.requests[-1].ret_code == 0


def test_refuse_fault_makes_given_numbers_unreachable(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    # Given in any format the provider accepts: (0086)… and (86)… are the same number.
    sb.set_fault(Fault(kind="refuse", phones=("(0086)13800000001",), message="blacklisted"))
    body = batch(target("(86)13800000000"), target("(86)13800000001"), target("(1)4155550100"))

    answer = call(pool, body)

    assert answer["SuccessCount"] == 2
    [task] = answer["FailContent"]
    assert [(t["Phone"], t["FailureDetails"]) for t in task["Target"]] == [
        ("(86)13800000001", "blacklisted")
    ]
    assert [t["Phone"] for t in sb.accepted[0].targets] == ["(86)13800000000", "(1)4155550100"]
    assert sb.requests[-1].fault == "refuse"
    assert sb.faults  # no count: it stays


def test_refuse_fault_without_phones_refuses_every_number(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="refuse", count=1))

    refused = call(pool, batch())
    again = call(pool, batch())

    assert (refused["SuccessCount"], "SessionNo" in refused) == (0, False)
    assert {t["FailureDetails"] for t in refused["FailContent"][0]["Target"]} == {
        "number unreachable (sandbox fault)"
    }
    assert (again["SuccessCount"], again["FailContent"]) == (2, [])


def test_refuse_fault_on_send_usms_message_refuses_the_request_like_a_bad_number(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="refuse", phones=("(86)13800000000",)))

    answer = call(pool, message())

    assert answer["RetCode"] == retcodes.INVALID_NUMBERS == 18014
    assert "13800000000" not in answer["Message"]
    assert call(pool, message(PhoneNumbers=["(1)4155550100"]))["RetCode"] == 0


def test_refuse_fault_validation() -> None:
    with pytest.raises(ValueError, match="phones"):
        Fault(kind="refuse", phones=("not a number",))
    fault = Fault.from_json({"kind": "refuse", "phones": ["(86)13800000000"]})
    assert fault.phones == ("(86)13800000000",)
    assert fault.refuses("13800000000")  # bare: a China number
    assert not fault.refuses("(1)13800000000")
    assert json.loads(json.dumps(fault.to_json()))["phones"] == ["(86)13800000000"]


def test_template_registry_refuses_a_batch_task_in_fail_content() -> None:
    with Sandbox(templates={"T1": 1}) as sb, make_pool(sb) as pool:
        unknown = call(pool, batch(TemplateId="T9"))
        [task] = unknown["FailContent"]
        assert task["FailureDetails"] == "template not found or not approved"
        assert [t["Phone"] for t in task["Target"]] == ["(86)13800000000", "(1)4155550100"]
        assert all("FailureDetails" not in t for t in task["Target"])

        mixed = call(
            pool, batch(target(), target("(1)4155550100", TemplateParams=DROP), TemplateId="T1")
        )
        assert mixed["SuccessCount"] == 1
        assert mixed["FailContent"][0]["Target"][0]["FailureDetails"] == (
            "template takes 1 TemplateParams"
        )
        assert len(sb.accepted) == 1


def test_template_filter_matches_a_batch_task(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sb.set_fault(Fault(kind="retcode", ret_code=215400, template_id="UTA-FLAKY"))

    assert call(pool, batch(TemplateId="UTA-FLAKY"))["RetCode"] == 215400
    assert call(pool, batch())["RetCode"] == 0


def test_receipts_for_a_batch_session_carry_each_numbers_user_id(
    pool: urllib3.HTTPConnectionPool,
) -> None:
    sent = call(
        pool,
        batch(
            target("(0086)13800000000", UserId="u-1"),
            target("(1)4155550100"),
            target("bad"),
        ),
    )

    answer = call(pool, receipts_body([sent["SessionNo"]]))

    [session] = answer["Data"]
    assert [(r["Phone"], r["CountryCode"], r["UserId"]) for r in session["ReceiptSet"]] == [
        ("13800000000", "86", "u-1"),
        ("4155550100", "1", ""),
    ]


@pytest.mark.parametrize("action", ["SendUSMSMessage", "SendBatchUSMSMessage"])
def test_unknown_action_fault_for_either_action(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool, action: str
) -> None:
    sb.set_fault(Fault(kind="retcode", ret_code=161, action=action))
    bodies = {"SendUSMSMessage": message(), "SendBatchUSMSMessage": batch()}

    faulted = call(pool, bodies[action])
    other = call(pool, next(b for a, b in bodies.items() if a != action))

    assert (faulted["RetCode"], faulted["Action"]) == (161, f"{action}Response")
    assert other["RetCode"] == 0
    assert [m.action for m in sb.accepted] == [a for a in bodies if a != action]


def test_messages_lists_batch_sends_with_targets_and_refusals(
    sb: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sent_single = call(pool, message())
    sent_batch = call(pool, batch(target("(86)13800000000", UserId="u-1"), target("12")))

    status, listed = control(pool, "GET", "messages")

    assert status == 200
    single, batched = listed["Messages"]
    assert (single["Action"], single["SessionNo"]) == ("SendUSMSMessage", sent_single["SessionNo"])
    assert batched == {
        "Action": "SendBatchUSMSMessage",
        "Body": batch(target("(86)13800000000", UserId="u-1"), target("12")),
        "SessionNo": sent_batch["SessionNo"],
        "Targets": [
            {
                "Phone": "(86)13800000000",
                "TemplateId": TEMPLATE_ID,
                "SenderId": "USpeedo",
                "TemplateParams": ["1234"],
                "UserId": "u-1",
            }
        ],
        "Refused": [{"Phone": "12", "Reason": "invalid phone number"}],
    }
