import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { hashSecret } from '../auth/api-key-secret';
import { ApplicationError } from './problem';

const BEARER = /^Bearer (\S+)$/;
const LIMITED_PREFIX = '/v1/';

/**
 * Limits requests per key: the operator token, a parent key or a sub-account key each have their
 * own allowance across all routes; a request without credentials is counted by its IP.
 *
 * The tracker is a hash of the whole bearer secret rather than the key id the secret claims: every
 * key has exactly one secret, so this is per key, and a client that does not hold a key's secret
 * cannot spend that key's allowance by sending its id. It runs before authentication, so a flood
 * of bad tokens is refused here too without reaching the key registry.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    // /health, /metrics and /docs are for probes and people; only the API is limited.
    const url = context.switchToHttp().getRequest<{ url: string }>().url;
    return Promise.resolve(!url.startsWith(LIMITED_PREFIX));
  }

  protected override getTracker(request: Record<string, any>): Promise<string> {
    const header = (request.headers as Record<string, string | undefined>).authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (match) return Promise.resolve(`key:${hashSecret(match[1]).toString('base64url')}`);
    return Promise.resolve(`ip:${String(request.ip)}`);
  }

  /** One allowance per tracker for the whole API, not one per route. */
  protected override generateKey(_context: ExecutionContext, tracker: string): string {
    return tracker;
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    throw new ApplicationError(
      'rate_limited',
      `More than ${detail.limit} requests in ${detail.ttl / 1000} s for this key; retry after ${detail.timeToBlockExpire} s.`,
      { limit: detail.limit, retryAfterSeconds: detail.timeToBlockExpire },
    );
  }
}
