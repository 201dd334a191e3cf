"""Request parameters as Stripe's SDKs send them: form bodies with bracket nesting, or JSON.

`decode_form` turns `payload[value]=3&expand[0]=x` into nested dicts and lists; `Params` reads
typed values out of either shape and names the offending param, bracket-style, on error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from metered.api import limits
from metered.billing.metadata import check_metadata
from metered.errors import InvalidRequestError, invalid_param, missing_param

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = limits.MAX_FORM_DEPTH
MAX_FIELDS = limits.MAX_FORM_FIELDS


def _split_key(key: str) -> list[str]:
    head, sep, rest = key.partition("[")
    if not sep:
        return [key]
    if head and rest and rest.find("[") < 0 and rest.find("]") == len(rest) - 1:  # `a[b]`
        return [head, rest[:-1]]
    rest = "[" + rest
    parts = [head]
    pos = 0
    for match in _KEY_PART.finditer(rest):
        if match.start() != pos:
            raise invalid_param(key, f"Invalid parameter name: {key}.")
        parts.append(match.group(1))
        pos = match.end()
    if pos != len(rest) or not head:
        raise invalid_param(key, f"Invalid parameter name: {key}.")
    if len(parts) > MAX_DEPTH:
        raise invalid_param(key, f"Parameter {key} is nested too deeply: a name can have at"
                            f" most {MAX_DEPTH} parts (`a[b][c]` has 3).")
    return parts


# An array index in a form key: ASCII digits only (str.isdigit accepts '²', which int refuses).
_INDEX = re.compile(r"[0-9]{1,9}")


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        for k, v in list(node.items()):
            node[k] = _listify(v)
        if node and all(_INDEX.fullmatch(k) for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[] appends (len: counting the keys made 20,000 of them quadratic)
                part = str(len(node)) if isinstance(node, dict) else "0"
            if not isinstance(node, dict):
                raise invalid_param(key, f"Conflicting values for parameter {key}.")
            if last:
                if isinstance(node.get(part), dict):  # `a[b]=1&a=2`: the scalar came second
                    raise invalid_param(key, f"Conflicting values for parameter {key}.")
                node[part] = value
            else:
                child = node.get(part)
                if child is None or isinstance(child, str):
                    if isinstance(child, str) and child != "":
                        raise invalid_param(key, f"Conflicting values for parameter {key}.")
                    child = {}
                    node[part] = child
                node = child
    for name, child in root.items():  # the top level stays an object: `0=a` is a param "0"
        root[name] = _listify(child)
    return root


def _flat_form(text: str) -> dict[str, Any] | None:
    """decode_pairs(form_pairs(text)) for the forms a meter event sends: every key `name` or
    `name[sub]` (sub not a list index), each once. Built in one pass; None for anything else
    (lists, deeper nesting, repeated or conflicting keys), which the general decoder handles."""
    root: dict[str, Any] = {}
    for field in text.split("&"):
        if not field:
            continue
        key, _, value = field.partition("=")
        if "%" in key or "+" in key:
            key = _unquote(key)
        if "%" in value or "+" in value:
            value = _unquote(value)
        bracket = key.find("[")
        if bracket < 0:
            if not key or key in root:  # an empty name appends (`a[]`-style): general path
                return None
            root[key] = value
            continue
        sub = key[bracket + 1 : -1]
        if (bracket == 0 or key[-1] != "]" or not sub or "[" in sub or "]" in sub
                or sub.isdigit()):
            return None
        node = root.get(key[:bracket])
        if node is None:
            root[key[:bracket]] = {sub: value}
        elif type(node) is dict and sub not in node:
            node[sub] = value
        else:
            return None
    return root


def decode_form(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            "The request body is not valid UTF-8.", code="parameter_invalid_encoding"
        ) from exc
    if text.count("&") >= MAX_FIELDS:
        raise _too_many_fields()
    try:
        flat = _flat_form(text)
        if flat is not None:
            return flat
        pairs = form_pairs(text)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            "A percent-encoded parameter is not valid UTF-8.", code="parameter_invalid_encoding"
        ) from exc
    return decode_pairs(pairs)


def check_field_count(body: bytes) -> None:
    """decode_form's bound on the number of fields, for a form decoded elsewhere (the
    single-event fast path's, which the native reader decodes)."""
    if body.count(b"&") >= MAX_FIELDS:
        raise _too_many_fields()


def _too_many_fields() -> InvalidRequestError:
    return InvalidRequestError(
        f"Could not parse the form body: Max number of fields exceeded ({MAX_FIELDS}).",
        code="parameter_invalid",
    )


