"""The four doors, each with its retry behaviour modelled as AWS (or a careful client) has it.

- SQS: the messages are sent to a moto queue whose redrive is the stack's (maxReceiveCount
  from `infra.queue_settings`). Each receive is one invocation with Lambda's record shape;
  what the handler does not report as an item failure is deleted. Between receives, one
  visibility timeout passes; after the last receive, moto's redrive moves what is left to
  the dead-letter queue — without a reason attribute, as AWS does.
- SNS (a direct subscription): Lambda's asynchronous invocation — an error is retried
  twice, one and two minutes later, then the event goes to the on-failure destination
  (the dead-letter queue, as the stack configures it) as an invocation record.
- API: a client that retries 502 and 503 with the same Idempotency-Key after Retry-After.
- Direct invoke: a caller that retries the retryable typed errors and an unknown outcome
  with the same IdempotencyKey, 30 s apart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from infra.queue_settings import BATCH_SIZE
from local_gateway.pump import to_lambda_record
from sms_gateway import handler, time_budget
from sms_gateway.contract import IDEMPOTENCY_KEY_HEADER
from sms_gateway.errors import GatewayError, UnknownOutcomeError
from sms_gateway.rest_api import API_GATEWAY_TIMEOUT_S, DEFAULT_RETRY_AFTER_S
from tests.harness import api_event, sns_event
from tests.reliability.invariants import Seen
from tests.reliability.world import Cell, InvocationContext, World

DOORS: Final = ("sqs", "sns", "api", "direct")
LAMBDA_ASYNC_RETRIES: Final = 2
# Lambda waits about a minute before the first retry and two before the second.
LAMBDA_RETRY_DELAYS_S: Final = (60, 120)
CALLER_ATTEMPTS: Final = 4
DIRECT_RETRY_DELAY_S: Final = 30
_SAFETY_ROUNDS: Final = 40  # a broken loop fails the test instead of hanging it

ContextFactory = Callable[[str, int], InvocationContext]


@dataclass(frozen=True)
class TestMessage:
    """One message of a cell: its body, the numbers and parameters it carries (to find it
    at the provider and in the dead-letter queue, and to look for in the logs), and the
    idempotency key its producer or caller gives."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str
    body: dict[str, Any]
    numbers: tuple[str, ...]
    params: tuple[str, ...]
    template_id: str
    key: str

    def text(self, *, with_key: bool = False) -> str:
        """The body as JSON; `with_key` adds the IdempotencyKey field (direct invokes)."""
        body = {**self.body, "IdempotencyKey": self.key} if with_key else self.body
        return json.dumps(body, ensure_ascii=False)


def make_messages(world: World, cell: Cell) -> list[TestMessage]:
    """Three messages, each with numbers and codes never used before in this run: one
    number; two recipients with their own codes (SendBatchUSMSMessage); two numbers
    written in other accepted forms."""

    def number() -> str:
        national = f"138{world.serial():08d}"
        world.numbers.add(national)
        return national

    def code() -> str:
        # Eight digits, as one-time codes can be: long enough never to be met by chance.
        value = f"{(world.serial() * 7_919) % 90_000_000 + 10_000_000}"
        world.params.add(value)
        return value

    messages: list[TestMessage] = []
    for index in range(3):
        template = f"UTA-{cell.name[:20]}-{world.serial()}-{index}"
        codes = (code(), code())
        if index == 0:
            numbers: tuple[str, ...] = (number(),)
            body: dict[str, Any] = {
                "PhoneNumbers": [f"+86{numbers[0]}"],
                "TemplateId": template,
                "TemplateParams": [codes[0]],
            }
        elif index == 1:
            numbers = (number(), number())
            body = {
                "Recipients": [
                    {"PhoneNumber": f"+86{numbers[0]}", "TemplateParams": [codes[0]]},
                    {"PhoneNumber": f"(86){numbers[1]}", "TemplateParams": [codes[1]]},
                ],
                "TemplateId": template,
            }
        else:
            numbers = (number(), number())
            body = {
                "PhoneNumbers": [numbers[0], f"0086{numbers[1]}"],
                "TemplateId": template,
                "TemplateParams": [codes[0], int(codes[1])],
            }
        key = f"rel-{uuid.uuid4().hex[:12]}"
        messages.append(TestMessage(f"m{index}", body, numbers, codes, template, key))
    return messages


