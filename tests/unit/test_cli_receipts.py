"""`smsgw receipts`: the API's delivery receipts as a table (phones masked) or raw JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smsgw import receipts
from smsgw.cli import main
from tests.unit.test_cli_harness import API_KEY, FakeApi, write_outputs

# 2024-01-02 03:04:05 UTC
RECEIPT_TIME = 1704164645
ANSWER: dict[str, Any] = {
    "Sessions": [
        {
            "SessionNo": "S-1",
            "ReceiptSet": [
                {
                    "Phone": "13800138000",
                    "CountryCode": "86",
                    "ReceiptResult": "Success",
                    "ReceiptCode": "DELIVRD",
                    "ReceiptDesc": "delivered",
                    "ReceiptTime": RECEIPT_TIME,
                    "CostCount": 1,
                    "UserId": "order-7",
                },
                {
                    "Phone": "13900139000",
                    "CountryCode": "86",
                    "ReceiptResult": "Fail",
                    "ReceiptCode": "UNDELIV",
                    "ReceiptDesc": "not delivered",
                    "ReceiptTime": RECEIPT_TIME * 1000,  # milliseconds read the same
                    "CostCount": 1,
                    "UserId": "order-7",
                },
            ],
        },
        {"SessionNo": "S-2", "ReceiptSet": []},
    ]
}


def local_outputs(tmp_path: Path, api: FakeApi, key: str = API_KEY) -> Path:
    return write_outputs(
        tmp_path, {"ApiUrl": api.url, "ApiKey": key, "AwsEndpointUrl": "http://127.0.0.1:1"}
    )


def test_a_table_with_masked_phones(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", "/messages/S-1,S-2,S-3", 200, ANSWER)

    code = main(["--outputs", str(local_outputs(tmp_path, api)), "receipts", "S-1", "S-2,S-3"])

    out = capsys.readouterr().out
    assert code == 1  # S-3 is unknown to the provider; the table shows every one all the same
    [request] = api.requests
    assert request.headers["x-api-key"] == API_KEY
    lines = out.splitlines()
    assert lines[0].split() == ["SessionNo", "Phone", "Result", "Code", "Time", "(UTC)"]
    assert lines[1].split() == [
        "S-1",
        "*******8000",
        "Success",
        "DELIVRD",
        "2024-01-02",
        "03:04:05",
    ]
    assert lines[2].split() == ["S-1", "*******9000", "Fail", "UNDELIV", "2024-01-02", "03:04:05"]
    assert lines[3].split() == ["S-2", "(no", "receipt", "yet)"]
    assert lines[4].split() == ["S-3", "(unknown", "SessionNo)"]
    assert "13800138000" not in out
    assert "13900139000" not in out


def test_phones_are_masked_as_the_gateway_masks_them() -> None:
    # The contract's mask_phone: every digit but the last four, other characters kept.
    session = {
        "SessionNo": "S-1",
        "ReceiptSet": [{"Phone": "+86-138-0013-8000"}, {"Phone": "10086"}, {"Phone": "110"}],
    }

    phones = [row[1] for row in receipts.rows(["S-1"], [session])]

    assert phones == ["+**-***-****-8000", "*0086", "110"]


def test_json_prints_the_answer_with_phones_masked(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", "/messages/S-1,S-2", 200, ANSWER)

    code = main(
        ["--outputs", str(local_outputs(tmp_path, api)), "receipts", "S-1", "S-2", "--json"]
    )

    out = capsys.readouterr().out
    assert code == 0
    phones = [r["Phone"] for r in json.loads(out)["Sessions"][0]["ReceiptSet"]]
    assert phones == ["*******8000", "*******9000"]
    assert "13800138000" not in out


def test_json_with_reveal_prints_the_answer_as_it_is(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", "/messages/S-1,S-2", 200, ANSWER)

    outputs = str(local_outputs(tmp_path, api))
    code = main(["--outputs", outputs, "receipts", "S-1", "S-2", "--json", "--reveal"])

    assert code == 0
    assert json.loads(capsys.readouterr().out) == ANSWER


def test_an_unknown_session_no_exits_1_and_says_which(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", "/messages/S-1,S-9", 200, {"Sessions": ANSWER["Sessions"][:1]})

    code = main(["--outputs", str(local_outputs(tmp_path, api)), "receipts", "S-1", "S-9"])

    captured = capsys.readouterr()
    assert code == 1
    assert "(unknown SessionNo)" in captured.out
    assert "the provider does not know: S-9" in captured.err


def test_more_than_100_session_nos_take_several_calls(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = [f"S{i}" for i in range(105)]
    for part in (wanted[:100], wanted[100:]):
        sessions = [{"SessionNo": s, "ReceiptSet": []} for s in part]
        api.answer("GET", "/messages/" + ",".join(part), 200, {"Sessions": sessions})

    code = main(["--outputs", str(local_outputs(tmp_path, api)), "receipts", *wanted, "--json"])

    assert code == 0
    assert len(api.requests) == 2
    answer = json.loads(capsys.readouterr().out)
    assert [s["SessionNo"] for s in answer["Sessions"]] == wanted


def test_a_refused_key_exits_1_with_the_status(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", "/messages/S-1", 200, ANSWER)

    code = main(["--outputs", str(local_outputs(tmp_path, api, key="wrong")), "receipts", "S-1"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert "HTTP 403" in err
    assert "Forbidden" in err


def test_no_session_no_is_a_usage_error(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--outputs", str(local_outputs(tmp_path, api)), "receipts", ","])

    assert code == 2
    assert "at least one SessionNo" in capsys.readouterr().err
    assert api.requests == []
