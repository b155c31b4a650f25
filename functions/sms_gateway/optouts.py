"""The opt-out list: numbers that must never be texted, in the protection table.

It is the one place the gateway stores phone numbers — that is its job — encrypted at
rest with the stack's key, never logged, and listed only through the API and the CLI.
Numbers are stored normalised (`(CC)national`), so every accepted form of one number is
the same entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.errors import ConfigurationError

# Item ids: the opt-outs share the protection table with the counters.
OPT_OUT_PREFIX: Final = "optout#"
PARTITION_KEY: Final = "id"
# BatchGetItem's limit per call.
_BATCH_GET_MAX: Final = 100
DEFAULT_PAGE_SIZE: Final = 100


@dataclass(frozen=True)
class OptOutPage:
    """One page of the list, and the token of the next (None on the last)."""

    numbers: tuple[str, ...]
    next_token: str | None


class OptOutStore:
    """Reads and writes opt-outs in the protection table (a boto3 DynamoDB client)."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb

    def add(self, numbers: Iterable[str], *, now: float) -> None:
        """Opt `numbers` out (normalised already); adding one twice changes nothing."""
        for number in dict.fromkeys(numbers):
            self._call(
                "put_item",
                TableName=self.table_name,
                Item={
                    PARTITION_KEY: {"S": OPT_OUT_PREFIX + number},
                    "PhoneNumber": {"S": number},
                    "AddedAt": {"N": str(int(now))},
                },
            )

    def remove(self, number: str) -> bool:
        """Opt `number` back in; False when it was not opted out."""
        answer = self._call(
            "delete_item",
            TableName=self.table_name,
            Key={PARTITION_KEY: {"S": OPT_OUT_PREFIX + number}},
            ReturnValues="ALL_OLD",
        )
        return bool(answer.get("Attributes"))

    def contains(self, number: str) -> bool:
        """Whether `number` is opted out."""
        return number in self.opted_out([number])

    def opted_out(self, numbers: Sequence[str]) -> set[str]:
        """Which of `numbers` are opted out (100 keys a call; strongly consistent)."""
        unique = list(dict.fromkeys(numbers))
        found: set[str] = set()
        for start in range(0, len(unique), _BATCH_GET_MAX):
            keys = [
                {PARTITION_KEY: {"S": OPT_OUT_PREFIX + n}}
                for n in unique[start : start + _BATCH_GET_MAX]
            ]
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": "PhoneNumber",
                }
            }
            while request:
                answer = self._call("batch_get_item", RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    found.add(item["PhoneNumber"]["S"])
                request = answer.get("UnprocessedKeys") or {}
        return found

    def page(self, token: str | None = None, limit: int = DEFAULT_PAGE_SIZE) -> OptOutPage:
        """One page of the opted-out numbers (in the table's order), from `token` on."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(#id, :prefix)",
            "ExpressionAttributeNames": {"#id": PARTITION_KEY},
            "ExpressionAttributeValues": {":prefix": {"S": OPT_OUT_PREFIX}},
        }
        numbers: list[str] = []
        start = token
        # A filtered scan may return fewer than asked (counters share the table): read on
        # until the page is full or the table ends.
        while len(numbers) < limit:
            if start is not None:
                request["ExclusiveStartKey"] = {PARTITION_KEY: {"S": start}}
            request["Limit"] = max(limit - len(numbers), 1) * 4
            answer = self._call("scan", **request)
            items = answer.get("Items", [])
            for item in items:
                numbers.append(item["PhoneNumber"]["S"])
                if len(numbers) == limit:
                    last = OPT_OUT_PREFIX + numbers[-1]
                    return OptOutPage(tuple(numbers), last)
            last_key = answer.get("LastEvaluatedKey")
            if not last_key:
                return OptOutPage(tuple(numbers), None)
            start = last_key[PARTITION_KEY]["S"]
        return OptOutPage(tuple(numbers), start)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._dynamodb, operation)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            # The table is unreachable or refuses us: nothing can be decided; retry later.
            raise ConfigurationError(
                f"the protection table cannot be used: {type(exc).__name__}"
            ) from None
