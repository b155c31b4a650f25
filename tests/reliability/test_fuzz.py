"""Fuzzing every event shape the handler takes (hypothesis).

Bodies are random JSON, JSON that is not quite JSON, message-shaped objects with wrong
types, huge lists, unicode, emoji, control characters, lone surrogates and nesting from
2 to 100,000 levels (either side of the gateway's bound, and bombs); events lose
keys AWS marks optional, headers go missing, base64 bodies are not base64. Whatever comes:

- SQS: the handler returns a batch answer; every record the gateway cannot send is in the
  dead-letter queue, body unchanged, with a reason that names the field — or reported for
  a retry (an item failure); nothing else.
- SNS: the handler returns one outcome per record; what it parks names the field.
- API: never a 500 (nor any 5xx: no fault is injected here); a 400 lists the fields.
- Direct invoke: a result, or an error of the gateway's typed family; a validation error
  names each field.

The examples come from a fixed seed (reproducible CI, stable report figures); set
RELIABILITY_FUZZ_RANDOM=1 to draw new ones. Hypothesis's database is off: nothing is kept
between runs.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sms_gateway import handler
from sms_gateway.deliveries import Delivery, from_sns_record, from_sqs_record
from sms_gateway.errors import FieldError, GatewayError, MessageValidationError
from sms_gateway.gateway import Gateway
from sms_gateway.json_input import MAX_DEPTH, UnreadableJsonError, load_json
from sms_gateway.message import MAX_IDEMPOTENCY_KEY_LENGTH, MESSAGE_FIELDS
from sms_gateway.message_input import parse_message
from tests.harness import api_event, load_event
from tests.reliability import figures
from tests.reliability.world import Cell, InvocationContext, World

# SQS's and SNS's classic message size limit: larger bodies never reach the function.
_QUEUE_LIMIT: Final = 256 * 1024
EXAMPLES: Final = {"sqs": 120, "sns": 120, "api": 200, "direct": 200}
# A fixed seed by default, so that CI is reproducible and the report's figures stable;
# RELIABILITY_FUZZ_RANDOM=1 draws new examples (to explore; failures print their example).
RANDOM: Final = os.environ.get("RELIABILITY_FUZZ_RANDOM") == "1"
_SETTINGS: Final = settings(
    derandomize=not RANDOM,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INVALID: Final = MessageValidationError.code
FIELDS: Final = MESSAGE_FIELDS

# --- strategies ----------------------------------------------------------------------------

_IDS = itertools.count()
# Everything SQS and SNS can carry: tab, newline, carriage return, and the rest of Unicode
# from space up, minus lone surrogates (UTF-8 cannot encode them; neither service takes them).
_QUEUE_TEXT = st.text(
    st.characters(codec="utf-8").filter(
        lambda c: (c in "\t\n\r" or c >= " ") and c not in "\ufffe\uffff"
    ),
    max_size=30,
)
_ANY_TEXT = st.one_of(
    st.text(max_size=30),  # control characters included
    st.sampled_from(["", " ", "\u200d", "👍🏽", "‮", "\ud800", "null", "0", "-1", "1e999"]),
)
_NUMBER = st.integers(0, 99_999_999).map(lambda n: f"+86139{n:08d}")  # valid China mobiles
_CODE = st.integers(10_000_000, 99_999_999)  # one-time codes: never to be logged
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _ANY_TEXT,
    _CODE,
    _CODE.map(str),
)
_JSON = st.recursive(
    _SCALAR,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_ANY_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


def _huge(item: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    # Past the contract's 10,000 (cheap to build: the same item repeated).
    return st.tuples(item, st.integers(10_001, 10_050)).map(lambda t: [t[0]] * t[1])


_PHONE_LIKE = st.one_of(
    _NUMBER,
    _NUMBER.map(lambda n: n[:-1]),  # one digit short
    _NUMBER.map(lambda n: n + "9"),  # one too many
    _NUMBER.map(lambda n: n.replace("+86", "(0086) ")),
    _SCALAR,
)
_RECIPIENT = st.one_of(
    st.fixed_dictionaries(
        {"PhoneNumber": _PHONE_LIKE},
        optional={
            "TemplateParams": st.lists(st.one_of(_CODE, _CODE.map(str), _SCALAR), max_size=3),
            "ExtendCode": _SCALAR,
            "UserId": _ANY_TEXT,
            "Extra": _SCALAR,
        },
    ),
    _JSON,
)
_FIELD_VALUES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "PhoneNumbers": st.one_of(st.lists(_PHONE_LIKE, max_size=4), _huge(_NUMBER), _JSON),
    "TemplateId": st.one_of(st.just("UTA-FUZZ"), _SCALAR),
    "TemplateParams": st.one_of(
        st.lists(st.one_of(_CODE, _CODE.map(str), _SCALAR), max_size=4), _huge(_CODE), _JSON
    ),
    "SenderId": _SCALAR,
    "ExtendCode": st.one_of(st.just("12"), _SCALAR),
    "UserId": _ANY_TEXT,
    "AccountId": _SCALAR,
    "Action": st.one_of(st.sampled_from(["SendUSMSMessage", "SendBatchUSMSMessage"]), _SCALAR),
    "IdempotencyKey": st.one_of(_ANY_TEXT, st.text(min_size=129, max_size=140)),
    "Recipients": st.one_of(st.lists(_RECIPIENT, max_size=3), _huge(_RECIPIENT), _JSON),
}
_MESSAGE_LIKE = st.fixed_dictionaries(
    {}, optional={name: value for name, value in _FIELD_VALUES.items()}
).flatmap(
    lambda body: st.dictionaries(_ANY_TEXT, _SCALAR, max_size=2).map(
        lambda extra: {**extra, **body}
    )
)
# Mostly valid except for one thing: the cases a real producer gets wrong.
_NEARLY_VALID = st.tuples(
    st.lists(_NUMBER, min_size=1, max_size=3),
    st.lists(_CODE.map(str), max_size=2),
    st.sampled_from(FIELDS),
    _SCALAR,
).map(
    lambda t: {
        "PhoneNumbers": t[0],
        "TemplateId": "UTA-FUZZ",
        "TemplateParams": t[1],
        t[2]: t[3],
    }
)
_BODY_OBJECT = st.one_of(_MESSAGE_LIKE, _NEARLY_VALID, _JSON)

# Nesting depth, a dimension of its own: both sides of the gateway's bound, and bombs deep
# enough for Python 3.13's parser (about 10,000 levels there, 1,000 on 3.11). Built as
# text: a value this deep cannot go through json.dumps.
_DEPTHS = st.sampled_from([2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 1_000, 10_000, 100_000])
_DEEP_HOLDER = '{"PhoneNumbers":["+8613912345678"],"TemplateId":"UTA-FUZZ","TemplateParams":[%s]}'


def _nested_text(depth: int, form: str) -> str:
    """JSON text nesting `depth` levels: bare arrays, objects, or in a message's field."""
    if form == "objects":
        depth = min(depth, 10_000)  # five bytes a level: stay within the queues' limit
        return '{"a":' * depth + "0" + "}" * depth
    nest = "[" * depth + "]" * depth
    return _DEEP_HOLDER % nest if form == "in-a-field" else nest


