/**
 * Request parameters the way Stripe's SDKs encode them: `application/x-www-form-urlencoded`
 * with bracket nesting (`metadata[plan]=pro`, `items[0][price]=price_1`,
 * `tiers[1][up_to]=inf`), the same for query strings. Pure: no I/O.
 *
 * - `undefined` is left out; `null` is sent as an empty value, which clears a field (Stripe's
 *   convention: `description: null` on an update removes the description).
 * - Arrays are indexed (`a[0]=x`); empty arrays and empty objects are left out, as the stripe
 *   SDKs do.
 * - Booleans are `true`/`false`, a `Date` is Unix seconds, numbers are written in plain
 *   notation. Pass decimal amounts and quantities as strings (`"0.0003"`): a number such as
 *   1e-7 has no exact plain form in JavaScript and is refused.
 */

/** Anything `encodeForm` takes as a value. */
export type FormValue =
  | string
  | number
  | boolean
  | bigint
  | Date
  | null
  | undefined
  | readonly FormValue[]
  | { readonly [key: string]: FormValue };

/** `params` as a form body (or query string, without the `?`). */
export function encodeForm(params: object): string {
  const out: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    appendPairs(out, encodeComponent(key), value as FormValue);
  }
  return out.join("&");
}

function appendPairs(out: string[], key: string, value: FormValue): void {
  if (value === undefined) return;
  if (value === null) {
    out.push(`${key}=`);
  } else if (Array.isArray(value)) {
    value.forEach((item: FormValue, i: number) => appendPairs(out, `${key}[${i}]`, item));
  } else if (value instanceof Date) {
    out.push(`${key}=${Math.floor(value.getTime() / 1000)}`);
  } else if (typeof value === "object") {
    for (const [sub, item] of Object.entries(value)) {
      appendPairs(out, `${key}[${encodeComponent(sub)}]`, item);
    }
  } else {
    out.push(`${key}=${encodeComponent(scalarText(key, value))}`);
  }
}

function scalarText(key: string, value: string | number | boolean | bigint): string {
  if (typeof value === "number") {
    const text = String(value);
    if (!Number.isFinite(value) || /e/i.test(text)) {
      throw new TypeError(
        `Cannot send ${text} as ${decodeURIComponent(key)}: pass the number as a decimal string.`,
      );
    }
    return text;
  }
  return String(value);
}

/** Percent-encoding that keeps brackets readable, as the stripe SDKs do (the server takes both). */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/%5B/g, "[").replace(/%5D/g, "]");
}
