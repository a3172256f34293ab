import { MAX_CREDITS_PER_OPERATION } from '../../invoicing';
import { DomainError } from './domain-error';

/** Rule 4: one operation moves at most 10^12 credits (one bound with the invoice builder's). */
export { MAX_CREDITS_PER_OPERATION };

/**
 * Credits are JSON numbers, exact while below 2^53. Every total the ledger keeps is bounded
 * by the parent's `purchased` (used ≤ quota, Σ quota = allocated ≤ purchased), and
 * `purchased` only grows through CreditsPurchased, which is refused past this bound; so no
 * total can ever lose precision. Reaching it takes 9,007 purchases of 10^12 credits.
 */
export const MAX_TOTAL_CREDITS = Number.MAX_SAFE_INTEGER;

export function requireCredits(
  field: string,
  value: unknown,
  { min, max = MAX_CREDITS_PER_OPERATION }: { min: number; max?: number },
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new DomainError('validation_failed', `${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}