_DEEP_TEXT = st.builds(_nested_text, _DEPTHS, st.sampled_from(["arrays", "objects", "in-a-field"]))


def _nested_value(depth: int, in_a_field: bool) -> Any:
    """The same as a Python value, for a direct invoke (Lambda parsed the JSON already)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return json.loads(_DEEP_HOLDER % "0") | {"TemplateParams": [value]} if in_a_field else value


_DEEP_VALUE = st.builds(_nested_value, _DEPTHS, st.booleans())
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def nesting_depth(value: Any, *, in_strings: bool = True) -> int:
    """How deep an example nests, JSON in its strings included unless `in_strings` is
    False (walked without recursion)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth + 1)
            items = node.values() if isinstance(node, dict) else node
            pending.extend((item, depth + 1) for item in items)
        elif in_strings and isinstance(node, str) and ("[" in node or "{" in node):
            level = 0
            for token in _TOKEN.finditer(node):
                text = token.group()
                level += 1 if text in "[{" else -1 if text in "]}" else 0
                deepest = max(deepest, depth + level)
    return deepest


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_BODY_TEXT = st.one_of(
    _BODY_OBJECT.map(_dumps),
    _BODY_OBJECT.map(_dumps).flatmap(
        lambda text: st.integers(0, len(text)).map(lambda n: text[:n])
    ),
    _ANY_TEXT,
    st.sampled_from(["{", "[]", "null", "NaN", '{"PhoneNumbers": [NaN]}', "\ufeff{}"]),
    _DEEP_TEXT,
)
# What SQS and SNS can carry (they refuse control characters other than \t \n \r, and
# an empty body): the same bodies, with raw control characters escaped as JSON does.
_QUEUE_BODY = st.one_of(
    _BODY_OBJECT.map(lambda v: json.dumps(v)),  # ASCII, control characters escaped
    _QUEUE_TEXT.filter(bool),
    _DEEP_TEXT,
).filter(lambda body: len(body.encode()) <= _QUEUE_LIMIT)
_ATTRIBUTE_VALUE = st.one_of(
    _QUEUE_TEXT.filter(bool),
    st.text(min_size=129, max_size=140),
    st.just("order-1"),
)


