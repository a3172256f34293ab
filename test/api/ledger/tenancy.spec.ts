import {
  buyCredits,
  createSubAccount,
  deepKeys,
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  ledgerRevisions,
  openParent,
  poolOf,
  readLedger,
  uniqueId,
  type IssuedKey,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/*
 * Tenant isolation and roles, route by route (SPEC §4, §7): every ledger route is called by every
 * kind of caller, and the answer is derived from the route's row of SPEC §4 ("who") and the
 * caller's relation to the parent and sub-account in the path. The operator may read everything a
 * parent may read, so every read a parent may use lists the operator too. A refused call must record nothing:
 * both parents' streams keep their revision.
 *
 * 403 vs 404: a caller that may see the resource but not do this to it gets 403 `forbidden`; a caller
 * that may not know the resource exists (a foreign parent, a sibling sub-account) gets 404
 * `not_found`, so existence never leaks.
 */

type Role = 'operator' | 'parent' | 'sub-account';
type Scope = 'global' | 'parent' | 'sub-account';

/** What a route acts on: parent A, one of its sub-accounts, and the ids a creating call would use. */
interface Target {
  readonly subId: string;
  /** The key of `subId`: what the "own sub-account" caller presents. */
  readonly subKey: IssuedKey;
  readonly newParentId: string;
  readonly newSubId: string;
}

interface RouteCase {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path as SPEC §4 writes it, for test names. */
  readonly template: string;
  readonly scope: Scope;
  readonly allowed: readonly Role[];
  readonly path: (world: World, target: Target) => string;
  readonly body?: (world: World, target: Target) => unknown;
  readonly success: readonly number[];
  /** Whether a successful call records events (reads must not). */
  readonly records: boolean;
  /** A sub-account of its own for this call, when a successful call would use up or end the shared one. */
  readonly freshSubAccount?: boolean;
}

interface World {
  readonly service: TestService;
  readonly a: OpenedParent;
  readonly b: OpenedParent;
  /** bill-to-parent sub-account of A with a live key. */
  readonly s1: string;
  readonly s1Key: IssuedKey;
  /** Its sibling under A. */
  readonly s2Key: IssuedKey;
  /** A sub-account of the other parent, B. */
  readonly bSubKey: IssuedKey;
  readonly revokedKey: IssuedKey;
  readonly closedSubAccountKey: IssuedKey;
}

const p = (world: World) => `/v1/parents/${world.a.id}`;
const sub = (world: World, target: Target) => `${p(world)}/sub-accounts/${target.subId}`;

const ROUTES: readonly RouteCase[] = [
  {
    method: 'POST',
    template: '/v1/parents',
    scope: 'global',
    allowed: ['operator'],
    path: () => '/v1/parents',
    body: (_world, target) => ({
      id: target.newParentId,
      name: 'Opened in a tenancy test',
      currency: 'EUR',
      creditPrice: '0.001',
    }),
    success: [201],
    records: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/credits',
    scope: 'parent',
    allowed: ['operator'],
    path: (world) => `${p(world)}/credits`,
    body: () => ({ credits: 10 }),
    success: [200, 201],
    records: true,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => p(world),
    success: [200],
    records: false,
  },
  {
    method: 'PATCH',
    template: '/v1/parents/{p}',
    scope: 'parent',
    allowed: ['operator'],
    path: (world) => p(world),
    body: () => ({ name: uniqueId('renamed') }),
    success: [200],
    records: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/api-keys',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/api-keys`,
    body: () => ({}),
    success: [201],
    records: true,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/api-keys',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/api-keys`,
    success: [200],
    records: false,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/sub-accounts`,
    body: (_world, target) => ({ id: target.newSubId, name: 'New', billingModel: 'bill-to-parent' }),
    success: [201],
    records: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts/batch',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/sub-accounts/batch`,
    body: (_world, target) => ({
      subAccounts: [{ id: target.newSubId, name: 'New', billingModel: 'bill-to-parent' }],
    }),
    success: [200],
    records: true,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/sub-accounts',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/sub-accounts`,
    success: [200],
    records: false,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/sub-accounts/{s}',
    scope: 'sub-account',
    allowed: ['operator', 'parent', 'sub-account'],
    path: sub,
    success: [200],
    records: false,
  },
  {
    method: 'PATCH',
    template: '/v1/parents/{p}/sub-accounts/{s}',
    scope: 'sub-account',
    allowed: ['operator', 'parent'],
    path: sub,
    body: () => ({ name: uniqueId('renamed') }),
    success: [200],
    records: true,
  },
  {
    method: 'PUT',
    template: '/v1/parents/{p}/sub-accounts/{s}/quota',
    scope: 'sub-account',
    allowed: ['parent'],
    path: (world, target) => `${sub(world, target)}/quota`,
    body: () => ({ quota: 50 }),
    success: [200],
    records: true,
    freshSubAccount: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts/{s}/allocations',
    scope: 'sub-account',
    allowed: ['parent'],
    path: (world, target) => `${sub(world, target)}/allocations`,
    body: () => ({ credits: 1 }),
    success: [200, 201],
    records: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts/{s}/returns',
    scope: 'sub-account',
    allowed: ['parent'],
    path: (world, target) => `${sub(world, target)}/returns`,
    body: () => ({ credits: 1 }),
    success: [200, 201],
    records: true,
    freshSubAccount: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts/{s}/usage',
    scope: 'sub-account',
    allowed: ['parent', 'sub-account'],
    path: (world, target) => `${sub(world, target)}/usage`,
    body: () => ({ idempotencyKey: uniqueId('key'), credits: 1 }),
    success: [201],
    records: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/usage/batch',
    scope: 'parent',
    allowed: ['parent'],
    path: (world) => `${p(world)}/usage/batch`,
    body: (_world, target) => ({
      records: [{ subAccountId: target.subId, idempotencyKey: uniqueId('key'), credits: 1 }],
    }),
    success: [200],
    records: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts/{s}/close',
    scope: 'sub-account',
    allowed: ['parent'],
    path: (world, target) => `${sub(world, target)}/close`,
    success: [200, 201, 204],
    records: true,
    freshSubAccount: true,
  },
  {
    method: 'POST',
    template: '/v1/parents/{p}/sub-accounts/{s}/api-keys',
    scope: 'sub-account',
    allowed: ['parent'],
    path: (world, target) => `${sub(world, target)}/api-keys`,
    body: () => ({}),
    success: [201],
    records: true,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/sub-accounts/{s}/api-keys',
    scope: 'sub-account',
    allowed: ['operator', 'parent'],
    path: (world, target) => `${sub(world, target)}/api-keys`,
    success: [200],
    records: false,
  },
  {
    method: 'DELETE',
    template: '/v1/parents/{p}/sub-accounts/{s}/api-keys/{k}',
    scope: 'sub-account',
    allowed: ['parent'],
    path: (world, target) => `${sub(world, target)}/api-keys/${target.subKey.id}`,
    success: [200, 204],
    records: true,
    freshSubAccount: true,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/sub-accounts/{s}/history',
    scope: 'sub-account',
    allowed: ['operator', 'parent', 'sub-account'],
    path: (world, target) => `${sub(world, target)}/history`,
    success: [200],
    records: false,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/sub-accounts/{s}/balance',
    scope: 'sub-account',
    allowed: ['operator', 'parent', 'sub-account'],
    path: (world, target) => `${sub(world, target)}/balance`,
    success: [200],
    records: false,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/usage',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/usage?groupBy=subAccount`,
    success: [200],
    records: false,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/billing-periods',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/billing-periods`,
    success: [200],
    records: false,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/invoices',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/invoices`,
    success: [200],
    records: false,
  },
  {
    method: 'GET',
    template: '/v1/parents/{p}/events',
    scope: 'parent',
    allowed: ['operator', 'parent'],
    path: (world) => `${p(world)}/events`,
    success: [200],
    records: false,
  },
];

type Expected = { kind: 'success' } | { kind: 'problem'; status: number; code: string };

interface Caller {
  readonly name: string;
  /** The Authorization header to send, undefined for none. */
  readonly authorization: (world: World, target: Target) => string | undefined;
  readonly expected: (route: RouteCase) => Expected;
}

const SUCCESS: Expected = { kind: 'success' };
const UNAUTHORIZED: Expected = { kind: 'problem', status: 401, code: 'unauthorized' };
const FORBIDDEN: Expected = { kind: 'problem', status: 403, code: 'forbidden' };
const NOT_FOUND: Expected = { kind: 'problem', status: 404, code: 'not_found' };

const bearer = (secret: string) => `Bearer ${secret}`;
/** The same length and alphabet as a real secret, one character different: a key nobody holds. */
const alter = (secret: string) => secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');

const CALLERS: readonly Caller[] = [
  { name: 'no Authorization header', authorization: () => undefined, expected: () => UNAUTHORIZED },
  {
    name: 'a Basic header',
    authorization: (world) => `Basic ${Buffer.from(`x:${world.a.key}`).toString('base64')}`,
    expected: () => UNAUTHORIZED,
  },
  { name: 'an empty Bearer', authorization: () => 'Bearer ', expected: () => UNAUTHORIZED },
  {
    name: 'an unknown key',
    authorization: (world) => bearer(alter(world.a.key)),
    expected: () => UNAUTHORIZED,
  },
  {
    name: 'a revoked sub-account key',
    authorization: (world) => bearer(world.revokedKey.secret),
    expected: () => UNAUTHORIZED,
  },
  {
    name: "a closed sub-account's key",
    authorization: (world) => bearer(world.closedSubAccountKey.secret),
    expected: () => UNAUTHORIZED,
  },
  {
    name: 'the operator',
    authorization: (world) => bearer(world.service.operatorToken),
    expected: (route) => (route.allowed.includes('operator') ? SUCCESS : FORBIDDEN),
  },
  {
    name: "the parent's key",
    authorization: (world) => bearer(world.a.key),
    expected: (route) => (route.allowed.includes('parent') ? SUCCESS : FORBIDDEN),
  },
  {
    name: "a foreign parent's key",
    authorization: (world) => bearer(world.b.key),
    expected: (route) => (route.scope === 'global' ? FORBIDDEN : NOT_FOUND),
  },
  {
    name: "a foreign parent's sub-account key",
    authorization: (world) => bearer(world.bSubKey.secret),
    expected: (route) => (route.scope === 'global' ? FORBIDDEN : NOT_FOUND),
  },
  {
    name: "the sub-account's own key",
    authorization: (_world, target) => bearer(target.subKey.secret),
    expected: (route) =>
      route.scope === 'sub-account' && route.allowed.includes('sub-account') ? SUCCESS : FORBIDDEN,
  },
  {
    name: "a sibling sub-account's key",
    authorization: (world) => bearer(world.s2Key.secret),
    expected: (route) => (route.scope === 'sub-account' ? NOT_FOUND : FORBIDDEN),
  },
];

const CASES = ROUTES.flatMap((route) =>
  CALLERS.map((caller) => {
    const expected = caller.expected(route);
    const outcome = expected.kind === 'success' ? 'succeeds' : `${expected.status} ${expected.code}`;
    return [`${route.method} ${route.template} by ${caller.name} → ${outcome}`, route, caller] as const;
  }),
);

describe('ledger routes: tenant isolation and roles', () => {
  let world: World;

  beforeAll(async () => {
    const service = await startTestService();
    const a = await openParent(service, { credits: 1_000_000 });
    const b = await openParent(service, { credits: 1_000 });
    const s1 = await createSubAccount(service, a, { quota: 10_000 });
    const s1Key = await issueSubAccountKey(service, a, s1);
    const s2 = await createSubAccount(service, a, { quota: 100 });
    const s2Key = await issueSubAccountKey(service, a, s2);
    const bSub = await createSubAccount(service, b, { quota: 100 });
    const bSubKey = await issueSubAccountKey(service, b, bSub);
    const revokedKey = await issueSubAccountKey(service, a, s1);
    expectStatus(
      await service.api.delete(`/v1/parents/${a.id}/sub-accounts/${s1}/api-keys/${revokedKey.id}`, a.key),
      200,
      204,
    );
    const closed = await createSubAccount(service, a, { quota: 100 });
    const closedSubAccountKey = await issueSubAccountKey(service, a, closed);
    expectStatus(
      await service.api.post(`/v1/parents/${a.id}/sub-accounts/${closed}/close`, undefined, a.key),
      200,
      201,
      204,
    );
    world = { service, a, b, s1, s1Key, s2Key, bSubKey, revokedKey, closedSubAccountKey };
  });

  afterAll(async () => {
    await world?.service.close();
  });

  async function targetFor(route: RouteCase): Promise<Target> {
    const ids = { newParentId: uniqueId('p'), newSubId: uniqueId('s') };
    if (!route.freshSubAccount) return { subId: world.s1, subKey: world.s1Key, ...ids };
    const subId = await createSubAccount(world.service, world.a, { quota: 100 });
    return { subId, subKey: await issueSubAccountKey(world.service, world.a, subId), ...ids };
  }

  it.each(CASES)('%s', async (_name, route, caller) => {
    const target = await targetFor(route);
    const authorization = caller.authorization(world, target);
    const body = route.body?.(world, target);
    const parents = [world.a.id, world.b.id, target.newParentId];
    const before = await ledgerRevisions(world.service, parents);

    const response = await world.service.api.request(route.method, route.path(world, target), {
      body,
      headers: authorization === undefined ? {} : { authorization },
    });

    const after = await ledgerRevisions(world.service, parents);
    const expected = caller.expected(route);
    if (expected.kind === 'problem') {
      expectProblem(response, expected.status, expected.code);
      // RFC 6750: a 401 names the scheme the client should use.
      if (expected.status === 401) expect(response.headers.get('www-authenticate') ?? '').toMatch(/^Bearer/);
      expect(after).toEqual(before);
      return;
    }
    expectStatus(response, ...route.success);
    if (route.records) expect(after).not.toEqual(before);
    else expect(after).toEqual(before);
  });

  describe('targets that do not exist', () => {
    it('GET /v1/parents/{p} of a parent nobody opened → 404 for the operator', async () => {
      const response = await world.service.api.get(
        `/v1/parents/${uniqueId('p')}`,
        world.service.operatorToken,
      );
      expectProblem(response, 404, 'not_found');
    });

    it.each([
      ['GET', ''],
      ['POST', '/usage'],
      ['POST', '/allocations'],
      ['GET', '/history'],
    ])('%s …/sub-accounts/{unknown}%s → 404 for the parent, nothing recorded', async (method, suffix) => {
      const before = await ledgerRevisions(world.service, [world.a.id]);
      const response = await world.service.api.request(
        method,
        `/v1/parents/${world.a.id}/sub-accounts/${uniqueId('s')}${suffix}`,
        {
          token: world.a.key,
          body: method === 'POST' ? { idempotencyKey: 'k', credits: 1 } : undefined,
        },
      );
      const after = await ledgerRevisions(world.service, [world.a.id]);
      // The usage body fits only usage; for allocations it is refused as 400 or the sub-account as 404.
      if (suffix === '/allocations' && response.status === 400)
        expectProblem(response, 400, 'validation_failed');
      else expectProblem(response, 404, 'not_found');
      expect(after).toEqual(before);
    });
  });

  describe('key life cycle', () => {
    it('a revoked key works up to its revocation and is refused from the next request on', async () => {
      const { service, a, s1 } = world;
      const key = await issueSubAccountKey(service, a, s1);
      expectStatus(await service.api.get(`/v1/parents/${a.id}/sub-accounts/${s1}`, key.secret), 200);
      expectStatus(
        await service.api.delete(`/v1/parents/${a.id}/sub-accounts/${s1}/api-keys/${key.id}`, a.key),
        200,
        204,
      );
      expectProblem(
        await service.api.get(`/v1/parents/${a.id}/sub-accounts/${s1}`, key.secret),
        401,
        'unauthorized',
      );
    });

    it('closing a sub-account stops its keys at once', async () => {
      const { service, a } = world;
      const subId = await createSubAccount(service, a, { quota: 10 });
      const key = await issueSubAccountKey(service, a, subId);
      expectStatus(await service.api.get(`/v1/parents/${a.id}/sub-accounts/${subId}`, key.secret), 200);
      expectStatus(
        await service.api.post(`/v1/parents/${a.id}/sub-accounts/${subId}/close`, undefined, a.key),
        200,
        201,
        204,
      );
      const usage = await service.api.post(
        `/v1/parents/${a.id}/sub-accounts/${subId}/usage`,
        { idempotencyKey: uniqueId('key'), credits: 1 },
        key.secret,
      );
      expectProblem(usage, 401, 'unauthorized');
    });

    it('secrets are shown once: the key list carries no secret and no hash', async () => {
      const { service, a, s1 } = world;
      const listed = expectStatus(
        await service.api.get(`/v1/parents/${a.id}/sub-accounts/${s1}/api-keys`, a.key),
        200,
      );
      const text = JSON.stringify(listed.body);
      expect(text).not.toContain(world.s1Key.secret);
      expect([...deepKeys(listed.body)].filter((key) => /secret|hash/i.test(key))).toEqual([]);
      expect(text).toContain(world.s1Key.id);
    });

    it('no secret is ever written to the stream, only its hash', async () => {
      const { service, a, b } = world;
      const events = [...(await readLedger(service, a.id)), ...(await readLedger(service, b.id))];
      const recorded = JSON.stringify(events.map(({ data, metadata }) => ({ data, metadata })));
      const secrets = [
        a.key,
        b.key,
        world.s1Key,
        world.s2Key,
        world.bSubKey,
        world.revokedKey,
        world.closedSubAccountKey,
      ].map((key) => (typeof key === 'string' ? key : key.secret));
      expect(secrets.filter((secret) => recorded.includes(secret))).toEqual([]);
      expect(recorded).toContain('secretHash');
    });

    it("the operator's token is not a parent key: it opens parents, a parent key does not", async () => {
      const response = await world.service.api.post(
        '/v1/parents',
        { id: uniqueId('p'), name: 'x', currency: 'EUR', creditPrice: '0.001' },
        world.a.key,
      );
      expectProblem(response, 403, 'forbidden');
    });
  });

  describe('a bill-to-parent sub-account never sees prices or invoices', () => {
    const PRICE_LIKE = /price|amount|invoice|currency|total/i;

    it.each([
      ['its sub-account', ''],
      ['its balance', '/balance'],
      ['its history', '/history'],
    ])('%s carries no price-like field', async (_name, suffix) => {
      const { service, a, s1, s1Key } = world;
      const response = expectStatus(
        await service.api.get(`/v1/parents/${a.id}/sub-accounts/${s1}${suffix}`, s1Key.secret),
        200,
      );
      expect([...deepKeys(response.body)].filter((key) => PRICE_LIKE.test(key))).toEqual([]);
    });

    it('its usage answer carries no price-like field', async () => {
      const { service, a, s1, s1Key } = world;
      const response = expectStatus(
        await service.api.post(
          `/v1/parents/${a.id}/sub-accounts/${s1}/usage`,
          { idempotencyKey: uniqueId('key'), credits: 1 },
          s1Key.secret,
        ),
        201,
      );
      expect([...deepKeys(response.body)].filter((key) => PRICE_LIKE.test(key))).toEqual([]);
    });

    it("its invoices are refused (never a 2xx), and so is the parent's invoice list", async () => {
      const { service, a, s1, s1Key } = world;
      const own = await service.api.get(`/v1/parents/${a.id}/sub-accounts/${s1}/invoices`, s1Key.secret);
      const parents = await service.api.get(`/v1/parents/${a.id}/invoices`, s1Key.secret);
      expect([own.status, parents.status].filter((status) => status < 400)).toEqual([]);
    });
  });

  describe('purchases reach the pool only through the operator', () => {
    it("the parent's pool does not change when its own key tries to buy credits", async () => {
      const { service, a } = world;
      const before = expectStatus(await service.api.get(`/v1/parents/${a.id}`, a.key), 200).body;
      expectProblem(
        await service.api.post(`/v1/parents/${a.id}/credits`, { credits: 5 }, a.key),
        403,
        'forbidden',
      );
      await buyCredits(service, a.id, 5);
      const after = expectStatus(await service.api.get(`/v1/parents/${a.id}`, a.key), 200).body;
      expect(poolOf(after).purchased).toBe(poolOf(before).purchased + 5);
    });
  });
});
