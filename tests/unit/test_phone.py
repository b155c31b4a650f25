"""Phone-number normalisation: the accepted forms, every rule, and a property test over
libphonenumber's own example numbers for every region."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway import phone
from sms_gateway.phone import (
    PHONE_INPUT_PATTERN,
    PHONE_RULES,
    PhoneNumberError,
    normalize_phone,
    validate_country_code,
)

OUTPUT = re.compile(r"^\(\d{1,3}\)\d+$")


@pytest.mark.parametrize(
    "raw",
    [
        "(86)13800138000",
        "(0086)13800138000",
        "(+86)13800138000",
        "+8613800138000",
        "008613800138000",
        "13800138000",
        "+86 138-0013.8000",
        "(86) (138) 0013 8000",
        "  +86 138 0013 8000  ",
        "+86\u00a0138\u00a00013\u00a08000",  # no-break spaces, as pasted from web pages
        "0086-138-0013-8000",
        "138 0013 8000",
        "+(86)13800138000",
    ],
)
def test_accepted_forms_of_one_number(raw: str) -> None:
    assert normalize_phone(raw, "86") == "(86)13800138000"


@pytest.mark.parametrize(
    ("raw", "default", "expected"),
    [
        # The provider's own test numbers: 555-01xx is fictional but is_valid_number
        # accepts it (the 415 area code's metadata covers it), and so do we.
        ("(1)4155550100", "86", "(1)4155550100"),
        ("(86)13800000000", "86", "(86)13800000000"),
        # A trunk prefix is dropped wherever it appears, after a country code too.
        ("07400 123456", "44", "(44)7400123456"),
        ("(44)07400123456", "86", "(44)7400123456"),
        ("+44 (0) 7400 123456", "86", "(44)7400123456"),
        # Italian numbers keep their leading zero: it is part of the number.
        ("+39 02 1234 5678", "86", "(39)0212345678"),
        ("02 1234 5678", "39", "(39)0212345678"),
        # A bracket group starting with a single 0 is a trunk prefix and area code.
        ("(010) 1234 5678", "86", "(86)1012345678"),
        ("(02) 1234 5678", "61", "(61)212345678"),
        # A bare number takes the default country, an explicit one wins over it.
        ("2015550123", "1", "(1)2015550123"),
        ("+12015550123", "86", "(1)2015550123"),
    ],
)
def test_normalised_form(raw: str, default: str, expected: str) -> None:
    assert normalize_phone(raw, default) == expected


RULE_CASES: list[tuple[object, str]] = [
    (13800138000, "phone_not_a_string"),
    (None, "phone_not_a_string"),
    ("", "phone_empty"),
    ("   ", "phone_empty"),
    ("+", "phone_empty"),
    ("()-.", "phone_empty"),
    ("1" * 65, "phone_too_long"),
    ("+86" + "1" * 20, "phone_too_long"),
    ("+86 1" + "3" * 18, "phone_too_long"),
    ("138-0013-800a", "phone_bad_characters"),
    ("13800138000\n", "phone_bad_characters"),
    ("１３８００１３８０００", "phone_bad_characters"),  # full-width digits
    ("138/0013/8000", "phone_bad_characters"),
    ("+86+13800138000", "phone_bad_format"),
    ("86+13800138000", "phone_bad_format"),
    ("(86)+13800138000", "phone_bad_format"),
    ("(999)13800138000", "phone_unknown_country_code"),
    ("+999 13800138000", "phone_unknown_country_code"),
    ("(00)13800138000", "phone_unknown_country_code"),
    ("(201) 555-0123", "phone_unknown_country_code"),  # a North American national form
    ("(86)", "phone_too_short"),
    ("+861", "phone_too_short"),
    ("0086", "phone_too_short"),
    ("1380013800", "phone_invalid"),  # a digit short
    ("138001380001", "phone_invalid"),  # a digit long
    ("(86)12345678901", "phone_invalid"),  # no such mobile range
]


@pytest.mark.parametrize(("raw", "rule"), RULE_CASES)
def test_rules(raw: object, rule: str) -> None:
    with pytest.raises(PhoneNumberError) as caught:
        normalize_phone(raw, "86")  # type: ignore[arg-type]  # non-strings on purpose
    assert caught.value.rule == rule
    assert rule in PHONE_RULES
    assert isinstance(caught.value, ValueError)
    # The message is logged: it must never carry the number or any long part of it.
    digits = re.sub(r"\D", "", str(raw))
    assert not re.search(r"\d{3,}", str(caught.value)), str(caught.value)
    if digits:
        assert digits not in str(caught.value)


def test_every_rule_is_exercised() -> None:
    assert {rule for _, rule in RULE_CASES} == PHONE_RULES
    assert all(re.fullmatch(r"phone_[a-z_]+", rule) for rule in PHONE_RULES)


def test_unknown_default_country_code_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="default_country_code") as caught:
        normalize_phone("13800138000", "999")
    assert not isinstance(caught.value, PhoneNumberError)
    # Numbers that carry their own country code do not need the default.
    assert normalize_phone("+8613800138000", "999") == "(86)13800138000"


@pytest.mark.parametrize("code", ["86", "+86", "0086", " 86 "])
def test_validate_country_code(code: str) -> None:
    assert validate_country_code(code) == "86"


@pytest.mark.parametrize("code", ["", "999", "086", "+", "abc", "1 1"])
def test_validate_country_code_rejects(code: str) -> None:
    with pytest.raises(ValueError, match="not an assigned country calling code"):
        validate_country_code(code)


def test_input_pattern_agrees_with_the_character_rule() -> None:
    pattern = re.compile(PHONE_INPUT_PATTERN)
    assert pattern.fullmatch("+86 (138) 0013-8000.\u00a0\t")
    for bad in ("138a", "１３８", "138/1", "138\n"):
        assert not pattern.fullmatch(bad)


# ---------------------------------------------------------------------------------------
# Property: every example number libphonenumber knows, in every accepted form with random
# separators, normalises to (CC)NSN, and normalising that again changes nothing.


def _examples() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
            phonenumbers.PhoneNumberType.VOIP,
        ):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.add(
                    (
                        str(number.country_code),
                        phonenumbers.national_significant_number(number),
                    )
                )
    return sorted(found)


EXAMPLES = _examples()
SEPARATORS = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", "\u00a0", "  "])
FORMS = ("(CC)", "(00CC)", "(+CC)", "+CC", "00CC", "bare")


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str, str]:
    """(how it is written, default country code to use, the expected normal form)."""
    cc, nsn = draw(st.sampled_from(EXAMPLES))
    form = draw(st.sampled_from(FORMS))

    def spaced(digits: str) -> str:
        # Separators go between digits, never first: a bare number that starts with a
        # bracket group would be read as (CC)…, as documented.
        return digits[0] + "".join(draw(SEPARATORS) + d for d in digits[1:])

    prefix = {
        "(CC)": f"({cc})",
        "(00CC)": f"(00{cc})",
        "(+CC)": f"(+{cc})",
        "+CC": "+",
        "00CC": "",
        "bare": "",
    }[form]
    if form in ("+CC", "00CC"):
        body = spaced(("00" if form == "00CC" else "") + cc + nsn)
    else:
        body = draw(SEPARATORS.filter(lambda s: "(" not in s)) + spaced(nsn)
    default = cc if form == "bare" else "86"
    padding = draw(st.sampled_from(["", " ", "\u00a0"]))
    return padding + prefix + body + padding, default, f"({cc}){nsn}"


def test_examples_cover_the_world() -> None:
    assert len(EXAMPLES) > 500
    assert len({cc for cc, _ in EXAMPLES}) > 200


@settings(max_examples=300)
@given(written_numbers())
def test_normalisation_is_idempotent_and_well_formed(case: tuple[str, str, str]) -> None:
    written, default, expected = case
    once = normalize_phone(written, default)
    assert once == expected
    assert OUTPUT.fullmatch(once)
    # The normal form reads back as itself, whatever the default country.
    assert normalize_phone(once, default) == once
    assert normalize_phone(once, "44") == once


# ---------------------------------------------------------------------------------------
# The quick way (no `parse` when libphonenumber would take the digits as they are) gives
# libphonenumber's own answer: the same normal form, the same refusal, the same region.


def _slow_answer(digits: str) -> str:
    """What `parse` + `is_valid_number` say of `+digits`: the normal form or the rule."""
    try:
        return phone._parsed_and_validated("+" + digits)
    except PhoneNumberError as error:
        return error.rule


def _slow_region(digits: str) -> str:
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return phone.UNKNOWN_REGION
    return phonenumbers.region_code_for_number(number) or phone.UNKNOWN_REGION


@st.composite
def near_examples(draw: st.DrawFn) -> str:
    """Country code + national digits near a real number: an example with some of its
    digits changed, zeros put in front or digits added or removed (valid and invalid
    numbers, numbers a national prefix would be stripped from, Italian leading zeros)."""
    cc, nsn = draw(st.sampled_from(EXAMPLES))
    digits = list(nsn)
    for _ in range(draw(st.integers(0, 3))):
        digits[draw(st.integers(0, len(digits) - 1))] = str(draw(st.integers(0, 9)))
    national = "".join(digits)
    national = draw(st.sampled_from(["", "", "0", "00", "1", "8"])) + national
    cut = draw(st.integers(-2, 2))
    national = national[:cut] if cut < 0 else national + "5" * cut
    return cc + national


@settings(max_examples=3000)
@given(st.one_of(near_examples(), st.text("0123456789", min_size=1, max_size=21)))
def test_the_quick_way_gives_libphonenumbers_answer(digits: str) -> None:
    quick = phone._quickly_validated(digits)
    if quick is not None:
        assert quick == _slow_answer(digits)
    built = phone._number_as_parse_builds_it(digits)
    if built is not None:
        assert built == phonenumbers.parse("+" + digits, None)
    assert phone.region_of(f"+{digits}") == _slow_region(digits)


def test_the_quick_way_answers_for_most_real_numbers() -> None:
    """Not a speed test: that the quick way is taken (else the test above proves little)."""
    quick = [phone._quickly_validated(cc + nsn) for cc, nsn in EXAMPLES]
    assert [q for q in quick if q is not None] == [
        f"({cc}){nsn}" for (cc, nsn), q in zip(EXAMPLES, quick, strict=True) if q is not None
    ]
    assert sum(q is not None for q in quick) > 0.9 * len(EXAMPLES)


@pytest.mark.parametrize(
    "digits",
    ["390212345678", "3900012345", "39000", "3900", "8613800138000", "14155550100"],
)
def test_the_number_built_is_the_one_parse_builds(digits: str) -> None:
    """Leading zeros included (Italian numbers keep theirs; all zeros but the last
    digit are counted)."""
    built = phone._number_as_parse_builds_it(digits)
    assert built is not None
    assert built == phonenumbers.parse("+" + digits, None)


@settings(max_examples=1000)
@given(st.text("0123456789\u0660\u0661\u0667\u0669", min_size=3, max_size=16))
def test_a_region_from_other_digits_is_libphonenumbers_too(digits: str) -> None:
    """Arabic-Indic digits (a provider's receipt is text from outside) go to `parse`."""
    assert phone.region_of(f"({digits[:2]}){digits[2:]}") == _slow_region(digits)