@st.composite
def sqs_records(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """One record shaped like Lambda's, with a fuzzed body and attributes; keys AWS may
    leave out (attributes, message attributes, md5s) sometimes missing."""
    record: dict[str, Any] = json.loads(json.dumps(load_event("sqsEvent")["Records"][0]))
    # Not drawn: hypothesis reuses drawn values, and a code in a logged id would be a
    # false alarm of the leak sweep.
    record["messageId"] = f"fuzz-{index}-{next(_IDS)}"
    if draw(st.booleans()):
        # Through an SNS subscription without raw delivery: the envelope holds the body.
        envelope = json.loads(load_event("snsSqsEvent")["Records"][0]["body"])
        envelope["Message"] = draw(_QUEUE_BODY)
        record["body"] = json.dumps(envelope)
    else:
        record["body"] = draw(_QUEUE_BODY)
    attributes = draw(
        st.dictionaries(st.sampled_from(["IdempotencyKey", "Tenant"]), _ATTRIBUTE_VALUE)
    )
    record["messageAttributes"] = {
        name: {"stringValue": value, "dataType": "String"} for name, value in attributes.items()
    }
    for key in draw(st.sets(st.sampled_from(["attributes", "messageAttributes", "md5OfBody"]))):
        record.pop(key, None)
    return record


@st.composite
def sqs_events(draw: st.DrawFn) -> dict[str, Any]:
    """A batch of 1 to 10 fuzzed records."""
    count = draw(st.integers(1, 10))
    return {"Records": [draw(sqs_records(i)) for i in range(count)]}


@st.composite
def sns_events(draw: st.DrawFn) -> dict[str, Any]:
    """An SNS notification (a direct subscription), fuzzed body and attributes."""
    event = load_event("snsEvent")
    sns = event["Records"][0]["Sns"]
    sns["Message"] = draw(_QUEUE_BODY)
    attributes = draw(
        st.dictionaries(st.sampled_from(["IdempotencyKey", "Tenant"]), _ATTRIBUTE_VALUE)
    )
    sns["MessageAttributes"] = {n: {"Type": "String", "Value": v} for n, v in attributes.items()}
    for key in draw(st.sets(st.sampled_from(["MessageAttributes", "Subject", "Signature"]))):
        sns.pop(key, None)
    return event


@st.composite
def api_events(draw: st.DrawFn) -> dict[str, Any]:
    """A REST proxy event: any method, path, headers (or none), body, base64 or not."""
    if draw(st.integers(0, 3)):  # three in four: a message sent the way the API takes one
        method, path = "POST", "/messages"
    else:
        method = draw(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]))
        path = draw(
            st.one_of(
                st.sampled_from(["/messages/", "/messages/S1", "/messages/a,b,,c", "/x"]),
                st.text(max_size=20).map(lambda p: "/" + p),
            )
        )
    body = draw(st.one_of(st.none(), _BODY_TEXT))
    headers = draw(
        st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["Idempotency-Key", "idempotency-key", "Content-Type", "X-Other"]),
                st.one_of(_ANY_TEXT, st.text(min_size=129, max_size=140)),
                max_size=3,
            ),
        )
    )
    encoding = draw(st.sampled_from(["plain", "base64", "not-base64"]))
    event = api_event(method, path, body if encoding == "plain" else None, headers=headers or {})
    if encoding == "base64" and body is not None:
        event["body"] = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    elif encoding == "not-base64":
        event["body"] = draw(st.one_of(_ANY_TEXT, st.just("%%%not base64%%%")))
        event["isBase64Encoded"] = True
    if headers is None:
        # API Gateway sends null, not {}, when a request has no headers.
        event["headers"] = event["multiValueHeaders"] = None
    if draw(st.booleans()):
        event["queryStringParameters"] = draw(
            st.one_of(st.none(), st.dictionaries(_ANY_TEXT, _ANY_TEXT, max_size=2))
        )
    return event


_DIRECT = st.one_of(_BODY_OBJECT, _NEARLY_VALID, _JSON, _DEEP_VALUE)

# --- the gateway under fuzz ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_cell(world: World) -> Iterator[Cell]:
    """One cell for all examples: a table, a dead-letter queue, the gateway as handler's."""
    cell = world.new_cell("fuzz")
    gateway: Gateway | None = world.build_gateway(cell)
    try:
        yield cell
    finally:
        world.end_cell(cell, gateway)


