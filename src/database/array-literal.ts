export type ArrayElement = string | number | boolean | null;

const QUOTE_OR_BACKSLASH = /["\\]/;

/**
 * A one-dimensional array as PostgreSQL's array literal (`{"a","b\"c",NULL,3}`), for a parameter cast
 * to an array type (`$1::text[]`). node-pg makes the same literal from a JavaScript array, but passes
 * every element through its own value preparation and two regular-expression replaces; a projection
 * batch sends a dozen such columns of a few thousand elements each, and that was ~9% of the rebuild's
 * folding thread (decision 85). Strings are always quoted (so `NULL`, `""`, commas and braces stay
 * text), with only `"` and `\` escaped, as the array input syntax asks.
 */
export function arrayLiteral(values: readonly ArrayElement[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) literal += ',';
    const value = values[i];
    if (value === null) literal += 'NULL';
    else if (typeof value === 'string')
      literal += `"${QUOTE_OR_BACKSLASH.test(value) ? value.replace(/["\\]/g, '\\$&') : value}"`;
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError(`not a finite number for an array literal: ${value}`);
      literal += String(value);
    } else literal += value ? 't' : 'f';
  }
  return `${literal}}`;
}
