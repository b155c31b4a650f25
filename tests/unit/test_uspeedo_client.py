"""The USpeedo client against the sandbox over real HTTP on 127.0.0.1.

Each error class is produced by the sandbox misbehaving the way a provider can, and each
test checks what reached the sandbox: a retry must never send an SMS twice.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sms_gateway.errors import (
    CredentialsError,
    PermanentError,
    TransientError,
    UnknownActionError,
    UnknownOutcomeError,
)
from sms_gateway.provider_answers import RefusedTarget
from sms_gateway.uspeedo_client import Credentials, Timeouts, UspeedoClient, new_pool
from tests.conftest import SANDBOX_ACCESS_KEY_ID, SANDBOX_ACCOUNT_ID, SANDBOX_SECRET
from uspeedo_sandbox import Fault, Sandbox

READ_TIMEOUT_S = 1.0  # 0.5 s was seen to expire on a loaded machine
FAST = Timeouts(
    connect_s=0.5,
    read_s=READ_TIMEOUT_S,
    connect_retries=2,
    backoff_factor_s=0.01,
    backoff_max_s=0.05,
)
PHONES = ["(86)13800138000", "(1)2015550123"]
PARAMS = ["739201", "48213"]  # distinctive, so the log check cannot match by chance
SEND = {"PhoneNumbers": PHONES, "TemplateId": "UTA2211ABCDEF", "TemplateParams": PARAMS}


def _client(endpoint: str, secret: str = SANDBOX_SECRET) -> UspeedoClient:
    credentials = Credentials(SANDBOX_ACCESS_KEY_ID, secret, SANDBOX_ACCOUNT_ID)
    # A pool of its own per test, so a connection broken by one test never reaches the next.
    return UspeedoClient(credentials, endpoint, timeouts=FAST, pool=new_pool())


@pytest.fixture
def client(sandbox: Sandbox) -> UspeedoClient:
    return _client(sandbox.url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- sending ---------------------------------------------------------------------------


def test_send_is_signed_accepted_and_recorded_as_sent(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    result = client.send_sms({**SEND, "UserId": "order-42"})

    assert result.session_no
    assert result.user_id == "order-42"
    [accepted] = sandbox.accepted
    assert accepted.session_no == result.session_no
    assert accepted.body == {
        "Action": "SendUSMSMessage",
        "AccountId": SANDBOX_ACCOUNT_ID,
        **SEND,
        "UserId": "order-42",
    }


def test_the_four_auth_headers_are_sent(client: UspeedoClient, sandbox: Sandbox) -> None:
    client.send_sms(SEND)

    headers = {k.lower(): v for k, v in sandbox.requests[-1].headers.items()}
    assert headers["x-access-key-id"] == SANDBOX_ACCESS_KEY_ID
    assert len(headers["x-signature"]) == 40
    assert abs(int(headers["x-timestamp"]) - time.time()) < 60
    assert 0 < len(headers["x-nonce"]) <= 32


def test_null_fields_are_neither_sent_nor_signed(client: UspeedoClient, sandbox: Sandbox) -> None:
    client.send_sms({**SEND, "SenderId": None, "ExtendCode": None})

    assert "SenderId" not in sandbox.accepted[-1].body
    assert "ExtendCode" not in sandbox.accepted[-1].body


def test_account_id_is_left_out_when_neither_secret_nor_message_has_one(
    sandbox: Sandbox,
) -> None:
    client = UspeedoClient(
        Credentials(SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET), sandbox.url, timeouts=FAST
    )
    client.send_sms(SEND)

    assert "AccountId" not in sandbox.accepted[-1].body


def test_sequential_calls_share_one_keep_alive_connection(
    client: UspeedoClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        for _ in range(20):
            client.send_sms(SEND)

    assert len(sandbox.accepted) == 20
    assert sum("Starting new HTTP connection" in r.getMessage() for r in caplog.records) == 1


# --- each error class, and how many requests reached the provider ----------------------


def test_http_503_is_transient_with_retry_after_and_not_retried_in_process(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sandbox.set_fault(Fault(kind="status", status=503, retry_after=7))

    with pytest.raises(TransientError) as caught:
        client.send_sms(SEND)

    assert caught.value.http_status == 503
    assert caught.value.retry_after == 7
    assert caught.value.retryable
    assert len(sandbox.requests) == 1
    assert sandbox.accepted == []


def test_http_429_is_transient(client: UspeedoClient, sandbox: Sandbox) -> None:
    sandbox.set_fault(Fault(kind="status", status=429))

    with pytest.raises(TransientError) as caught:
        client.send_sms(SEND)

    assert caught.value.http_status == 429
    assert len(sandbox.requests) == 1


def test_parameter_error_retcode_is_permanent_and_sent_once(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=215392))

    with pytest.raises(PermanentError) as caught:
        client.send_sms(SEND)

    assert caught.value.ret_code == 215392
    assert caught.value.http_status == 200
    assert not caught.value.retryable
    assert len(sandbox.requests) == 1


def test_a_real_field_rule_of_the_provider_is_permanent(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    with pytest.raises(PermanentError) as caught:
        client.send_sms({**SEND, "PhoneNumbers": [f"(86)138{i:08d}" for i in range(1001)]})

    assert caught.value.ret_code == 18019


def test_server_error_retcode_is_transient(client: UspeedoClient, sandbox: Sandbox) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=215400))

    with pytest.raises(TransientError) as caught:
        client.send_sms(SEND)

    assert caught.value.ret_code == 215400


def test_wrong_secret_is_a_credentials_error_171(sandbox: Sandbox) -> None:
    client = _client(sandbox.url, secret="not-the-secret")

    with pytest.raises(CredentialsError) as caught:
        client.send_sms(SEND)

    assert caught.value.ret_code == 171
    assert sandbox.accepted == []


def test_unknown_action_is_its_own_retryable_error(client: UspeedoClient) -> None:
    with pytest.raises(UnknownActionError) as caught:
        client.call("SendNoSuchMessage", {})

    assert caught.value.ret_code == 161
    assert caught.value.retryable


def test_dropped_connection_after_sending_is_unknown_outcome_sent_once(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sandbox.set_fault(Fault(kind="drop"))

    with pytest.raises(UnknownOutcomeError):
        client.send_sms(SEND)

    assert len(sandbox.requests) == 1


def test_hang_is_unknown_outcome_within_the_read_timeout_and_sent_once(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sandbox.set_fault(Fault(kind="hang"))

    started = time.monotonic()
    with pytest.raises(UnknownOutcomeError):
        client.send_sms(SEND)
    elapsed = time.monotonic() - started

    # The official SDK never applies its timeout; this is the bug we exist to not have.
    assert elapsed < READ_TIMEOUT_S + 1
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_an_unreadable_answer_is_unknown_outcome_not_a_crash(
    client: UspeedoClient, sandbox: Sandbox, kind: str
) -> None:
    sandbox.set_fault(Fault(kind=kind))

    with pytest.raises(UnknownOutcomeError):
        client.send_sms(SEND)

    assert len(sandbox.requests) == 1


def test_refused_connection_is_transient_after_bounded_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = _client(f"http://127.0.0.1:{_free_port()}/api")

    with (
        caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"),
        pytest.raises(TransientError) as caught,
    ):
        client.send_sms(SEND)

    assert "NewConnectionError" in caught.value.message
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == FAST.connect_retries


def test_a_fault_that_clears_is_not_retried_by_the_client(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    # The queue retries later; the client itself never re-sends a request that went out.
    sandbox.set_fault(Fault(kind="status", status=502, count=1))

    with pytest.raises(TransientError):
        client.send_sms(SEND)
    result = client.send_sms(SEND)

    assert len(sandbox.requests) == 2
    assert [m.session_no for m in sandbox.accepted] == [result.session_no]


def test_a_bad_endpoint_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        UspeedoClient(Credentials("a", "b"), "ftp://example.invalid")


# --- TLS is verified -------------------------------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    requests_seen = 0

    def do_POST(self) -> None:
        type(self).requests_seen += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads its own assertions, not the server's chatter."""


