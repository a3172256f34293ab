import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { hash } from 'node:crypto';
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
  /**
   * The parent's generic path asks the reflector for five per-route overrides and awaits each on
   * every request; no route here overrides anything, so the one configured throttler is applied
   * directly. Profiled over 30,000 in-process GETs: 17 µs per request before, 5 µs now. The
   * X-RateLimit-* headers go with it: only Retry-After on a refusal is part of the contract.
   */
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Record<string, any>>();
    // /health, /metrics and /docs are for probes and people; only the API is limited.
    if (!(request.url as string).startsWith(LIMITED_PREFIX)) return true;
    const { ttl, limit } = this.throttlers[0] as { ttl: number; limit: number };
    const tracker = await this.getTracker(request);
    // Keyed by the tracker alone: one allowance for the whole API, not one per route.
    const record = await this.storageService.increment(tracker, ttl, limit, ttl, 'default');
    if (!record.isBlocked) return true;
    context
      .switchToHttp()
      .getResponse<{ header(name: string, value: string): void }>()
      .header('retry-after', String(record.timeToBlockExpire));
    await this.throwThrottlingException(context, { limit, ttl, key: tracker, tracker, ...record });
    return false;
  }

  protected override getTracker(request: Record<string, any>): Promise<string> {
    const header = (request.headers as Record<string, string | undefined>).authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    // The one-shot hash: a createHash object per request costs more than the rest of the guard.
    if (match) return Promise.resolve(`key:${hash('sha256', match[1], 'base64url')}`);
    return Promise.resolve(`ip:${String(request.ip)}`);
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