@dataclass
class DoorRun:
    """What the door saw: each message's last word, and how hard it tried."""

    seen: dict[str, Seen] = field(default_factory=dict)
    # The error code (and RetCode) each message was last refused with, if it was.
    codes: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    invocations: int = 0
    retries: int = 0
    # Answers outside the contract: a 500, an untyped exception, a raise from a batch.
    crashes: list[str] = field(default_factory=list)


@contextmanager
def _invocation(cell: Cell, context: InvocationContext, run: DoorRun) -> Iterator[None]:
    cell.context = context
    run.invocations += 1
    try:
        yield
    finally:
        cell.context = None


def run_sqs(
    world: World,
    cell: Cell,
    messages: list[TestMessage],
    contexts: ContextFactory,
    copies: int,
    *,
    together: bool = False,
) -> DoorRun:
    """Send each message `copies` times to the queue; receive until the queue is empty.

    Copies arrive one wave after another (a producer's retry, SQS's own duplicate), so a
    wave's figures do not depend on how a batch's threads interleave; `together` puts
    them all in the first batch instead.
    """
    run = DoorRun()
    owner: dict[str, str] = {}
    acked: set[str] = set()
    waves = [messages * copies] if together else [messages] * copies
    for wave in waves:
        _sqs_wave(world, cell, wave, contexts, run, owner, acked)
    for message in messages:
        copies_acked = [i for i, m in owner.items() if m == message.id and i in acked]
        run.seen[message.id] = "acked" if copies_acked else "exhausted"
    # The records that ran out of receives were counted as retried once too often.
    run.retries -= sum(1 for i in owner if i not in acked)
    return run


def _sqs_wave(
    world: World,
    cell: Cell,
    messages: list[TestMessage],
    contexts: ContextFactory,
    run: DoorRun,
    owner: dict[str, str],
    acked: set[str],
) -> None:
    sqs = world.infra["sqs"]
    for message in messages:
        sent = sqs.send_message(QueueUrl=cell.queue_url, MessageBody=message.text())
        owner[sent["MessageId"]] = message.id
    for receive in range(1, _SAFETY_ROUNDS + 1):
        received = sqs.receive_message(
            QueueUrl=cell.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            VisibilityTimeout=0,  # what is not deleted is back at once: time is modelled
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            break
        records = [to_lambda_record(m, cell.queue_arn) for m in received]
        with _invocation(cell, contexts("sqs", receive), run):
            try:
                answer = handler.lambda_handler({"Records": records}, cell.context)
                failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            except Exception as exc:  # a batch must never raise: every record is retried
                run.crashes.append(f"sqs batch raised {type(exc).__name__}")
                failed = {r["messageId"] for r in records}
        done = [r for r in records if r["messageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=cell.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done)
                ],
            )
            acked |= {r["messageId"] for r in done}
        if failed:
            run.retries += len(failed)
            cell.attempt_failed()
        world.time_passes(cell, time_budget.visibility_timeout_s())
    else:
        raise AssertionError("the queue never emptied")


def run_sns(
    world: World, cell: Cell, messages: list[TestMessage], contexts: ContextFactory, copies: int
) -> DoorRun:
    """Deliver each message's notification `copies` times, as Lambda's async invoke does."""
    run = DoorRun()
    for message in messages:
        event = sns_event(message.text(), IdempotencyKey=message.key)
        for _ in range(copies):
            run.seen[message.id] = _deliver_sns(world, cell, event, contexts, run)
    return run


def _deliver_sns(
    world: World, cell: Cell, event: dict[str, Any], contexts: ContextFactory, run: DoorRun
) -> Seen:
    error: BaseException | None = None
    for attempt in range(1, LAMBDA_ASYNC_RETRIES + 2):
        with _invocation(cell, contexts("sns", attempt), run):
            try:
                handler.lambda_handler(event, cell.context)
                return "acked"
            except GatewayError as exc:
                error = exc
                if not exc.retryable:  # a refusal must be parked, not retried
                    run.crashes.append(f"sns raised the non-retryable {exc.code}")
            except Exception as exc:
                # An AWS error (the dead-letter queue unreachable while parking): Lambda
                # retries it like any error, which is what it deserves.
                error = exc
        cell.attempt_failed()
        if attempt <= LAMBDA_ASYNC_RETRIES:
            run.retries += 1
            world.time_passes(cell, LAMBDA_RETRY_DELAYS_S[attempt - 1])
    # Retries exhausted: Lambda writes an invocation record to the on-failure destination.
    record = {
        "version": "1.0",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": LAMBDA_ASYNC_RETRIES + 1,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorType": type(error).__name__},
    }
    world.infra["sqs"].send_message(QueueUrl=cell.dlq_url, MessageBody=json.dumps(record))
    return "exhausted"