@pytest.fixture(scope="module")
def fuzz_figures() -> Iterator[dict[str, dict[str, Any]]]:
    """Each door's figures; written for the report when every door passed."""
    collected: dict[str, dict[str, Any]] = {}
    yield collected
    figures.write_part(
        "fuzz",
        {"doors": collected, "examples": EXAMPLES, "random": RANDOM},
        complete=set(collected) == set(EXAMPLES),
    )


def _remember(world: World, event: Any) -> None:
    """The numbers and codes an example carries, for the leak sweep: every valid number in
    a phone number's place and every code in a TemplateParams' place; and the digits that
    stand anywhere else (a UserId, a field's name), which the gateway may log — hypothesis
    reuses values, so the same digits can be a code in one example and a UserId in the
    next."""
    numbers: set[str] = set()
    params: set[str] = set()
    elsewhere: set[str] = set()
    for place, value in _leaves(_decoded(event)):
        digits = str(value)
        if place in ("PhoneNumbers", "PhoneNumber"):
            numbers |= set(re.findall(r"(?<!\d)139\d{8}(?!\d)", digits))
        elif place == "TemplateParams" and re.fullmatch(r"[1-9]\d{7}", digits):
            params.add(digits)
        else:
            elsewhere |= set(re.findall(r"\d{7,}", digits))
    world.numbers |= numbers
    world.params |= params
    world.public |= elsewhere


def _decoded(value: Any) -> Any:
    """`value` with every string that holds JSON (a body, an envelope) parsed, recursively."""
    if isinstance(value, str):
        try:
            parsed = load_json(value)
        except UnreadableJsonError:  # a nesting bomb holds no number to remember
            return value
        return _decoded(parsed) if isinstance(parsed, dict | list) else value
    if nesting_depth(value, in_strings=False) > MAX_DEPTH:
        return value  # left as it is: _leaves reads no deeper than the bound
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _leaves(value: Any, place: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(the name of the nearest enclosing key, value) for every scalar; keys count as
    scalars of their own. Below the gateway's depth bound nothing is read (a deep example
    holds only its nesting there)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield "", key
            yield from _leaves(item, str(key), depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, place, depth + 1)
    else:
        yield place, value


def _refusal(delivery: Delivery) -> MessageValidationError | None:
    """The validation error the gateway must refuse this message with, if any (the model
    is the oracle; the idempotency key's length is the gateway's own check)."""
    try:
        parse_message(delivery.message)
    except MessageValidationError as exc:
        return exc
    key = delivery.idempotency_key
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        return MessageValidationError([FieldError("IdempotencyKey", "too_long", "")])
    return None


def _names_its_field(reason: str, refusal: MessageValidationError | None) -> bool:
    """Whether a dead-letter reason names the (first) field the oracle says is wrong."""
    if refusal is None or not refusal.errors:
        return False
    field = refusal.errors[0].field
    return bool(field.strip()) and reason.startswith(f"invalid message: {field}: ")


def _fresh(world: World, cell: Cell, event: Any) -> None:
    """Start an example clean (a failing one, rerun while shrinking, may leave things)."""
    world.dead_letters(cell)
    world.sandbox.reset()
    _remember(world, event)


def test_sqs_batches_park_or_report_every_bad_record(
    world: World, fuzz_cell: Cell, fuzz_figures: dict[str, dict[str, Any]]
) -> None:
    seen: Counter[str] = Counter()

    @settings(_SETTINGS, max_examples=EXAMPLES["sqs"])
    @given(event=sqs_events())
    def check(event: dict[str, Any]) -> None:
        _fresh(world, fuzz_cell, event)
        answer = handler.lambda_handler(event, InvocationContext())

        assert set(answer) == {"batchItemFailures"}
        ids = [r["messageId"] for r in event["Records"]]
        reported = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
        assert set(reported) <= set(ids)
        parked = world.dead_letters(fuzz_cell)
        for entry in parked:
            assert entry["Attributes"].get("ErrorCode")
            assert entry["Attributes"]["ErrorMessage"]
        refused = [e for e in parked if e["Attributes"]["ErrorCode"] == INVALID]
        refusals = [
            (r["body"], _refusal(from_sqs_record(r)))
            for r in event["Records"]
            if r["messageId"] not in reported
        ]
        for entry in refused:
            reason = entry["Attributes"]["ErrorMessage"]
            assert any(
                _names_its_field(reason, refusal)
                for body, refusal in refusals
                if body == entry["Body"]
            ), entry
        bad = [body for body, refusal in refusals if refusal is not None]
        # Every bad record not reported is parked as invalid — body unchanged — and no
        # good one is. (A good one may still be parked for the provider's refusal.)
        assert Counter(e["Body"] for e in refused) == Counter(bad)
        seen.update(records=len(ids), parked=len(parked), reported=len(reported))
        seen["events"] += 1
        seen["too_deep"] += nesting_depth(event) > MAX_DEPTH

    check()
    fuzz_figures["sqs"] = dict(seen)