@pytest.fixture
def untrusted_https_url(tmp_path: Path) -> Iterator[str]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            *("/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_a_certificate_nobody_trusts_is_refused_before_anything_is_sent(
    untrusted_https_url: str,
) -> None:
    _Ok.requests_seen = 0
    with pytest.raises(TransientError, match="SSLError"):
        _client(untrusted_https_url).send_sms(SEND)

    assert _Ok.requests_seen == 0


# --- receipts --------------------------------------------------------------------------


def test_receipts_for_what_was_sent_and_unknown_session_left_out(
    client: UspeedoClient,
) -> None:
    first = client.send_sms(SEND).session_no
    second = client.send_sms({**SEND, "PhoneNumbers": ["(86)13900139000"]}).session_no

    sessions = client.get_receipts([first, second, "no-such-session"])

    by_id = {s.session_no: s for s in sessions}
    assert set(by_id) == {first, second}
    assert len(by_id[first].receipts) == 2
    assert {r.result for r in by_id[first].receipts} == {"Success"}
    [only] = by_id[second].receipts
    assert (only.country_code, only.phone) == ("86", "13900139000")


def test_receipts_are_asked_for_in_calls_of_at_most_100(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sent = client.send_sms(SEND).session_no
    session_nos = [sent] + [f"unknown-{i}" for i in range(150)]

    sessions = client.get_receipts(session_nos)

    assert [s.session_no for s in sessions] == [sent]
    calls = [r for r in sandbox.requests if r.action == "GetUSMSSendReceipt"]
    assert len(calls) == 2


# --- nothing secret or personal is logged ----------------------------------------------


def test_no_number_parameter_or_secret_reaches_the_logs(
    client: UspeedoClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        client.send_sms(SEND)
        for fault in (
            Fault(kind="status", status=503),
            Fault(kind="retcode", ret_code=18014),
            Fault(kind="drop"),
            Fault(kind="garbage"),
        ):
            sandbox.set_fault(fault)
            with pytest.raises(Exception) as caught:  # noqa: PT011 - any of the family
                client.send_sms(SEND)
            logging.getLogger("test").error("failed: %s", caught.value)
            errors.append(repr(caught.value) + str(caught.value))
            sandbox.clear_faults()
        client.get_receipts([sandbox.accepted[-1].session_no])

    printed = caplog.text + "".join(errors) + repr(client.credentials)
    assert caplog.records, "the check is only meaningful if something was logged"
    for secret in [*PHONES, "13800138000", "2015550123", *PARAMS, SANDBOX_SECRET]:
        assert secret not in printed


# --- SendBatchUSMSMessage --------------------------------------------------------------

TASK = {
    "TemplateId": "UTA2211ABCDEF",
    "SenderId": "USpeedo",
    "Target": [
        {"Phone": "(86)13800138000", "TemplateParams": ["739201"], "UserId": "u-1"},
        {"Phone": "(1)2015550123", "TemplateParams": ["48213"], "ExtendCode": "7"},
    ],
}


def test_a_real_nested_batch_call_is_signed_and_accepted(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    # The sandbox recomputes the signature over the nested TaskContent: a wrong one is 171.
    result = client.send_batch([TASK])

    assert result.session_no
    assert result.success_count == 2
    assert result.refused == ()
    assert result.accepted_any
    assert result.req_uuid
    [accepted] = sandbox.accepted
    assert accepted.session_no == result.session_no
    assert accepted.body == {
        "Action": "SendBatchUSMSMessage",
        "AccountId": SANDBOX_ACCOUNT_ID,
        "TaskContent": [TASK],
    }
    assert [(t["Phone"], t["TemplateParams"]) for t in accepted.targets] == [
        ("(86)13800138000", ["739201"]),
        ("(1)2015550123", ["48213"]),
    ]


def test_a_batch_signed_with_the_wrong_secret_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(CredentialsError) as caught:
        _client(sandbox.url, secret="not-the-secret").send_batch([TASK])

    assert caught.value.ret_code == 171
    assert sandbox.accepted == []


def test_batch_nulls_are_left_out_at_every_depth_and_account_can_be_given(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    target = {"Phone": "(86)13800138000", "ExtendCode": None, "UserId": None}
    client.send_batch([{"TemplateId": "T", "SenderId": None, "Target": [target]}], account_id=123)

    assert sandbox.accepted[-1].body["TaskContent"] == [
        {"TemplateId": "T", "Target": [{"Phone": "(86)13800138000"}]}
    ]
    assert sandbox.accepted[-1].body["AccountId"] == 123


def test_batch_fail_content_with_retcode_0_lists_the_refused_numbers(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sandbox.set_fault(Fault(kind="refuse", phones=("(1)2015550123",), message="blacklisted"))

    result = client.send_batch([TASK])

    assert result.ret_code == 0
    assert result.session_no
    assert result.success_count == 1
    assert [(r.phone, r.reason) for r in result.refused] == [("(1)2015550123", "blacklisted")]
    assert [t["Phone"] for t in sandbox.accepted[-1].targets] == ["(86)13800138000"]


def test_a_batch_with_every_number_refused_has_no_session(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    sandbox.set_fault(Fault(kind="refuse"))

    result = client.send_batch([TASK])

    assert result.session_no is None
    assert result.success_count == 0
    assert not result.accepted_any
    assert {r.phone for r in result.refused} == {"(86)13800138000", "(1)2015550123"}
    assert sandbox.accepted == []


def test_a_batch_the_provider_refuses_whole_is_a_permanent_error(
    client: UspeedoClient, sandbox: Sandbox
) -> None:
    targets = [{"Phone": f"(1)415555{i:04d}"} for i in range(1001)]

    with pytest.raises(PermanentError) as caught:
        client.send_batch([{"TemplateId": "T", "Target": targets}])

    assert caught.value.ret_code == 18019
    assert caught.value.action == "SendBatchUSMSMessage"


@pytest.mark.parametrize("action", ["SendUSMSMessage", "SendBatchUSMSMessage"])
def test_unknown_action_for_either_action_is_unknown_action_error(
    client: UspeedoClient, sandbox: Sandbox, action: str
) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=161, action=action))
    sends: dict[str, Callable[[], object]] = {
        "SendUSMSMessage": lambda: client.send_sms(SEND),
        "SendBatchUSMSMessage": lambda: client.send_batch([TASK]),
    }
    send = sends[action]

    with pytest.raises(UnknownActionError) as caught:
        send()

    assert caught.value.ret_code == 161
    assert caught.value.retryable
    assert caught.value.action == action


class _Canned(BaseHTTPRequestHandler):
    """Answers every POST with `answer`: provider answers the sandbox never gives."""

    answer: ClassVar[dict[str, Any]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def canned() -> Iterator[tuple[str, type[_Canned]]]:
    handler = type("Canned", (_Canned,), {"answer": {}})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api", handler
    server.shutdown()
    server.server_close()


def test_a_nonzero_retcode_with_a_session_is_a_partial_success_not_an_error(
    canned: tuple[str, type[_Canned]],
) -> None:
    # Some numbers went out: an error here would let a retry send them a second SMS.
    url, handler = canned
    handler.answer = {
        "RetCode": 18046,
        "Message": "part of the batch failed",
        "SessionNo": "S-1",
        "SuccessCount": 1,
        "FailContent": [
            {"TemplateId": "UTA2211ABCDEF", "Target": [{"Phone": "12015550123"}]},
        ],
    }

    result = _client(url).send_batch([TASK])

    assert (result.ret_code, result.session_no, result.success_count) == (18046, "S-1", 1)
    assert result.refused == (RefusedTarget("12015550123", "refused by the provider"),)


def test_a_nonzero_retcode_without_a_session_stays_an_error(
    canned: tuple[str, type[_Canned]],
) -> None:
    url, handler = canned
    handler.answer = {"RetCode": 18046, "Message": "part of the batch failed"}

    with pytest.raises(PermanentError):
        _client(url).send_batch([TASK])


def test_a_task_refused_whole_without_targets_refuses_each_of_its_numbers(
    canned: tuple[str, type[_Canned]],
) -> None:
    url, handler = canned
    handler.answer = {
        "RetCode": 0,
        "SuccessCount": 0,
        "FailContent": [{"TemplateId": "UTA2211ABCDEF", "FailureDetails": "template 13800138000"}],
    }

    result = _client(url).send_batch([TASK])

    assert [r.phone for r in result.refused] == ["(86)13800138000", "(1)2015550123"]
    # A provider's text may quote a number: its digits are masked.
    assert {r.reason for r in result.refused} == {"template *******8000"}


def test_an_answer_that_says_nothing_about_the_numbers_is_an_unknown_outcome(
    canned: tuple[str, type[_Canned]],
) -> None:
    # RetCode 0 but no SessionNo, SuccessCount or FailContent: it may all have gone out.
    url, handler = canned
    handler.answer = {"RetCode": 0, "Message": "ok"}

    with pytest.raises(UnknownOutcomeError):
        _client(url).send_batch([TASK])


def test_no_batch_number_or_parameter_reaches_the_logs(
    client: UspeedoClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.set_fault(Fault(kind="refuse", phones=("(1)2015550123",)))
    with caplog.at_level(logging.DEBUG):
        result = client.send_batch([TASK])

    assert result.refused
    assert caplog.records, "the check is only meaningful if something was logged"
    for secret in ["13800138000", "2015550123", "739201", "48213", SANDBOX_SECRET]:
        assert secret not in caplog.text
