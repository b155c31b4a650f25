"""The signature, pinned by the test vectors in shared/uspeedo-api.md (verified there with
the official SDK's own signing function)."""

from __future__ import annotations

import json

import pytest

from sms_gateway.signing import sign, string_to_sign

SEED_BODY = (
    '{"Action":"SendUSMSMessage","AccountId":12345,'
    '"PhoneNumbers":["(1)4155550100","(86)13800000000"],"TemplateId":"UTA2211XXXXXX",'
    '"SenderId":"USpeedo","TemplateParams":["1234","5"],"ExtendCode":"01","UserId":"order-42"}'
)
OTHER_SECRET = "NTk1Mzk0MAItOWI0My10MGM4LTg0NmMMNDM0ZGM5Y2ZkMmNk"


def test_send_message_vector_string_and_signature() -> None:
    body = json.loads(SEED_BODY)
    assert string_to_sign(body) + "SECRET_EXAMPLE" == (
        "AccountId12345ActionSendUSMSMessageExtendCode01PhoneNumbers(1)4155550100"
        "(86)13800000000SenderIdUSpeedoTemplateIdUTA2211XXXXXXTemplateParams12345"
        "UserIdorder-42SECRET_EXAMPLE"
    )
    assert sign(body, "SECRET_EXAMPLE") == "e564a537d57e5916782c779d9c624c3112bbcc39"


def test_create_template_vector() -> None:
    body = json.loads(
        '{"Action":"CreateUSMSTemplate","Purpose":1,"Template":"your code is {1}",'
        '"AccountId":60000011,"TemplateName":"demo"}'
    )
    assert sign(body, OTHER_SECRET) == "11a0430ae6f1a4dc0c656e64dfc1886b0ac4b63a"


def test_nested_batch_vector() -> None:
    body = json.loads(
        '{"Action":"SendBatchUSMSMessage","TaskContent":[{"TemplateId":"UTAXXXXXXXXXXX",'
        '"SenderId":"uspeedo","Target":[{"Phone":"1111","TemplateParams":["1111"]}]}]}'
    )
    assert sign(body, OTHER_SECRET) == "7175ca50d6204dfd469e8aab447810c08f9da53f"


def test_key_order_does_not_change_the_signature() -> None:
    body = json.loads(SEED_BODY)
    reversed_body = dict(reversed(list(body.items())))
    assert sign(reversed_body, "s") == sign(body, "s")


def test_booleans_sign_as_lowercase_words() -> None:
    assert string_to_sign({"B": True, "A": False}) == "AfalseBtrue"


@pytest.mark.parametrize("value", [1.5, None, b"bytes"])
def test_values_that_cannot_be_signed_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="cannot sign"):
        string_to_sign({"Field": value})
