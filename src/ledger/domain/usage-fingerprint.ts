import { createHash } from 'node:crypto';
import type { UsageAttributes } from './ledger.events';

/** The parts of a usage request that must match for a repeat to count as the same request. */
export type UsagePayload = {
  credits: number;
  meter: string;
  /** As sent, normalised to UTC; null when the caller let it default to "now". */
  occurredAt: string | null;
  attributes: UsageAttributes | null;
};

/**
 * A repeat is "the same payload" when it means the same thing, not when it has the same bytes:
 * an omitted meter equals "default", an offset instant equals its UTC form, attribute order
 * and an empty attribute object do not matter. An omitted occurredAt is hashed as omitted, not
 * as the "now" it defaulted to, or a retry a second later would look like a different request.
 * 128 bits of SHA-256 is ample: it is only compared between two requests with the same key.
 */
export function usageFingerprint(payload: UsagePayload): string {
  const given = payload.attributes ?? {};
  const names = Object.keys(given).sort();
  const attributes = names.length > 0 ? names.map((name) => [name, given[name]]) : null;
  const canonical = JSON.stringify([payload.credits, payload.meter, payload.occurredAt, attributes]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}
