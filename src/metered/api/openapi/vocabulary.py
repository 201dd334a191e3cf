"""Schema vocabulary: constructors of JSON Schema fragments and request parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metered.api import limits
from metered.api.expand import EXPANDABLE
from metered.billing.price_specs import (
    MAX_AMOUNT,
)

Schema = dict[str, Any]

# --- the vocabulary of schemas --------------------------------------------------------------

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "integer", "description": "Unix time, in seconds."}
ISO_TIME: Schema = {"type": "string", "format": "date-time"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
DECIMAL_TEXT: Schema = {
    "type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "An exact decimal as a string, in plain notation (never an exponent).",
}
EXACT_NUMBER: Schema = {
    "type": "number",
    "description": "An exact decimal written as a JSON number in plain digits (never an"
                   " exponent, up to 12 decimal places): parse it as a decimal, not a binary"
                   " float, to keep it exact.",
}
METADATA_SCHEMA: Schema = {
    "type": "object", "maxProperties": limits.MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": limits.MAX_METADATA_KEY_LENGTH},
    "additionalProperties": {"type": "string", "maxLength": limits.MAX_METADATA_VALUE_LENGTH},
    "description": f"Up to {limits.MAX_METADATA_KEYS} keys of 1 to"
                   f" {limits.MAX_METADATA_KEY_LENGTH} characters, each a string of at most"
                   f" {limits.MAX_METADATA_VALUE_LENGTH}; on an update an empty value deletes"
                   " its key.",
}
METADATA: Schema = {"$ref": "#/components/schemas/metadata"}


def const(value: Any) -> Schema:
    return {"const": value}


def enum(*values: Any) -> Schema:
    return {"type": "string", "enum": list(values)}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def null(schema: Schema) -> Schema:
    """The schema, or null."""
    if "type" in schema and isinstance(schema["type"], str):
        out = {**schema, "type": [schema["type"], "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema, **limits: Any) -> Schema:
    return {"type": "array", "items": items, **limits}


def string(**limits: Any) -> Schema:
    return {"type": "string", **limits}


def integer(minimum: int | None = None, maximum: int | None = None) -> Schema:
    out: Schema = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (),
        description: str | None = None) -> Schema:
    """An answer's object, whose properties are all present unless named in `optional`. The
    server may add properties to it (as Stripe does); a request's object is closed()."""
    out: Schema = {"type": "object", "properties": properties,
                   "required": [k for k in properties if k not in optional],
                   "additionalProperties": True}
    if description:
        out["description"] = description
    return out


def deleted(object_name: str) -> Schema:
    return obj({"id": STR, "object": const(object_name), "deleted": const(True)})


def list_of(item: Schema, *, sub_list: bool = False) -> Schema:
    """Stripe's list envelope; `sub_list`: a list inside an object (total_count, url or null)."""
    properties = {"object": const("list"), "data": array(item), "has_more": BOOL,
                  "url": null(STR) if sub_list else STR}
    if sub_list:
        properties["total_count"] = INT
    return obj(properties)


MONEY: Schema = obj({"monetary": obj({"currency": STR, "value": INT}),
                     "type": const("monetary")})


# --- request parameters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Required:
    """A required parameter's schema (in a parameter table)."""

    schema: Schema


def ids(prefix: str) -> Schema:
    return string(maxLength=100, description=f"An id ({prefix}_...).")


PAGE = {"limit": integer(limits.MIN_PAGE_LIMIT, limits.MAX_PAGE_LIMIT), "starting_after": STR,
        "ending_before": STR}
TIME_RANGE = integer(946_684_800, 4_102_444_800)
AMOUNT_DECIMAL = {"anyOf": [string(pattern=r"^[0-9]{1,13}(\.[0-9]{1,12})?$"), integer(0)],
                  "description": "Minor units as a decimal in plain notation, at most 12"
                                 " decimal places (\"0.0025\"); an integer in JSON too."}
WHOLE_AMOUNT = integer(0, MAX_AMOUNT)
SUMMARY_TIME = {**integer(0, 253_402_300_799), "multipleOf": 60,
                "description": "Unix seconds, aligned with the value_grouping_window (a minute"
                               " without one); end_time after start_time."}
CURRENCY = string(pattern="^[A-Za-z]{3}$", description="A three-letter ISO code.")


def closed(properties: dict[str, Any], description: str | None = None, *,
           exactly_one: tuple[str, ...] = (), at_most_one: tuple[tuple[str, str], ...] = ()
           ) -> Schema:
    """A request object: unknown keys are refused (parameter_unknown). `exactly_one`: of these
    keys one is required, and only one; `at_most_one`: pairs that exclude each other."""
    required = [k for k, v in properties.items() if isinstance(v, Required)]
    out: Schema = {"type": "object",
                   "properties": {k: unwrap(v) for k, v in properties.items()},
                   "additionalProperties": False}
    if required:
        out["required"] = required
    if exactly_one:
        out["oneOf"] = [{"required": [key]} for key in exactly_one]
    if at_most_one:
        out["allOf"] = [{"not": {"required": list(pair)}} for pair in at_most_one]
    if description:
        out["description"] = description
    return out


def unwrap(value: Any) -> Schema:
    """A table's schema; a required string must not be empty either (Params.req_str)."""
    if not isinstance(value, Required):
        return dict(value)
    schema = value.schema
    if schema.get("type") == "string" and not {"minLength", "enum", "const"} & set(schema):
        return {**schema, "minLength": 1}
    return schema


def expand(object_type: str, *, is_list: bool = False) -> dict[str, Schema]:
    """`expand`, where the object has fields to expand (any other value is refused)."""
    fields = sorted(EXPANDABLE[object_type])
    if not fields:
        return {}
    return {"expand": array(enum(*[f"data.{f}" if is_list else f for f in fields]),
                            maxItems=len(fields))}


def ignored(schema: Schema, what: str = "metered collects no payments") -> Schema:
    return {**schema, "description": f"Accepted and ignored: {what}."}
