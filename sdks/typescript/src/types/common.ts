/** Shapes shared by many objects. Amounts are integers in the currency's minor unit (cents
 * for usd); exact decimals (`unit_amount_decimal`, `quantity_decimal`, usage values) are
 * strings, never floats. Times are Unix seconds. */

/** Up to 50 string keys; on update, a key set to "" (or null) is removed. */
export type Metadata = Record<string, string>;

/** What metadata parameters take: `null` or `""` removes a key. */
export type MetadataParam = Record<string, string | number | null>;

/** Unix seconds. */
export type Timestamp = number;

/** An id, or the object itself when asked for with `expand`. */
export type Expandable<T> = string | T;

/** The answer to a DELETE. */
export interface DeletedObject<O extends string = string> {
  id: string;
  object: O;
  deleted: true;
}

/** `{"monetary": {"currency", "value"}, "type": "monetary"}`: an amount of credit. */
export interface MonetaryAmount {
  type: "monetary";
  monetary: { currency: string; value: number };
}

/** Options that lists of expandable objects take besides paging. */
export interface ExpandParams {
  expand?: string[];
}
