import { SetMetadata } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal, Role } from './principal';

export const ROLES_KEY = 'subledger:roles';
export const KEY_CHECKED_IN_COMMAND_KEY = 'subledger:key-checked-in-command';

/**
 * Who may call a route. Route parameters `p` (parent) and `s` (sub-account) scope keys: a key is only
 * accepted on its own parent, and a sub-account key only on its own sub-account. The operator may also
 * use every GET route that names `parent` (SPEC §4: it reads everything a parent may read); the guard
 * adds it, so a read route need not list it.
 */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/**
 * The route passes the request's key to the ledger inside its command or read (LedgerService does),
 * so the guard need not look up whether the key is still active: one trip through the parent's queue
 * instead of two. Routes that do not go through LedgerService must not use it.
 */
export const KeyCheckedInCommand = () => SetMetadata(KEY_CHECKED_IN_COMMAND_KEY, true);

export const OWN_KEY_ROUTE_KEY = 'subledger:own-key-route';

/**
 * A `/v1` route with no parent in its path that answers about the caller's own key (`GET /v1/me`):
 * every key may use it, and there is no tenant to check it against.
 */
export const OwnKeyRoute = () => SetMetadata(OWN_KEY_ROUTE_KEY, true);

export type AuthenticatedRequest = FastifyRequest & { principal?: Principal };
