"""Protection before the gateway pays: every reason, both modes, expiry from each door's
clock, the counting rules, atomicity, a broken policy, and tables without numbers."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local_gateway.resources import create_idempotency_table
from sms_gateway import handler
from sms_gateway.errors import PolicyRefusedError
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.handler import lambda_handler
from sms_gateway.policy import PolicyError, parse_policy
from sms_gateway.settings import Settings
from tests.harness import api_event, message, sns_envelope, sns_event, sqs_event, sqs_record
from tests.reliability import figures as reliability_figures
from tests.unit.conftest import TABLE, Aws, assert_nothing_personal_in, fast_client
from uspeedo_sandbox import Fault, Sandbox

POLICY_PARAMETER = "/sms-gateway/traffic-policy"
PROTECTION_TABLE = "sms-gateway-protection"
CN_1, CN_2, CN_3, CN_4 = (f"+86138001380{n:02d}" for n in range(4))
US_1 = "+14155550100"


@dataclass
class Protected:
    """A gateway with a traffic policy and the protection table, on moto and the sandbox."""

    gateway: Gateway
    ssm: Any
    aws: Aws
    sandbox: Sandbox

    def policy(self, document: dict[str, Any] | str) -> None:
        value = document if isinstance(document, str) else json.dumps(document)
        self.ssm.put_parameter(Name=POLICY_PARAMETER, Value=value, Type="String", Overwrite=True)

    def opt_out(self, *numbers: str) -> None:
        assert self.gateway.optouts is not None
        self.gateway.optouts.add([_normal(n) for n in numbers], now=time.time())

    def sent_numbers(self) -> list[str]:
        return [t["Phone"] for m in self.sandbox.accepted for t in m.targets]

    def parked(self) -> list[dict[str, Any]]:
        return self.aws.dead_letters()


def _normal(number: str) -> str:
    digits = number.lstrip("+")
    code = "1" if digits.startswith("1") else "86"
    return f"({code}){digits[len(code) :]}"


@contextmanager
def _protected_world(
    aws: Aws, sandbox: Sandbox, logs: io.StringIO, policy_cache_s: int
) -> Iterator[Protected]:
    ssm = boto3.client("ssm")
    create_idempotency_table(aws.dynamodb, PROTECTION_TABLE)  # the same shape: id, expiration
    settings = Settings(
        secret_id=aws.secret_arn,
        endpoint=sandbox.url,
        idempotency_table=TABLE,
        dead_letter_queue_url=aws.dlq_url,
        traffic_policy_parameter=POLICY_PARAMETER,
        protection_table=PROTECTION_TABLE,
        policy_cache_s=policy_cache_s,
    )
    gateway = Gateway.from_settings(
        settings,
        AwsClients.of(aws.dynamodb, aws.secretsmanager, aws.sqs, ssm),
        client_factory=fast_client,
    )
    world = Protected(gateway, ssm, aws, sandbox)
    world.policy({})
    handler.use_gateway(gateway)
    yield world
    handler.use_gateway(None)
    gateway.close()
    numbers = {CN_1, CN_2, CN_3, CN_4, US_1}
    text = logs.getvalue()
    assert not [n for n in numbers if n[-10:] in text], "a number reached the logs"
    assert_nothing_personal_in(text, sandbox)


@pytest.fixture
def protected(aws: Aws, sandbox: Sandbox, logs: io.StringIO) -> Iterator[Protected]:
    """Each test changes the policy and wants it read at once: no policy cache."""
    with _protected_world(aws, sandbox, logs, policy_cache_s=0) as world:
        yield world


@pytest.fixture
def protected_cached(aws: Aws, sandbox: Sandbox, logs: io.StringIO) -> Iterator[Protected]:
    """The policy cached as the function caches it (one read a minute)."""
    with _protected_world(aws, sandbox, logs, policy_cache_s=60) as world:
        yield world


def _api(event: dict[str, Any], context: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    answer = lambda_handler(event, context)
    headers = {k: v[0] for k, v in (answer.get("multiValueHeaders") or {}).items()}
    headers.update(answer.get("headers") or {})
    return answer["statusCode"], json.loads(answer["body"]), headers


def _failed(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["PhoneNumber"], f["Reason"]) for f in result.get("Failed", [])]


# --- each reason, the rest of the message sent ------------------------------------------


def test_a_blocked_country_is_refused_and_the_rest_sent(protected: Protected, context: Any) -> None:
    protected.policy({"Countries": {"Allow": ["*"], "Block": ["US"]}})

    result = lambda_handler(message(CN_1, US_1), context)

    assert _failed(result) == [("(1)4155550100", "country_blocked")]
    assert result["PhoneCount"] == 1
    assert protected.sent_numbers() == ["(86)13800138000"]


def test_only_allowed_countries_are_sent(protected: Protected, context: Any) -> None:
    protected.policy({"Countries": {"Allow": ["CN"]}})

    result = lambda_handler(message(CN_1, US_1), context)

    assert _failed(result) == [("(1)4155550100", "country_blocked")]


def test_an_opted_out_number_is_refused_in_either_mode(protected: Protected, context: Any) -> None:
    protected.opt_out(CN_2)
    for mode in ("Enforce", "Monitor"):
        protected.policy({"Mode": mode})
        result = lambda_handler(message(CN_1, CN_2, TemplateId=f"T-{mode}"), context)
        assert _failed(result) == [("(86)13800138001", "opted_out")]
    assert protected.sent_numbers() == ["(86)13800138000"] * 2


def test_a_number_limit_refuses_past_its_count(protected: Protected, context: Any) -> None:
    protected.policy({"Limits": [{"Scope": "Number", "Count": 2, "Seconds": 600}]})

    for template in ("T1", "T2"):
        lambda_handler(message(CN_1, TemplateId=template), context)
    with pytest.raises(PolicyRefusedError) as refused:
        lambda_handler(message(CN_1, TemplateId="T3"), context)

    assert [(f.reason) for f in refused.value.failed] == ["rate_limited"]
    assert 0 < (refused.value.retry_after or 0) <= 600
    assert len(protected.sandbox.accepted) == 2


def test_a_prefix_limit_stops_a_block_of_adjacent_numbers(
    protected: Protected, context: Any
) -> None:
    protected.policy({"Limits": [{"Scope": "Prefix", "Digits": 2, "Count": 3, "Seconds": 3600}]})

    result = lambda_handler(message(CN_1, CN_2, CN_3, CN_4, "+8613900139000"), context)

    assert _failed(result) == [("(86)13800138003", "rate_limited")]
    assert result["PhoneCount"] == 4


@pytest.mark.parametrize("scope", ["Country", "Global"])
def test_a_volume_cap_is_reached(protected: Protected, context: Any, scope: str) -> None:
    protected.policy({"Limits": [{"Scope": scope, "Count": 2, "Seconds": 3600}]})

    result = lambda_handler(message(CN_1, CN_2, CN_3), context)

    assert _failed(result) == [("(86)13800138002", "cap_reached")]


def test_a_limit_narrowed_to_countries_counts_only_those(
    protected: Protected, context: Any
) -> None:
    protected.policy(
        {"Limits": [{"Scope": "Global", "Count": 1, "Seconds": 3600, "Countries": ["US"]}]}
    )

    result = lambda_handler(message(CN_1, CN_2, US_1), context)

    assert "Failed" not in result
    assert result["PhoneCount"] == 3


def test_monitor_sends_everything_but_counts_as_enforce_would(
    protected: Protected, context: Any
) -> None:
    protected.policy(
        {
            "Mode": "Monitor",
            "Countries": {"Block": ["US"]},
            "Limits": [{"Scope": "Number", "Count": 1, "Seconds": 600}],
        }
    )

    first = lambda_handler(message(CN_1, US_1, TemplateId="T1"), context)
    second = lambda_handler(message(CN_1, TemplateId="T2"), context)

    assert "Failed" not in first
    assert "Failed" not in second
    assert len(protected.sent_numbers()) == 3
    # Switched to Enforce, the number that Monitor let through is over its limit: the
    # would-be refusal did not count, the first send did.
    protected.policy({"Limits": [{"Scope": "Number", "Count": 1, "Seconds": 600}]})
    with pytest.raises(PolicyRefusedError):
        lambda_handler(message(CN_1, TemplateId="T3"), context)


# --- every number refused: each door ----------------------------------------------------


def test_all_refused_by_limits_answers_429_with_retry_after(
    protected: Protected, context: Any
) -> None:
    protected.policy({"Limits": [{"Scope": "Number", "Count": 1, "Seconds": 600}]})
    lambda_handler(message(CN_1, TemplateId="T1"), context)

    status, body, headers = _api(api_event(body=message(CN_1, TemplateId="T2")), context)

    assert status == 429
    assert body["Error"]["Code"] == "PolicyRefused"
    assert body["Error"]["Failed"] == [{"PhoneNumber": "(86)13800138000", "Reason": "rate_limited"}]
    assert 1 <= int(headers["Retry-After"]) <= 600


def test_all_refused_by_country_answers_422(protected: Protected, context: Any) -> None:
    protected.policy({"Countries": {"Block": ["US"]}})

    status, body, headers = _api(api_event(body=message(US_1)), context)

    assert status == 422
    assert body["Error"]["Code"] == "PolicyRefused"
    assert "Retry-After" not in headers


def test_all_refused_from_the_queue_is_parked_with_each_reason_and_redrive_sends_it(
    protected: Protected, context: Any
) -> None:
    protected.policy({"Countries": {"Block": ["US"]}})
    record = sqs_record(message(US_1))

    assert lambda_handler(sqs_event(record), context)["batchItemFailures"] == []

    [parked] = protected.parked()
    assert parked["Attributes"]["ErrorCode"] == "PolicyRefused"
    assert "(*)******0100: country_blocked" in parked["Attributes"]["ErrorMessage"]
    # Nothing was stored as sent: after the policy changes, a redrive sends it.
    protected.policy({})
    lambda_handler(sqs_event(sqs_record(parked["Body"])), context)
    assert protected.sent_numbers() == ["(1)4155550100"]


def test_all_refused_from_sns_is_parked(protected: Protected, context: Any) -> None:
    protected.policy({"Countries": {"Allow": ["CN"]}})

    assert lambda_handler(sns_event(message(US_1)), context) == {"Outcomes": ["parked"]}
    assert [p["Attributes"]["ErrorCode"] for p in protected.parked()] == ["PolicyRefused"]


# --- expiry, from each door's clock -------------------------------------------------------


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def test_a_message_older_than_its_time_to_live_is_not_sent_from_any_door(
    protected: Protected, context: Any
) -> None:
    old = time.time() - 120
    body = message(CN_1, TimeToLive=60)
    sqs = sqs_record(body)
    sqs["attributes"]["SentTimestamp"] = str(int(old * 1000))
    enveloped = sqs_record(sns_envelope(message(CN_2, TimeToLive=60)))
    envelope = json.loads(enveloped["body"])
    envelope["Timestamp"] = _iso(old)
    enveloped["body"] = json.dumps(envelope)
    sns = sns_event(message(CN_3, TimeToLive=60))
    sns["Records"][0]["Sns"]["Timestamp"] = _iso(old)
    api = api_event(body=message(CN_4, TimeToLive=60))
    api["requestContext"]["requestTimeEpoch"] = int(old * 1000)

    lambda_handler(sqs_event(sqs, enveloped), context)
    lambda_handler(sns, context)
    status, answer, _ = _api(api, context)

    assert [p["Attributes"]["ErrorCode"] for p in protected.parked()] == ["Expired"] * 3
    assert (status, answer["Error"]["Code"]) == (422, "Expired")
    assert protected.sandbox.accepted == []


def test_the_policy_max_age_applies_and_a_time_to_live_overrides_it(
    protected: Protected, context: Any
) -> None:
    protected.policy({"MaxAgeSeconds": 60})
    stale = api_event(body=message(CN_1))
    stale["requestContext"]["requestTimeEpoch"] = int((time.time() - 120) * 1000)
    longer = api_event(body=message(CN_2, TimeToLive=600))
    longer["requestContext"]["requestTimeEpoch"] = int((time.time() - 120) * 1000)

    assert _api(stale, context)[0] == 422
    assert _api(longer, context)[0] == 200


def test_a_direct_invoke_is_as_old_as_its_invocation(protected: Protected, context: Any) -> None:
    protected.policy({"MaxAgeSeconds": 1})
    assert lambda_handler(message(CN_1), context)["PhoneCount"] == 1


def test_a_sent_message_replays_its_result_even_when_too_old_to_send(
    protected: Protected, context: Any
) -> None:
    body = message(CN_1, TimeToLive=60)
    first = _api(api_event(body=body, headers={"Idempotency-Key": "k1"}), context)
    late = api_event(body=body, headers={"Idempotency-Key": "k1"})
    late["requestContext"]["requestTimeEpoch"] = int((time.time() - 120) * 1000)

    again = _api(late, context)

    assert first[0] == again[0] == 200
    assert again[1]["IdempotentReplay"] is True


def test_no_policy_and_no_time_to_live_means_no_expiry(protected: Protected, context: Any) -> None:
    api = api_event(body=message(CN_1))
    api["requestContext"]["requestTimeEpoch"] = int((time.time() - 10 * 86400) * 1000)
    assert _api(api, context)[0] == 200


# --- counting: replays, retries, atomicity ------------------------------------------------


def test_a_replay_does_not_count_again(protected: Protected, context: Any) -> None:
    protected.policy({"Limits": [{"Scope": "Number", "Count": 2, "Seconds": 600}]})

    for _ in range(3):  # the same message: sent once, replayed twice
        lambda_handler(message(CN_1, TemplateId="T1"), context)
    lambda_handler(message(CN_1, TemplateId="T2"), context)  # the second real send

    assert len(protected.sandbox.accepted) == 2


def test_a_retried_chunk_is_not_counted_twice(protected: Protected, context: Any) -> None:
    protected.policy({"Limits": [{"Scope": "Number", "Count": 1, "Seconds": 600}]})
    protected.sandbox.add_fault(Fault(kind="status", status=503, count=1))
    record = sqs_record(message(CN_1))

    first = lambda_handler(sqs_event(record), context)  # counted, then the provider fails
    second = lambda_handler(sqs_event(record), context)  # the queue's retry

    assert first["batchItemFailures"]
    assert not second["batchItemFailures"]
    assert protected.sent_numbers() == ["(86)13800138000"]
    assert protected.parked() == []


def test_ten_records_for_one_number_under_a_limit_of_three_send_exactly_three(
    protected: Protected, context: Any
) -> None:
    protected.policy({"Limits": [{"Scope": "Number", "Count": 3, "Seconds": 600}]})
    records = [sqs_record(message(CN_1, TemplateId=f"T{i}")) for i in range(10)]

    answer = lambda_handler(sqs_event(*records), context)

    assert answer["batchItemFailures"] == []
    assert len(protected.sandbox.accepted) == 3
    assert [p["Attributes"]["ErrorCode"] for p in protected.parked()] == ["PolicyRefused"] * 7


# --- a broken policy ---------------------------------------------------------------------


def test_a_broken_policy_keeps_the_last_good_one(protected: Protected, context: Any) -> None:
    protected.policy({"Countries": {"Block": ["US"]}})
    lambda_handler(message(CN_1, TemplateId="T0"), context)  # the good one is read

    protected.policy('{"Countries": {"Block": ["us"]}}')  # lower case: invalid
    result = lambda_handler(message(CN_1, US_1), context)

    assert _failed(result) == [("(1)4155550100", "country_blocked")]


def test_a_nesting_bomb_in_the_parameter_keeps_the_last_good_policy(
    protected: Protected, context: Any
) -> None:
    protected.policy({"Countries": {"Block": ["US"]}})
    lambda_handler(message(CN_1, TemplateId="T0"), context)  # the good one is read

    protected.policy('{"Limits": ' + "[" * 2000 + "]" * 2000 + "}")  # fits the parameter
    result = lambda_handler(message(CN_1, US_1), context)

    assert _failed(result) == [("(1)4155550100", "country_blocked")]
    with pytest.raises(PolicyError, match="more than 32 levels deep"):
        parse_policy('{"Limits": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_no_valid_policy_at_all_sends_nothing_and_retries(
    protected: Protected, context: Any
) -> None:
    protected.policy("not json")
    record = sqs_record(message(CN_1))

    answer = lambda_handler(sqs_event(record), context)
    status, body, headers = _api(api_event(body=message(CN_2)), context)

    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [record["messageId"]]
    assert (status, body["Error"]["Code"]) == (503, "PolicyUnavailable")
    assert "Retry-After" in headers
    assert protected.sandbox.accepted == []


# --- what the tables hold ----------------------------------------------------------------


def test_the_tables_hold_no_number_in_clear_but_the_opt_out_list(
    protected: Protected, aws: Aws, context: Any
) -> None:
    protected.policy(
        {
            "Limits": [
                {"Scope": "Number", "Count": 5, "Seconds": 600},
                {"Scope": "Prefix", "Digits": 2, "Count": 20, "Seconds": 3600},
                {"Scope": "Country", "Count": 100, "Seconds": 3600},
                {"Scope": "Global", "Count": 1000, "Seconds": 86400},
            ]
        }
    )
    protected.opt_out(CN_4)
    lambda_handler(message(CN_1, CN_2, CN_3, CN_4), context)

    items = aws.dynamodb.scan(TableName=PROTECTION_TABLE)["Items"]
    items += aws.dynamodb.scan(TableName=TABLE)["Items"]
    optouts = [i for i in items if i["id"]["S"].startswith("optout#")]
    others = json.dumps([i for i in items if i not in optouts])
    assert len(optouts) == 1
    for number in (CN_1, CN_2, CN_3, CN_4):
        national = number[3:]
        assert national not in others
        assert national[:-2] not in others  # nor a prefix


# --- a pumping attack, simulated -----------------------------------------------------------

PUMPING_POLICY = {
    "Countries": {"Allow": ["*"], "Block": ["RU"]},
    "Limits": [
        {"Scope": "Number", "Count": 5, "Seconds": 600},
        {"Scope": "Prefix", "Digits": 2, "Count": 20, "Seconds": 3600},
        {"Scope": "Country", "Count": 20000, "Seconds": 3600},
        {"Scope": "Global", "Count": 200000, "Seconds": 86400},
    ],
}
ATTACK_BLOCKS, BLOCKED_REQUESTS, USERS = 4, 100, 100


def _attack_numbers() -> list[str]:
    """Blocks of 100 adjacent China mobiles, every number of each block asked for."""
    return [f"+86138{block:04d}00{n:02d}" for block in range(ATTACK_BLOCKS) for n in range(100)]


def _user_numbers(rng: random.Random) -> list[str]:
    """Real users: scattered numbers, each asking for one code."""
    prefixes = ("139", "150", "186", "188")
    return list(
        dict.fromkeys(f"+86{rng.choice(prefixes)}{rng.randrange(10**8):08d}" for _ in range(USERS))
    )


def test_a_pumping_attack_is_bounded_and_real_users_get_their_codes(
    protected_cached: Protected, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    protected = protected_cached
    protected.policy(PUMPING_POLICY)
    # One instant for the whole run: the limits' windows are fixed and aligned to the clock,
    # and a run that straddles a window's edge may rightly let twice the bound through (the
    # README says so). The bound this test checks is one window's.
    protection = protected.gateway.sender.calls._protection
    assert protection is not None
    frozen = time.time()
    monkeypatch.setattr(protection, "_clock", lambda: frozen)
    rng = random.Random(20261130)
    attack = _attack_numbers()
    blocked = [f"+7912{n:07d}" for n in range(BLOCKED_REQUESTS)]
    users = _user_numbers(rng)
    requests = [(n, "attack") for n in attack + blocked] + [(n, "user") for n in users]
    rng.shuffle(requests)
    records = [
        sqs_record(message(number, params=[f"{rng.randrange(10**6):06d}"], UserId=who))
        for number, who in requests
    ]

    for start in range(0, len(records), 10):
        answer = lambda_handler(sqs_event(*records[start : start + 10]), context)
        assert answer["batchItemFailures"] == []

    sent = protected.sent_numbers()
    attack_sent = [n for n in sent if n.startswith("(86)138")]
    bound = ATTACK_BLOCKS * PUMPING_POLICY["Limits"][1]["Count"]  # type: ignore[index]
    figures = {
        "attack_requests": len(attack),
        "attack_blocks": ATTACK_BLOCKS,
        "attack_sent": len(attack_sent),
        "attack_bound": bound,
        "blocked_requests": len(blocked),
        "blocked_sent": sum(n.startswith("(7)") for n in sent),
        "users": len(users),
        "users_served": len({n for n in sent if not n.startswith(("(86)138", "(7)"))}),
        "parked": len(protected.parked()),
    }
    print(  # the figures a person reads in the test log (and RELIABILITY.md)
        f"pumping: the attack got {figures['attack_sent']} of {len(attack)} SMS out "
        f"(bound {bound}); the blocked country {figures['blocked_sent']} of {len(blocked)}; "
        f"{figures['users_served']} of {len(users)} real users got their code"
    )
    assert figures["attack_sent"] <= bound
    assert figures["blocked_sent"] == 0
    assert figures["users_served"] == len(users)
    assert len(sent) == len(set(sent))  # and nobody got a code twice
    reliability_figures.write_part("pumping", figures, complete=True)