def _unquote(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if "%5B" in text or "%5D" in text:  # the stripe SDKs percent-encode every bracket
        text = text.replace("%5B", "[").replace("%5D", "]")
        if "%" not in text:
            return text
    # errors="strict": a percent-escape that is not UTF-8 (`name=%FF`) is an error, not U+FFFD.
    return unquote(text, errors="strict")


def form_pairs(text: str) -> list[tuple[str, str]]:
    """`application/x-www-form-urlencoded` pairs, in order, blank values kept: what
    urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict") returns, without its
    per-field overhead (single events spend a good part of their time here)."""
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        key, _, value = field.partition("=")
        pairs.append((_unquote(key), _unquote(value)))
    return pairs


def decode_query(query: bytes) -> dict[str, Any]:
    return decode_form(query)


class Params:
    """Typed, validated access to one request's parameters."""

    __slots__ = ("data", "prefix")

    def __init__(self, data: dict[str, Any], prefix: str = ""):
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}[{key}]" if self.prefix else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def str(self, key: str, *, required: bool = False, max_length: int = limits.MAX_STRING,
            choices: Iterable[str] | None = None) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing_param(self.name(key))
            return None
        if isinstance(value, bool | int | float):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise invalid_param(self.name(key), f"Invalid string: {self.name(key)} must be text.")
        if required and value == "":
            raise invalid_param(self.name(key), f"{self.name(key)} must not be empty.")
        if len(value) > max_length:
            raise invalid_param(
                self.name(key), f"{self.name(key)} must be at most {max_length} characters."
            )
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                raise invalid_param(
                    self.name(key),
                    f"Invalid {self.name(key)}: must be one of {', '.join(allowed)}.",
                )
        return value

    def req_str(self, key: str, **kwargs: Any) -> str:
        value = self.str(key, required=True, **kwargs)
        assert value is not None
        return value

    def int(self, key: str, *, required: bool = False, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return None
        if isinstance(value, bool):
            raise invalid_param(self.name(key), f"Invalid integer: {self.name(key)}.")
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)  # JSON's 1735689600.0 is an integer to JSON Schema too
        if isinstance(value, str):
            text = value.strip()
            if not re.fullmatch(r"-?\d{1,19}", text):
                raise invalid_param(self.name(key), f"Invalid integer: {value[:100]}.")
            value = int(text)
        if not isinstance(value, int):
            raise invalid_param(self.name(key), f"Invalid integer: {self.name(key)}.")
        if minimum is not None and value < minimum:
            raise invalid_param(self.name(key), f"{self.name(key)} must be at least {minimum}.")
        if maximum is not None and value > maximum:
            raise invalid_param(self.name(key), f"{self.name(key)} must be at most {maximum}.")
        return value

    def bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid_param(self.name(key), f"Invalid boolean: {self.name(key)}.")

    def dict(self, key: str, *, required: bool = False) -> Params | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing_param(self.name(key))
            return None
        if value == "":
            return Params({}, self.name(key))
        if not isinstance(value, dict):
            raise invalid_param(self.name(key), f"Invalid object: {self.name(key)}.")
        return Params(value, self.name(key))

    def str_list(self, key: str, *, max_items: int = limits.MAX_ARRAY_ITEMS) -> list[str]:
        value = self.data.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            value = [value]
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_param(self.name(key), f"Invalid array: {self.name(key)}.")
        if len(value) > max_items:
            raise invalid_param(self.name(key),
                                f"{self.name(key)} can have at most {max_items} items.")
        return value

    def dict_list(self, key: str, *, max_items: int = limits.MAX_ARRAY_ITEMS) -> list[Params]:
        """An array of objects, as a JSON list or as form keys `key[0][field]=...`."""
        value = self.data.get(key)
        if value is None or value == "":
            return []
        if isinstance(value, dict) and all(_INDEX.fullmatch(k) for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if not isinstance(value, list):
            raise invalid_param(self.name(key), f"Invalid array: {self.name(key)}.")
        if len(value) > max_items:
            raise invalid_param(self.name(key),
                                f"{self.name(key)} can have at most {max_items} items.")
        out = []
        for i, entry in enumerate(value):
            name = f"{self.name(key)}[{i}]"
            if not isinstance(entry, dict):
                raise invalid_param(name, f"Invalid object: {name}.")
            out.append(Params(entry, name))
        return out

    def metadata(self, key: str = "metadata") -> dict[str, str] | None:
        """Stripe metadata (billing.metadata's limits); an empty value deletes the key on
        update, an empty `metadata` all of them."""
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        return check_metadata(value, self.name(key))

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        known = set(allowed) | {"expand"}
        for key in self.data:
            if key not in known:
                raise InvalidRequestError(
                    f"Received unknown parameter: {self.name(key)}",
                    code="parameter_unknown",
                    param=self.name(key),
                )
