"""Masks: every form a tool may print a value in becomes ***, longest first."""

from __future__ import annotations

import json

from colab.masking import Masks, forms


def test_raw_and_json_escaped_forms_are_masked() -> None:
    m = Masks()
    value = 'pa"ss\\word-ü-1234'
    m.add(value)
    printed_raw = f"Invalid hostPort: {value}"
    printed_json = json.dumps({"Name": value})
    printed_ascii = json.dumps({"Name": value}, ensure_ascii=True)
    assert m.redact(printed_raw) == "Invalid hostPort: ***"
    assert m.redact(printed_json) == '{"Name": "***"}'
    assert m.redact(printed_ascii) == '{"Name": "***"}'


def test_each_long_line_of_a_multi_line_value_is_masked_on_its_own() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n-----END KEY-----\n"
    m = Masks()
    m.add(key)
    assert m.redact("line 2 was MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "line 2 was ***"
    assert m.redact("ab stays") == "ab stays"  # too short to be told from ordinary text
    assert m.redact(f"all: {key}") == "all: ***"


def test_a_longer_value_is_not_half_masked_by_a_shorter_one_inside_it() -> None:
    m = Masks()
    m.add("abcdefgh")
    m.add("abcdefgh-and-more")
    assert m.redact("x abcdefgh-and-more y abcdefgh") == "x *** y ***"


def test_an_empty_value_masks_nothing() -> None:
    m = Masks()
    m.add("")
    assert forms("") == set() and len(m) == 0
    assert m.redact("anything") == "anything"
