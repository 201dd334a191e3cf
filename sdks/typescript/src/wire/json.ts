/**
 * Decoding answers without losing a digit. The server writes most decimals as strings
 * (`unit_amount_decimal`, `quantity_decimal`), but usage values (`aggregated_value` of
 * summaries and usage rows) are exact JSON numbers such as 0.3 or 12345678901234.5678, which
 * `JSON.parse` would round to a float. They are turned into strings before parsing, so the
 * client returns `"0.3"` exactly as the server computed it. Pure: no I/O.
 */

// Every `"` inside a JSON string is escaped, so text within a string value never matches:
// only members named aggregated_value do.
const EXACT_DECIMALS = /"(aggregated_value)"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/** JSON.parse, with the exact-decimal fields kept as strings. */
export function parseAnswer(text: string): unknown {
  const exact = text.includes('"aggregated_value"')
    ? text.replace(EXACT_DECIMALS, '"$1":"$2"')
    : text;
  return JSON.parse(exact);
}
