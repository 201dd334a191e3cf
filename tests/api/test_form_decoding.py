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
