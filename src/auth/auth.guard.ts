import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppConfig } from '../config/app-config';
import { ID_PATTERN } from '../kernel/ids';
import { timingSafeEqual } from 'node:crypto';
import { hashSecret, MAX_SECRET_LENGTH, parseApiKeySecret } from './api-key-secret';
import { ApiKeyRegistry } from './api-key.registry';
import { ForbiddenError, TenantNotFoundError, UnauthorizedError } from './auth.errors';
import type { Principal, Role } from './principal';
import {
  KEY_CHECKED_IN_COMMAND_KEY,
  OWN_KEY_ROUTE_KEY,
  ROLES_KEY,
  type AuthenticatedRequest,
} from './roles.decorator';

const BEARER = /^Bearer ([!-~]+)$/;
const API_PREFIX = '/v1/';

/**
 * Authenticates every `/v1` route and applies tenancy (docs/auth.md). Order of answers: no or bad
 * credentials 401; a key of another parent, or a sub-account key on another sub-account, 404 (as if
 * it did not exist); a key of the right tenant on a route its role may not use 403. A `/v1` route
 * without `@Roles` is operator-only, so a route someone forgot to annotate fails closed. The operator
 * may use every read (GET) route a parent may use.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  /** Hashes compare in constant time whatever the token's length. */
  private readonly operatorTokenHash: Buffer;

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
    private readonly registry: ApiKeyRegistry,
  ) {
    this.operatorTokenHash = hashSecret(config.operatorToken);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const declared = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!declared && !request.url.startsWith(API_PREFIX)) return true;
    const roles = withOperatorReads(declared ?? ['operator'], request.method);

    const params = (request.params ?? {}) as Record<string, string | undefined>;
    // Ids are stream names and URL parts; one no id can have exists for no one.
    for (const id of [params.p, params.s]) {
      if (id !== undefined && !ID_PATTERN.test(id)) throw new TenantNotFoundError(`${id} not found.`);
    }

    const token = bearerToken(request.headers.authorization);
    const tokenHash = hashSecret(token);
    if (timingSafeEqual(tokenHash, this.operatorTokenHash)) {
      if (!roles.includes('operator')) throw new ForbiddenError('The operator token may not use this route.');
      request.principal = { role: 'operator' };
      return true;
    }

    const claims = parseApiKeySecret(token);
    const key = claims && (await this.registry.verify(claims, tokenHash));
    if (!key) throw new UnauthorizedError('The bearer token is not a valid key.');

    const principal: Principal =
      key.subAccountId === null
        ? { role: 'parent', parentId: key.parentId, keyId: key.keyId }
        : { role: 'sub-account', parentId: key.parentId, subAccountId: key.subAccountId, keyId: key.keyId };
    const ownKeyRoute = this.reflector.getAllAndOverride<boolean>(OWN_KEY_ROUTE_KEY, targets);
    const refusal = ownKeyRoute ? null : tenancyRefusal(principal, roles, params);
    const checkedLater = this.reflector.getAllAndOverride<boolean>(KEY_CHECKED_IN_COMMAND_KEY, targets);
    // A revoked key is told it is revoked before anything about the route, whatever the route.
    if ((refusal || !checkedLater) && !(await this.registry.isActive(key))) {
      throw new UnauthorizedError('The API key has been revoked.');
    }
    if (refusal) throw refusal;
    request.principal = principal;
    return true;
  }
}

/**
 * SPEC §4: the operator may read everything a parent may read (support and finance staff must not need
 * a customer's key). Held here for every read route, present and future, rather than by each route
 * remembering to list the operator.
 */
function withOperatorReads(roles: readonly Role[], method: string): readonly Role[] {
  const read = method === 'GET' || method === 'HEAD';
  return read && roles.includes('parent') && !roles.includes('operator') ? [...roles, 'operator'] : roles;
}

function bearerToken(header: string | undefined): string {
  const match = header && header.length <= MAX_SECRET_LENGTH + 7 ? BEARER.exec(header) : null;
  if (!match) throw new UnauthorizedError('Send Authorization: Bearer <token>.');
  return match[1];
}

function tenancyRefusal(
  principal: Exclude<Principal, { role: 'operator' }>,
  roles: readonly Role[],
  params: Record<string, string | undefined>,
): Error | null {
  const parentId = params.p;
  if (parentId === undefined) return new ForbiddenError('API keys may not use this route.');
  if (parentId !== principal.parentId) {
    return new TenantNotFoundError(`Parent account ${parentId} not found.`);
  }
  if (principal.role === 'sub-account' && params.s !== undefined && params.s !== principal.subAccountId) {
    return new TenantNotFoundError(`Sub-account ${params.s} not found.`);
  }
  if (!roles.includes(principal.role)) {
    return new ForbiddenError(`A ${principal.role} key may not use this route.`);
  }
  return null;
}
