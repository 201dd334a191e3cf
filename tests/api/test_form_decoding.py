"""The form decoder gives what urllib's parse_qsl gives (Stripe SDKs send form bodies)."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metered.api.params import decode_form, form_pairs
from metered.errors import InvalidRequestError

pieces = st.sampled_from(["a", "b[c]", "%5B", "%5D", "=", "&", "+", "%20", "%", "%FF", "%C3%A9",
                          "é", "x", "", "[", "]", "1", ";", "%2", "%zz", "&&", "==", "%25",
                          "%5b", "%%"])


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.lists(pieces, max_size=12).map("".join), st.text(max_size=40)))
def test_pairs_equal_parse_qsl(text: str) -> None:
    try:
        expected = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            form_pairs(text)
        return
    assert form_pairs(text) == expected


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.text(max_size=8),
                       min_size=1, max_size=5))
def test_quoted_round_trip(fields: dict[str, str]) -> None:
    body = "&".join(f"payload[{quote(k, safe='')}]={quote(v, safe='')}" for k, v in fields.items())
    assert decode_form(body.encode()) == {"payload": fields}


def test_too_many_fields_and_bad_escapes_are_clear_errors() -> None:
    with pytest.raises(InvalidRequestError, match="Max number of fields"):
        decode_form(("a=1&" * 20_000).encode())
    with pytest.raises(InvalidRequestError) as info:
        decode_form(b"name=%FF")
    assert info.value.code == "parameter_invalid_encoding"


@settings(max_examples=300, deadline=None)
@given(key=st.lists(st.sampled_from(["a", "b", "[", "]", "0", ""]), max_size=7).map("".join))
def test_bracket_keys_split_as_the_general_parser_does(key: str) -> None:
    from metered.api import params

    def general(k: str) -> list[str] | str:
        head, sep, rest = k.partition("[")
        if not sep:
            return [k]
        parts, pos = [head], 0
        for match in params._KEY_PART.finditer("[" + rest):
            if match.start() != pos:
                return "error"
            parts.append(match.group(1))
            pos = match.end()
        if pos != len(rest) + 1 or not head or len(parts) > params.MAX_DEPTH:
            return "error"
        return parts

    try:
        got: list[str] | str = params._split_key(key)
    except InvalidRequestError:
        got = "error"
    assert got == general(key)


def _general(text: str) -> object:
    from metered.api.params import decode_pairs

    try:
        return decode_pairs(form_pairs(text))
    except InvalidRequestError as exc:
        return ("error", exc.message)
    except UnicodeDecodeError:
        return "bad utf-8"


form_keys = st.lists(st.sampled_from(["a", "b", "[", "]", "0", "%5B", "%5D", "+", "c[d]",
                                      "payload[x]", "payload"]), min_size=0, max_size=4
                     ).map("".join)
form_fields = st.tuples(form_keys, st.sampled_from(["", "1", "x", "%20", "%FF", "+", "a=b"]))


@settings(max_examples=1000, deadline=None)
@given(fields=st.lists(form_fields, max_size=6))
def test_the_one_pass_decoder_agrees_with_the_general_one(fields: list[tuple[str, str]]) -> None:
    """decode_form's fast path (flat forms) answers exactly what the general decoder does."""
    from metered.api.params import _flat_form

    text = "&".join(f"{k}={v}" for k, v in fields)
    try:
        flat = _flat_form(text)
    except UnicodeDecodeError:
        assert _general(text) == "bad utf-8"
        return
    if flat is not None:
        assert flat == _general(text)


def test_numeric_top_level_names_are_params_not_a_list() -> None:
    assert decode_form(b"0=a&1=b") == {"0": "a", "1": "b"}
    assert decode_form(b"0=a&x[0]=b") == {"0": "a", "x": ["b"]}
    assert decode_form(b"event_name=e&payload%5Bvalue%5D=3") == {
        "event_name": "e", "payload": {"value": "3"}}
