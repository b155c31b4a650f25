"""The RetCode policy of shared/uspeedo-api.md."""

from __future__ import annotations

import pytest

from sms_gateway.retcodes import Outcome, classify


@pytest.mark.parametrize(
    ("ret_code", "outcome"),
    [
        (0, Outcome.SUCCESS),
        *[(code, Outcome.TRANSIENT) for code in (215400, 151, 200, 18004, 18007)],
        *[(code, Outcome.CREDENTIALS) for code in (170, 171, 172, 173, 215398)],
        *[(code, Outcome.UNKNOWN_ACTION) for code in (160, 161)],
        *[(code, Outcome.PERMANENT) for code in (215392, 215397, 18014, 18019, 99999, -1)],
    ],
)
def test_each_retcode_has_its_outcome(ret_code: int, outcome: Outcome) -> None:
    assert classify(ret_code) is outcome