def test_sns_notifications_are_sent_or_parked(
    world: World, fuzz_cell: Cell, fuzz_figures: dict[str, dict[str, Any]]
) -> None:
    seen: Counter[str] = Counter()

    @settings(_SETTINGS, max_examples=EXAMPLES["sns"])
    @given(event=sns_events())
    def check(event: dict[str, Any]) -> None:
        _fresh(world, fuzz_cell, event)
        [record] = event["Records"]
        refusal = _refusal(from_sns_record(record))
        bad = refusal is not None
        raised: GatewayError | None = None
        try:
            answer = handler.lambda_handler(event, InvocationContext())
        except GatewayError as exc:
            raised = exc
        if raised is not None:
            # Only what is worth retrying raises (Lambda retries it): here, a good message
            # the provider turned down for a reason of its own (an AccountId not ours).
            assert raised.retryable, raised
            assert not bad, raised
            seen.update(events=1, raised=1)
            return
        parked = world.dead_letters(fuzz_cell)
        assert answer == {"Outcomes": ["parked" if parked else "sent"]}
        if bad:
            [entry] = parked
            assert entry["Attributes"]["ErrorCode"] == INVALID
            assert _names_its_field(entry["Attributes"]["ErrorMessage"], refusal), entry
        for entry in parked:
            assert entry["Body"] == record["Sns"]["Message"]
            assert entry["Attributes"].get("ErrorCode")
            assert entry["Attributes"]["ErrorMessage"]
            assert bad or entry["Attributes"]["ErrorCode"] != INVALID
        seen.update(events=1, parked=len(parked))
        seen["too_deep"] += nesting_depth(event) > MAX_DEPTH

    check()
    fuzz_figures["sns"] = dict(seen)


def test_the_api_never_answers_500(
    world: World, fuzz_cell: Cell, fuzz_figures: dict[str, dict[str, Any]]
) -> None:
    statuses: Counter[str] = Counter()
    deep: Counter[str] = Counter()

    @settings(_SETTINGS, max_examples=EXAMPLES["api"])
    @given(event=api_events())
    def check(event: dict[str, Any]) -> None:
        _fresh(world, fuzz_cell, event)
        answer = handler.lambda_handler(event, InvocationContext())

        status = answer["statusCode"]
        # 502 and 503 only for a good message the provider turned down for a reason of
        # its own (an AccountId not ours is a credentials RetCode: retry later).
        assert status in (200, 400, 404, 405, 409, 422, 502, 503), answer
        body = json.loads(answer["body"])
        if status == 400:
            fields = body["Error"]["Fields"]
            assert fields, body
            assert all(f["Field"].strip() for f in fields), body
        elif status != 200:
            assert body["Error"]["Code"], body
        statuses[str(status)] += 1
        deep["too_deep"] += nesting_depth(event) > MAX_DEPTH
        assert world.dead_letters(fuzz_cell) == []  # a caller's message is never parked

    check()
    fuzz_figures["api"] = {
        "events": sum(statuses.values()),
        "statuses": dict(statuses),
        "too_deep": deep["too_deep"],
    }


def test_a_direct_invoke_raises_only_typed_errors(
    world: World, fuzz_cell: Cell, fuzz_figures: dict[str, dict[str, Any]]
) -> None:
    outcomes: Counter[str] = Counter()
    deep: Counter[str] = Counter()

    @settings(_SETTINGS, max_examples=EXAMPLES["direct"])
    @given(event=_DIRECT)
    def check(event: Any) -> None:
        _fresh(world, fuzz_cell, event)
        deep["too_deep"] += nesting_depth(event) > MAX_DEPTH
        refused: GatewayError | None = None
        try:
            result = handler.lambda_handler(event, InvocationContext())
        except GatewayError as exc:  # anything else fails the test: untyped
            refused = exc
        if isinstance(refused, MessageValidationError):
            assert refused.errors
            assert all(e.field.strip() for e in refused.errors), refused.errors
        if refused is not None:
            outcomes[refused.code] += 1
            return
        assert isinstance(result, dict), result
        assert "SessionNos" in result, result
        outcomes["sent"] += 1

    check()
    fuzz_figures["direct"] = {
        "events": sum(outcomes.values()),
        "outcomes": dict(outcomes),
        "too_deep": deep["too_deep"],
    }
