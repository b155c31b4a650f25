"""Delivery status events: what a receipt says of one number, as the event producers get.

EventBridge: source `sms-gateway`, detail-type `SMS Delivery Status`, detail with the
contract's fields plus `EventId`, a keyed hash of SessionNo and number — the same on every
copy of one number's event, so a subscriber can drop EventBridge's own rare duplicates
(its delivery to targets is at least once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.contract import (
    DELIVERED,
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    FAILED,
    UNKNOWN_STATUS,
    mask_phone,
)
from sms_gateway.gateway_key import GatewayKey
from sms_gateway.phone import region_of
from sms_gateway.provider_answers import Receipt

SOURCE: Final = EVENT_SOURCE
DETAIL_TYPE: Final = EVENT_DETAIL_TYPE
UNKNOWN: Final = UNKNOWN_STATUS
# The provider's final results; `Unknow` (sic) and a missing receipt are not final yet.
_FINAL: Final = {"Success": DELIVERED, "Fail": FAILED, "SubmitFail": FAILED}
# The metric each status counts in (dimension `Country`).
STATUS_METRICS: Final = {
    DELIVERED: "Delivered",
    FAILED: "DeliveryFailed",
    UNKNOWN: "DeliveryUnknown",
}


def final_status(receipt: Receipt | None) -> str | None:
    """The event status a receipt settles, or None while the number is not final."""
    return _FINAL.get(receipt.result) if receipt is not None else None


def receipt_phone(receipt: Receipt) -> str:
    """The receipt's number in the gateway's `(CC)national` form, to match what was sent
    (the provider answers the national number and the country code apart)."""
    phone = receipt.phone.strip()
    if phone.startswith("("):
        return phone
    code = receipt.country_code.strip().lstrip("+")
    code = code[2:] if code.startswith("00") else code
    return f"({code}){phone}"


@dataclass(frozen=True)
class DeliveryEvent:
    """One number's final status in one session."""

    session_no: str
    phone: str  # (CC)national
    status: str
    user_id: str | None
    receipt: Receipt | None = None  # None for UNKNOWN without a receipt

    @property
    def country(self) -> str:
        """The destination's ISO region (the metrics' `Country`)."""
        return region_of(self.phone)

    def event_id(self, key: GatewayKey) -> str:
        """Stable across copies and retries; no number in it (keyed)."""
        return key.digest(f"delivery-event:{self.session_no}#{self.phone}")[:32]

    def detail(self, key: GatewayKey, with_phone_numbers: bool) -> dict[str, Any]:
        """The event's detail: the number masked unless `with_phone_numbers`."""
        receipt = self.receipt
        return {
            "EventId": self.event_id(key),
            "SessionNo": self.session_no,
            "PhoneNumber": self.phone if with_phone_numbers else mask_phone(self.phone),
            "Country": self.country,
            "Status": self.status,
            "ReceiptCode": receipt.code if receipt else "",
            "ReceiptDesc": receipt.description if receipt else "no final receipt in 12 hours",
            "ReceiptTime": receipt.time if receipt else None,
            "CostCount": receipt.cost_count if receipt else None,
            "UserId": (receipt.user_id if receipt and receipt.user_id else None) or self.user_id,
        }
