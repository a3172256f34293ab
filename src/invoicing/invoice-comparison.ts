import { BillingValidationError } from './billing-validation.error';

/**
 * Compares the invoices issued when a period was closed with those recomputed from the event log.
 * The comparison is structural over the JSON form, so it also works on invoices read back from
 * `InvoiceIssued` events written by an older build.
 */

export interface InvoiceLike {
  readonly invoiceId: string;
}

export interface InvoiceDifference {
  readonly invoiceId: string;
  /** Where the two differ, e.g. `sections[0].lines[1].amountMinor`; "" for a whole missing invoice. */
  readonly path: string;
  /** The issued value at `path`; absent (undefined) when the issued side has nothing there. */
  readonly issued: unknown;
  /** The recomputed value at `path`; absent (undefined) when the recomputed side has nothing there. */
  readonly recomputed: unknown;
}

export interface ReplayComparison {
  readonly matches: boolean;
  readonly differences: readonly InvoiceDifference[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)
    ? path === ''
      ? key
      : `${path}.${key}`
    : `${path}[${JSON.stringify(key)}]`;
}

function diffValues(
  invoiceId: string,
  path: string,
  issued: unknown,
  recomputed: unknown,
  out: InvoiceDifference[],
): void {
  if (Array.isArray(issued) && Array.isArray(recomputed)) {
    const length = Math.max(issued.length, recomputed.length);
    for (let index = 0; index < length; index++) {
      diffValues(invoiceId, `${path}[${index}]`, issued[index], recomputed[index], out);
    }
    return;
  }
  if (isPlainObject(issued) && isPlainObject(recomputed)) {
    const keys = [...new Set([...Object.keys(issued), ...Object.keys(recomputed)])].sort(byCodeUnits);
    for (const key of keys) diffValues(invoiceId, childPath(path, key), issued[key], recomputed[key], out);
    return;
  }
  // Leaves (and mismatched shapes) are compared by value; bigint is compared as its digits so an
  // in-memory bigint equals the integer string it is stored as.
  const normalise = (value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);
  if (!Object.is(normalise(issued), normalise(recomputed))) {
    out.push({ invoiceId, path, issued, recomputed });
  }
}

function indexById<T extends InvoiceLike>(invoices: readonly T[], side: string): Map<string, T> {
  const index = new Map<string, T>();
  for (const invoice of invoices) {
    if (typeof invoice?.invoiceId !== 'string') {
      throw new BillingValidationError(`${side} invoice without an invoiceId`);
    }
    if (index.has(invoice.invoiceId)) {
      throw new BillingValidationError(`${side} invoice ${invoice.invoiceId} appears twice`);
    }
    index.set(invoice.invoiceId, invoice);
  }
  return index;
}

/**
 * Pairs invoices by `invoiceId` (ids name the billed party, so a pair is the same bill) and lists
 * every difference, ordered by invoice id and then by path in key order, so the same inputs
 * always give the same report.
 */
export function compareInvoices(
  issued: readonly InvoiceLike[],
  recomputed: readonly InvoiceLike[],
): ReplayComparison {
  const issuedById = indexById(issued, 'issued');
  const recomputedById = indexById(recomputed, 'recomputed');
  const ids = [...new Set([...issuedById.keys(), ...recomputedById.keys()])].sort(byCodeUnits);
  const differences: InvoiceDifference[] = [];
  for (const id of ids) {
    const left = issuedById.get(id);
    const right = recomputedById.get(id);
    if (left === undefined || right === undefined) {
      differences.push({ invoiceId: id, path: '', issued: left, recomputed: right });
    } else {
      diffValues(id, '', left, right, differences);
    }
  }
  return { matches: differences.length === 0, differences };
}