def run_api(
    world: World, cell: Cell, messages: list[TestMessage], contexts: ContextFactory, copies: int
) -> DoorRun:
    """POST each message (`copies` times: a client that lost the answer asks again)."""
    run = DoorRun()
    for message in messages:
        for _ in range(copies):
            run.seen[message.id] = _post(world, cell, message, contexts, run)
    return run


def _post(
    world: World, cell: Cell, message: TestMessage, contexts: ContextFactory, run: DoorRun
) -> Seen:
    status = 0
    for attempt in range(1, CALLER_ATTEMPTS + 1):
        event = api_event(body=message.text(), headers={IDEMPOTENCY_KEY_HEADER: message.key})
        cell.api_deadline_ms = API_GATEWAY_TIMEOUT_S * 1000
        try:
            with _invocation(cell, contexts("api", attempt), run):
                answer = handler.lambda_handler(event, cell.context)
        finally:
            cell.api_deadline_ms = None
        status = answer["statusCode"]
        if status == 200:
            return "sent"
        error = json.loads(answer["body"]).get("Error", {})
        run.codes[message.id] = (error.get("Code"), error.get("RetCode"))
        if status >= 500 and status not in (502, 503):
            run.crashes.append(f"api answered {status}")
            return "crash"
        if status not in (502, 503):
            return "rejected"
        cell.attempt_failed()
        if attempt < CALLER_ATTEMPTS:
            run.retries += 1
            headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
            world.time_passes(cell, float(headers.get("retry-after", DEFAULT_RETRY_AFTER_S)))
    return "unknown" if status == 502 else "rejected"


def run_direct(
    world: World, cell: Cell, messages: list[TestMessage], contexts: ContextFactory, copies: int
) -> DoorRun:
    """Invoke with each bare message (its IdempotencyKey in the body), `copies` times."""
    run = DoorRun()
    for message in messages:
        for _ in range(copies):
            run.seen[message.id] = _invoke(world, cell, message, contexts, run)
    return run


def _invoke(
    world: World, cell: Cell, message: TestMessage, contexts: ContextFactory, run: DoorRun
) -> Seen:
    for attempt in range(1, CALLER_ATTEMPTS + 1):
        try:
            with _invocation(cell, contexts("direct", attempt), run):
                handler.lambda_handler(json.loads(message.text(with_key=True)), cell.context)
            return "sent"
        except GatewayError as exc:
            run.codes[message.id] = (exc.code, getattr(exc, "ret_code", None))
            unknown = isinstance(exc, UnknownOutcomeError)
            if not (exc.retryable or unknown):
                return "rejected"
            cell.attempt_failed()
            if attempt == CALLER_ATTEMPTS:
                return "unknown" if unknown else "rejected"
            run.retries += 1
            world.time_passes(cell, DIRECT_RETRY_DELAY_S)
        except Exception as exc:  # outside the typed family: the caller cannot act on it
            run.crashes.append(f"direct invoke raised {type(exc).__name__}")
            return "crash"
    raise AssertionError("unreachable")


RUNNERS: Final[dict[str, Callable[..., DoorRun]]] = {
    "sqs": run_sqs,
    "sns": run_sns,
    "api": run_api,
    "direct": run_direct,
}
