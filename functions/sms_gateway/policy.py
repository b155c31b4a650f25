"""The traffic policy: which countries may be texted, how fast, and how old a message may be.

One document (an SSM parameter the stack creates from the context key `trafficPolicy`),
checked by one model here — by the gateway when it reads it, by `smsgw policy set` before
writing it, and by the stack at synth — so a document one of them takes, all take.

```json
{"Mode": "Enforce",
 "Countries": {"Allow": ["*"], "Block": []},
 "Limits": [{"Scope": "Number", "Count": 5, "Seconds": 600},
            {"Scope": "Prefix", "Digits": 2, "Count": 20, "Seconds": 3600}],
 "MaxAgeSeconds": 3600}
```
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sms_gateway.json_input import TOO_DEEP, UnreadableJsonError, load_value

ENFORCE: Final = "Enforce"
MONITOR: Final = "Monitor"
ALL_COUNTRIES: Final = "*"
# A TimeToLive or MaxAgeSeconds longer than three days is no expiry worth the name.
MAX_AGE_LIMIT_S: Final = 259_200
# Prefix limits group numbers that share all but their last 1 to 6 digits.
MAX_PREFIX_DIGITS: Final = 6
# A window longer than this cannot be what anyone meant (and outlives any TTL we set).
MAX_WINDOW_S: Final = 31 * 24 * 3600

Scope = Literal["Number", "Prefix", "Country", "Global"]
# `Number`/`Prefix` refusals are a person's or a block's velocity; `Country`/`Global` caps.
VELOCITY_SCOPES: Final = frozenset({"Number", "Prefix"})

_REGION = Annotated[str, Field(pattern=r"^([A-Z]{2}|\*)$")]
_STRICT: Final = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


class PolicyError(ValueError):
    """The document is not a valid policy; the message names each broken rule."""


class Countries(BaseModel):
    """Destination regions (ISO 3166-1 alpha-2, as libphonenumber assigns them)."""

    model_config = _STRICT

    allow: list[_REGION] = Field(default_factory=lambda: [ALL_COUNTRIES], alias="Allow")
    block: list[_REGION] = Field(default_factory=list, alias="Block")

    def permits(self, region: str) -> bool:
        """Whether a number in `region` may be sent: allowed and not blocked."""
        allowed = ALL_COUNTRIES in self.allow or region in self.allow
        return allowed and region not in self.block and ALL_COUNTRIES not in self.block


class Limit(BaseModel):
    """At most `count` numbers sent per fixed window of `seconds`, per `scope`."""

    model_config = _STRICT

    scope: Scope = Field(alias="Scope")
    count: int = Field(alias="Count", ge=1)
    seconds: int = Field(alias="Seconds", ge=1, le=MAX_WINDOW_S)
    digits: int | None = Field(None, alias="Digits", ge=1, le=MAX_PREFIX_DIGITS)
    countries: list[_REGION] | None = Field(None, alias="Countries")

    @model_validator(mode="after")
    def _digits_only_for_prefix(self) -> Limit:
        if self.scope == "Prefix" and self.digits is None:
            raise ValueError("a Prefix limit needs Digits (1 to 6)")
        if self.scope != "Prefix" and self.digits is not None:
            raise ValueError("Digits applies to a Prefix limit only")
        return self

    def applies_to(self, region: str) -> bool:
        """Whether this limit counts numbers of `region`."""
        return self.countries is None or region in self.countries

    @property
    def refusal_reason(self) -> str:
        """`rate_limited` for a velocity limit, `cap_reached` for a volume cap."""
        return "rate_limited" if self.scope in VELOCITY_SCOPES else "cap_reached"


class TrafficPolicy(BaseModel):
    """The whole document. Every key is optional: `{}` allows everything, unlimited."""

    model_config = _STRICT

    mode: Literal["Enforce", "Monitor"] = Field(ENFORCE, alias="Mode")
    countries: Countries = Field(default_factory=Countries, alias="Countries")
    limits: list[Limit] = Field(default_factory=list, alias="Limits")
    max_age_seconds: int | None = Field(None, alias="MaxAgeSeconds", ge=1, le=MAX_AGE_LIMIT_S)

    @property
    def enforcing(self) -> bool:
        """Whether refusals are real (`Enforce`) or only counted (`Monitor`)."""
        return self.mode == ENFORCE

    def as_document(self) -> dict[str, Any]:
        """The policy as its JSON document (every key written out)."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


def parse_policy(document: str | bytes | dict[str, Any]) -> TrafficPolicy:
    """The policy in `document` (its JSON text, or the parsed object); `PolicyError`
    naming every broken rule otherwise."""
    try:
        # Bounded like every outside document: a nesting bomb is refused, not a crash.
        value = load_value(document)
    except UnreadableJsonError as exc:
        if exc.rule == TOO_DEEP:
            raise PolicyError(f"the traffic policy {exc}") from None
        raise PolicyError("the traffic policy is not valid JSON") from None
    if not isinstance(value, dict):
        raise PolicyError("the traffic policy must be a JSON object")
    try:
        return TrafficPolicy.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '$'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise PolicyError(f"the traffic policy is invalid: {problems}") from None
