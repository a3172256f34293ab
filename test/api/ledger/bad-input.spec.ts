import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  createSubAccount,
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  ledgerRevision,
  ledgerRevisions,
  openParent,
  readLedger,
  uniqueId,
  type IssuedKey,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type ApiResponse, type TestService } from '../../support/service';

/*
 * Bad input, route by route (SPEC §4, §7, rule 9): every malformed, mistyped, out-of-range or
 * out-of-window request is answered with application/problem+json and the right code, and records
 * nothing (the ledger stream keeps its revision). Each route lists a valid body and the kinds of its
 * fields; the cases are generated from that.
 */

const NOW = new Date('2026-10-15T12:00:00.000Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const BODY_LIMIT = 1024 * 1024;

type Json = Record<string, unknown>;
type FieldPath = readonly (string | number)[];

interface World {
  readonly service: TestService;
  readonly parent: OpenedParent;
  /** bill-to-parent, quota 10,000, 0 used. */
  readonly sub: string;
  readonly subKey: IssuedKey;
  readonly closedSub: string;
}

interface FieldSpec {
  readonly path: FieldPath;
  readonly kind:
    | 'credits'
    | 'total'
    | 'string'
    | 'id'
    | 'meter'
    | 'price'
    | 'instant'
    | 'billing-model'
    | 'currency'
    | 'object';
  readonly required?: boolean;
  /** Smallest value allowed, for credit fields: 0 or 1. */
  readonly min?: number;
}

interface BodyRoute {
  readonly name: string;
  readonly method: 'POST' | 'PUT' | 'PATCH';
  readonly path: (world: World) => string;
  readonly token: (world: World) => string;
  /** A body this route accepts; fresh ids on each call. */
  readonly valid: (world: World) => Json;
  readonly fields: readonly FieldSpec[];
  /**
   * A sub-account of its own for each case: a route that ignored a bad body would act on it (close
   * it, issue it a key), and one such defect must not turn every later case into another failure.
   */
  readonly freshSubAccount?: boolean;
  /** The parent whose ledger must not move (defaults to the world's parent). */
  readonly parentOf?: (body: unknown, world: World) => string;
}

const parentPath = (world: World) => `/v1/parents/${world.parent.id}`;
const subPath = (world: World) => `${parentPath(world)}/sub-accounts/${world.sub}`;
const operator = (world: World) => world.service.operatorToken;
const parentKey = (world: World) => world.parent.key;

const BODY_ROUTES: readonly BodyRoute[] = [
  {
    name: 'POST /v1/parents',
    method: 'POST',
    path: () => '/v1/parents',
    token: operator,
    valid: () => ({ id: uniqueId('p'), name: 'Acme', currency: 'EUR', creditPrice: '0.001' }),
    fields: [
      { path: ['id'], kind: 'id' },
      { path: ['name'], kind: 'string', required: true },
      { path: ['currency'], kind: 'currency', required: true },
      { path: ['creditPrice'], kind: 'price', required: true },
    ],
    parentOf: (body) => String((body as Json | undefined)?.id ?? 'none'),
  },
  {
    name: 'POST /v1/parents/{p}/credits',
    method: 'POST',
    path: (world) => `${parentPath(world)}/credits`,
    token: operator,
    valid: () => ({ credits: 100, reference: 'PO-1' }),
    fields: [
      { path: ['credits'], kind: 'credits', required: true, min: 1 },
      { path: ['reference'], kind: 'string' },
    ],
  },
  {
    name: 'PATCH /v1/parents/{p}',
    method: 'PATCH',
    path: parentPath,
    token: operator,
    valid: () => ({ name: uniqueId('renamed'), creditPrice: '0.002' }),
    fields: [
      { path: ['name'], kind: 'string' },
      { path: ['creditPrice'], kind: 'price' },
    ],
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts',
    method: 'POST',
    path: (world) => `${parentPath(world)}/sub-accounts`,
    // The operator: only it may give creditPrice.
    token: operator,
    valid: () => ({
      id: uniqueId('s'),
      name: 'Client',
      region: 'eu',
      billingModel: 'bill-to-sub-account',
      quota: 10,
      creditPrice: '0.002',
    }),
    fields: [
      { path: ['id'], kind: 'id', required: true },
      { path: ['name'], kind: 'string', required: true },
      { path: ['region'], kind: 'string' },
      { path: ['billingModel'], kind: 'billing-model', required: true },
      { path: ['quota'], kind: 'credits', min: 0 },
      { path: ['creditPrice'], kind: 'price' },
    ],
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts/batch',
    method: 'POST',
    path: (world) => `${parentPath(world)}/sub-accounts/batch`,
    token: operator,
    valid: () => ({
      subAccounts: [
        {
          id: uniqueId('s'),
          name: 'Client',
          region: 'eu',
          billingModel: 'bill-to-sub-account',
          quota: 10,
          creditPrice: '0.002',
        },
      ],
    }),
    fields: [
      { path: ['subAccounts'], kind: 'object', required: true },
      { path: ['subAccounts', 0, 'id'], kind: 'id', required: true },
      { path: ['subAccounts', 0, 'name'], kind: 'string', required: true },
      { path: ['subAccounts', 0, 'region'], kind: 'string' },
      { path: ['subAccounts', 0, 'billingModel'], kind: 'billing-model', required: true },
      { path: ['subAccounts', 0, 'quota'], kind: 'credits', min: 0 },
      { path: ['subAccounts', 0, 'creditPrice'], kind: 'price' },
    ],
  },
  {
    name: 'PATCH /v1/parents/{p}/sub-accounts/{s}',
    method: 'PATCH',
    path: subPath,
    token: operator,
    valid: () => ({ name: uniqueId('renamed'), billingModel: 'bill-to-sub-account', creditPrice: '0.003' }),
    fields: [
      { path: ['name'], kind: 'string' },
      { path: ['billingModel'], kind: 'billing-model' },
      { path: ['creditPrice'], kind: 'price' },
    ],
  },
  {
    name: 'PUT /v1/parents/{p}/sub-accounts/{s}/quota',
    method: 'PUT',
    path: (world) => `${subPath(world)}/quota`,
    token: parentKey,
    valid: () => ({ quota: 10_001 }),
    fields: [{ path: ['quota'], kind: 'total', required: true }],
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts/{s}/allocations',
    method: 'POST',
    path: (world) => `${subPath(world)}/allocations`,
    token: parentKey,
    valid: () => ({ credits: 1 }),
    fields: [{ path: ['credits'], kind: 'credits', required: true, min: 1 }],
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts/{s}/returns',
    method: 'POST',
    path: (world) => `${subPath(world)}/returns`,
    token: parentKey,
    valid: () => ({ credits: 1 }),
    fields: [{ path: ['credits'], kind: 'credits', min: 1 }],
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts/{s}/usage',
    method: 'POST',
    path: (world) => `${subPath(world)}/usage`,
    token: parentKey,
    valid: () => ({
      idempotencyKey: uniqueId('key'),
      credits: 1,
      meter: 'image.optimize',
      occurredAt: serviceNow().toISOString(),
      attributes: { format: 'webp' },
    }),
    fields: [
      { path: ['idempotencyKey'], kind: 'string', required: true },
      { path: ['credits'], kind: 'credits', required: true, min: 0 },
      { path: ['meter'], kind: 'meter' },
      { path: ['occurredAt'], kind: 'instant' },
      { path: ['attributes'], kind: 'object' },
    ],
  },
  {
    name: 'POST /v1/parents/{p}/usage/batch',
    method: 'POST',
    path: (world) => `${parentPath(world)}/usage/batch`,
    token: parentKey,
    valid: (world) => ({
      records: [{ subAccountId: world.sub, idempotencyKey: uniqueId('key'), credits: 1, meter: 'm' }],
    }),
    fields: [{ path: ['records'], kind: 'object', required: true }],
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts/{s}/close',
    method: 'POST',
    path: (world) => `${subPath(world)}/close`,
    token: parentKey,
    valid: () => ({}),
    fields: [],
    freshSubAccount: true,
  },
  {
    name: 'POST /v1/parents/{p}/sub-accounts/{s}/api-keys',
    method: 'POST',
    path: (world) => `${subPath(world)}/api-keys`,
    token: parentKey,
    valid: () => ({}),
    fields: [],
    freshSubAccount: true,
  },
];

/** A body to send: JSON to serialise, or raw text with its content type. */
type Payload = { json: unknown } | { raw: string; contentType?: string };

interface BadCase {
  readonly name: string;
  readonly payload: (valid: Json) => Payload;
  readonly status: number;
  readonly code: string;
}

const WRONG_CREDITS: readonly [string, unknown][] = [
  ['a string of digits', '5'],
  ['negative', -1],
  ['fractional', 1.5],
  ['above 10^12 (1e13)', 1e13],
  ['10^12 + 1', 1_000_000_000_001],
  ['null', null],
  ['a boolean', true],
  ['an array', [1]],
  ['an object', { value: 1 }],
  ['"NaN"', 'NaN'],
  ['"Infinity"', 'Infinity'],
];

const BAD_IDS: readonly [string, unknown][] = [
  ['a number', 42],
  ['empty', ''],
  ['with a space', 'has space'],
  ['with a slash', 'a/b'],
  ['starting with a dash', '-lead'],
  ['non-ASCII', 'café'],
  ['65 characters', 'x'.repeat(65)],
];

const BAD_PRICES: readonly [string, unknown][] = [
  ['a number', 0.001],
  ['not a number', 'abc'],
  ['negative', '-0.1'],
  ['with an exponent', '1e-3'],
  ['13 fraction digits', '0.0000000000001'],
  ['a leading zero', '01.5'],
  ['empty', ''],
];

const BAD_INSTANTS: readonly [string, unknown][] = [
  ['a word', 'yesterday'],
  ['a date without time', '2026-10-15'],
  ['without an offset', '2026-10-15T12:00:00'],
  ['month 13', '2026-13-01T00:00:00Z'],
  ['February 30th', '2026-02-30T00:00:00Z'],
  ['epoch milliseconds', NOW.getTime()],
  ['empty', ''],
];

const BAD_STRINGS: readonly [string, unknown][] = [
  ['a number', 5],
  ['a boolean', false],
  ['an object', { text: 'x' }],
  ['empty', ''],
  ['201 characters', 'x'.repeat(201)],
  // SPEC §7: text a person will see.
  ['with a control character', 'a\u0007b'],
  ['with a bidi override', 'a\u202Eb'],
];

function badValuesFor(field: FieldSpec): readonly [string, unknown][] {
  switch (field.kind) {
    case 'credits':
      return field.min === 1 ? [...WRONG_CREDITS, ['zero', 0]] : WRONG_CREDITS;
    case 'total':
      // A quota is a credit figure of a request like any other: at most 10^12 (rule 4), and so is
      // the difference it moves (test/api/ledger/business-rules.spec.ts).
      return [...WRONG_CREDITS, ['2^53', 2 ** 53]];
    case 'id':
      return BAD_IDS;
    case 'meter':
      return [
        ['a number', 7],
        ['empty', ''],
        ['with a space', 'image optimize'],
        ['65 characters', 'm'.repeat(65)],
      ];
    case 'price':
      return BAD_PRICES;
    case 'instant':
      return BAD_INSTANTS;
    case 'billing-model':
      return [
        ['unknown', 'bill-to-nobody'],
        ['a number', 1],
        ['empty', ''],
      ];
    case 'currency':
      return [
        ['lower case', 'eur'],
        ['four letters', 'EURO'],
        ['a number', 978],
      ];
    case 'object':
      return [
        ['a string', 'x'],
        ['a number', 1],
        ['null', null],
      ];
    case 'string':
      return BAD_STRINGS;
  }
}

function withField(body: Json, at: FieldPath, value: unknown): Json {
  const copy = structuredClone(body);
  let node: any = copy;
  for (const key of at.slice(0, -1)) node = node[key];
  node[at[at.length - 1]] = value;
  return copy;
}

function withoutField(body: Json, at: FieldPath): Json {
  const copy = structuredClone(body);
  let node: any = copy;
  for (const key of at.slice(0, -1)) node = node[key];
  delete node[at[at.length - 1]];
  return copy;
}

const validationFailed = (name: string, payload: (valid: Json) => Payload): BadCase => ({
  name,
  payload,
  status: 400,
  code: 'validation_failed',
});

function casesFor(route: BodyRoute): BadCase[] {
  const cases: BadCase[] = [
    {
      name: 'malformed JSON',
      payload: () => ({ raw: '{"credits": 1,' }),
      status: 400,
      code: 'malformed_json',
    },
    { name: 'a bare NaN', payload: () => ({ raw: '{"credits": NaN}' }), status: 400, code: 'malformed_json' },
    {
      name: 'a text/plain body',
      payload: (valid) => ({ raw: JSON.stringify(valid), contentType: 'text/plain' }),
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: 'a body over the limit',
      payload: (valid) => ({ json: { ...valid, padding: 'x'.repeat(BODY_LIMIT + 1) } }),
      status: 413,
      code: 'payload_too_large',
    },
    validationFailed('an unknown field', (valid) => ({ json: { ...valid, unexpected: true } })),
    validationFailed('a JSON array', () => ({ json: [] })),
    validationFailed('a JSON string', () => ({ json: 'text' })),
    validationFailed('JSON null', () => ({ raw: 'null' })),
    // Valid JSON that is refused outright, never merged into an object nor silently dropped.
    validationFailed('a __proto__ member', (valid) => ({
      raw: JSON.stringify(valid).replace(/^\{(?=(\})?)/, (_brace, empty) =>
        empty ? '{"__proto__":{"admin":true}' : '{"__proto__":{"admin":true},',
      ),
    })),
  ];
  // An empty body is no body: a route with required fields names them (a body-less route accepts it,
  // test/api/ledger/business-rules.spec.ts).
  if (route.fields.some((field) => field.required)) {
    cases.push(validationFailed('an empty JSON body', () => ({ raw: '' })));
  }
  for (const field of route.fields) {
    const name = field.path.join('.');
    if (field.required)
      cases.push(validationFailed(`${name} missing`, (valid) => ({ json: withoutField(valid, field.path) })));
    for (const [label, value] of badValuesFor(field)) {
      cases.push(
        validationFailed(`${name} ${label}`, (valid) => ({ json: withField(valid, field.path, value) })),
      );
    }
    if (field.kind === 'credits') {
      // 1e400 is valid JSON text that parses to Infinity.
      cases.push(
        validationFailed(`${name} 1e400`, (valid) => ({
          raw: JSON.stringify(withField(valid, field.path, 987654321)).replace('987654321', '1e400'),
        })),
      );
    }
  }
  return cases;
}

const BODY_CASES = BODY_ROUTES.flatMap((route) =>
  casesFor(route).map(
    (badCase) =>
      [`${route.name}: ${badCase.name} → ${badCase.status} ${badCase.code}`, route, badCase] as const,
  ),
);

async function send(world: World, route: BodyRoute, payload: Payload): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  let body: string;
  if ('raw' in payload) {
    body = payload.raw;
    headers['content-type'] = payload.contentType ?? 'application/json';
  } else {
    body = JSON.stringify(payload.json);
    headers['content-type'] = 'application/json';
  }
  return world.service.api.request(route.method, route.path(world), {
    body,
    token: route.token(world),
    headers,
  });
}

/*
 * The service clock starts at NOW and runs on; this offset turns our clock into it, give or take the
 * moment the service read it (seconds, against windows of minutes).
 */
let offsetOfServiceClock = 0;
const serviceNow = () => new Date(Date.now() + offsetOfServiceClock);

describe('ledger routes: bad input is refused with problem+json and records nothing', () => {
  let world: World;

  beforeAll(async () => {
    offsetOfServiceClock = NOW.getTime() - Date.now();
    const service = await startTestService({ now: NOW });
    const parent = await openParent(service, { credits: 1_000_000 });
    const sub = await createSubAccount(service, parent, { quota: 10_000 });
    const subKey = await issueSubAccountKey(service, parent, sub);
    const closedSub = await createSubAccount(service, parent, { quota: 10 });
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${closedSub}/close`,
        undefined,
        parent.key,
      ),
      200,
      201,
      204,
    );
    world = { service, parent, sub, subKey, closedSub };
  });

  afterAll(async () => {
    await world?.service.close();
  });

  /** Runs `call` and checks it moved neither the world's ledger nor `otherParent`'s. */
  async function recordsNothing(
    call: () => Promise<ApiResponse>,
    otherParent?: string,
  ): Promise<ApiResponse> {
    const parents = [world.parent.id, ...(otherParent ? [otherParent] : [])];
    const before = await Promise.all(parents.map((id) => ledgerRevision(world.service, id)));
    const response = await call();
    const after = await Promise.all(parents.map((id) => ledgerRevision(world.service, id)));
    expect(after).toEqual(before);
    return response;
  }

  it.each(BODY_ROUTES.filter((route) => route.fields.length > 0))(
    '$name accepts its valid body (so the refusals below are about the bad part only)',
    async (route) => {
      const response = await send(world, route, { json: route.valid(world) });
      expect(response.status).toBeLessThan(300);
    },
  );

  it.each(BODY_CASES)('%s', async (_name, route, badCase) => {
    const caseWorld = route.freshSubAccount
      ? { ...world, sub: await createSubAccount(world.service, world.parent, { quota: 10 }) }
      : world;
    const payload = badCase.payload(route.valid(caseWorld));
    const otherParent = route.parentOf?.('json' in payload ? payload.json : undefined, caseWorld);
    const parents = [world.parent.id, ...(otherParent ? [otherParent] : [])];
    const before = await ledgerRevisions(world.service, parents);
    const response = await send(caseWorld, route, payload);
    const after = await ledgerRevisions(world.service, parents);
    expectProblem(response, badCase.status, badCase.code);
    expect(after).toEqual(before);
  });

  describe('business refusals of well-formed bodies', () => {
    const usageOf = (body: Json) => () =>
      world.service.api.post(`${subPath(world)}/usage`, body, world.parent.key);

    it.each([
      [
        'more credits than the pool holds → 409 insufficient_pool',
        'allocations',
        { credits: 999_999_999 },
        409,
        'insufficient_pool',
      ],
      [
        'a quota above pool + quota → 409 insufficient_pool',
        'quota',
        { quota: 999_999_999 },
        409,
        'insufficient_pool',
      ],
      [
        'returning more than is unused → 409 quota_below_used',
        'returns',
        { credits: 10_001 },
        409,
        'quota_below_used',
      ],
    ])('%s', async (_name, route, body, status, code) => {
      const response = await recordsNothing(() =>
        world.service.api.request(route === 'quota' ? 'PUT' : 'POST', `${subPath(world)}/${route}`, {
          body,
          token: world.parent.key,
        }),
      );
      expectProblem(response, status, code);
    });

    it('usage above what remains → 409 insufficient_quota', async () => {
      expectProblem(
        await recordsNothing(usageOf({ idempotencyKey: uniqueId('k'), credits: 10_001 })),
        409,
        'insufficient_quota',
      );
    });

    it.each([
      ['more than 5 minutes ahead', 6 * MINUTE],
      ['a day ahead', DAY],
    ])('usage with occurredAt %s of the service clock → 400 validation_failed', async (_name, offset) => {
      const occurredAt = new Date(serviceNow().getTime() + offset).toISOString();
      expectProblem(
        await recordsNothing(usageOf({ idempotencyKey: uniqueId('k'), credits: 1, occurredAt })),
        400,
        'validation_failed',
      );
    });

    it('usage 4 minutes ahead of the service clock is accepted (the window is 5 minutes)', async () => {
      const occurredAt = new Date(serviceNow().getTime() + 4 * MINUTE).toISOString();
      expectStatus(await usageOf({ idempotencyKey: uniqueId('k'), credits: 1, occurredAt })(), 201);
    });

    it('usage on a closed sub-account → 409 sub_account_closed', async () => {
      const response = await recordsNothing(() =>
        world.service.api.post(
          `${parentPath(world)}/sub-accounts/${world.closedSub}/usage`,
          { idempotencyKey: uniqueId('k'), credits: 0 },
          world.parent.key,
        ),
      );
      expectProblem(response, 409, 'sub_account_closed');
    });

    it.each([
      ['allocations', { credits: 1 }],
      ['returns', { credits: 1 }],
    ])('%s on a closed sub-account → 409 sub_account_closed', async (route, body) => {
      const response = await recordsNothing(() =>
        world.service.api.post(
          `${parentPath(world)}/sub-accounts/${world.closedSub}/${route}`,
          body,
          world.parent.key,
        ),
      );
      expectProblem(response, 409, 'sub_account_closed');
    });

    it('the same idempotency key with another payload → 409 idempotency_conflict', async () => {
      const key = uniqueId('k');
      const first = expectStatus(await usageOf({ idempotencyKey: key, credits: 2 })(), 201);
      const repeat = expectStatus(await recordsNothing(usageOf({ idempotencyKey: key, credits: 2 })), 200);
      expect(repeat.body.usageId).toBe(first.body.usageId);
      expectProblem(
        await recordsNothing(usageOf({ idempotencyKey: key, credits: 3 })),
        409,
        'idempotency_conflict',
      );
    });

    it('creating a sub-account under an id already used → 409, nothing recorded', async () => {
      const response = await recordsNothing(() =>
        world.service.api.post(
          `${parentPath(world)}/sub-accounts`,
          { id: world.sub, name: 'Again', billingModel: 'bill-to-parent' },
          world.parent.key,
        ),
      );
      expectProblem(response, 409);
    });

    it('PATCH with nothing to change → 400 validation_failed', async () => {
      expectProblem(
        await recordsNothing(() => world.service.api.patch(subPath(world), {}, world.parent.key)),
        400,
        'validation_failed',
      );
    });

    it('revoking a key id that does not exist → 404 not_found', async () => {
      const response = await recordsNothing(() =>
        world.service.api.delete(`${subPath(world)}/api-keys/${uniqueId('key')}`, world.parent.key),
      );
      expectProblem(response, 404, 'not_found');
    });
  });

  describe('bad query parameters and path ids', () => {
    it.each([
      ['sub-accounts limit 0', '/sub-accounts?limit=0'],
      ['sub-accounts limit 501', '/sub-accounts?limit=501'],
      ['sub-accounts limit abc', '/sub-accounts?limit=abc'],
      ['sub-accounts cursor garbage', '/sub-accounts?cursor=%25%25%25'],
      ['history limit -1', '/sub-accounts/{s}/history?limit=-1'],
      ['history from a word', '/sub-accounts/{s}/history?from=yesterday'],
      ['history cursor garbage', '/sub-accounts/{s}/history?cursor=%25%25%25'],
      ['balance asOf a word', '/sub-accounts/{s}/balance?asOf=yesterday'],
      ['balance asOf month 13', '/sub-accounts/{s}/balance?asOf=2026-13-01T00:00:00Z'],
    ])('GET with %s → 400 validation_failed', async (_name, suffix) => {
      const url = `${parentPath(world)}${suffix.replace('{s}', world.sub)}`;
      const response = await recordsNothing(() => world.service.api.get(url, world.parent.key));
      expectProblem(response, 400, 'validation_failed');
    });

    // docs/auth.md: an id no resource can have is answered like a missing one.
    it.each([
      ['a parent id with a space', () => `/v1/parents/bad%20id`, operator],
      ['a parent id of 65 characters', () => `/v1/parents/${'x'.repeat(65)}`, operator],
      ['a sub-account id with a space', (w: World) => `${parentPath(w)}/sub-accounts/bad%20id`, parentKey],
      [
        'a sub-account id of 65 characters',
        (w: World) => `${parentPath(w)}/sub-accounts/${'x'.repeat(65)}`,
        parentKey,
      ],
    ])('GET of %s → 404 not_found', async (_name, url, token) => {
      const response = await recordsNothing(() => world.service.api.get(url(world), token(world)));
      expectProblem(response, 404, 'not_found');
    });

    it('usage to a sub-account id with a space → 404 not_found, nothing recorded', async () => {
      const response = await recordsNothing(() =>
        world.service.api.post(
          `${parentPath(world)}/sub-accounts/bad%20id/usage`,
          { idempotencyKey: 'k', credits: 1 },
          world.parent.key,
        ),
      );
      expectProblem(response, 404, 'not_found');
    });
  });

  describe('batch usage', () => {
    const batchUrl = () => `${parentPath(world)}/usage/batch`;
    const record = (overrides: Json = {}) => ({
      subAccountId: world.sub,
      idempotencyKey: uniqueId('k'),
      credits: 1,
      ...overrides,
    });

    it('1,001 records → 400 validation_failed, none recorded', async () => {
      const records = Array.from({ length: 1_001 }, () => record());
      const response = await recordsNothing(() =>
        world.service.api.post(batchUrl(), { records }, world.parent.key),
      );
      expectProblem(response, 400, 'validation_failed');
    });

    it('1,000 records are accepted', async () => {
      const records = Array.from({ length: 1_000 }, () => record({ credits: 0 }));
      const response = expectStatus(
        await world.service.api.post(batchUrl(), { records }, world.parent.key),
        200,
      );
      const results = resultsOf(response.body);
      expect(results).toHaveLength(1_000);
      expect(results.filter((result) => codeOf(result) !== undefined)).toEqual([]);
    });

    it('mixed good and bad records: each fails on its own, results in order, only the good ones recorded', async () => {
      const repeatedKey = uniqueId('k');
      const records = [
        record({ idempotencyKey: repeatedKey, credits: 3 }),
        record({ credits: 1_000_000 }),
        record({ subAccountId: uniqueId('s') }),
        record({ subAccountId: world.closedSub, credits: 0 }),
        record({ credits: 2 }),
        record({ idempotencyKey: repeatedKey, credits: 3 }),
        record({ idempotencyKey: repeatedKey, credits: 4 }),
        record({ occurredAt: new Date(serviceNow().getTime() + DAY).toISOString() }),
      ];
      const expectedCodes = [
        undefined,
        'insufficient_quota',
        'not_found',
        'sub_account_closed',
        undefined,
        undefined,
        'idempotency_conflict',
        'validation_failed',
      ];
      const before = await readLedger(world.service, world.parent.id);
      const response = expectStatus(
        await world.service.api.post(batchUrl(), { records }, world.parent.key),
        200,
      );
      const after = await readLedger(world.service, world.parent.id);

      const results = resultsOf(response.body);
      expect(results.map(codeOf)).toEqual(expectedCodes);
      // The repeat inside the batch answers with the first record's usage id.
      expect(usageIdOf(results[5])).toBe(usageIdOf(results[0]));
      const recorded = after.slice(before.length);
      expect(recorded.map((event) => [event.type, event.data.idempotencyKey, event.data.credits])).toEqual([
        ['UsageRecorded', records[0].idempotencyKey, 3],
        ['UsageRecorded', records[4].idempotencyKey, 2],
      ]);
    });

    it('a record of the wrong shape fails the whole batch (400) or only itself — never records it', async () => {
      const good = record();
      const records = [good, record({ credits: '5' }), record({ unexpected: 1 })];
      const before = await readLedger(world.service, world.parent.id);
      const response = await world.service.api.post(batchUrl(), { records }, world.parent.key);
      const after = await readLedger(world.service, world.parent.id);
      const recorded = after.slice(before.length);
      if (response.status === 400) {
        expectProblem(response, 400, 'validation_failed');
        expect(recorded).toEqual([]);
      } else {
        expectStatus(response, 200);
        expect(resultsOf(response.body).map(codeOf)).toEqual([
          undefined,
          'validation_failed',
          'validation_failed',
        ]);
        expect(recorded.map((event) => event.data.idempotencyKey)).toEqual([good.idempotencyKey]);
      }
    });
  });
});

describe('rule 9: usage older than 35 days is refused, by the service clock', () => {
  const OPENED_AT = new Date('2026-09-01T12:00:00.000Z');
  const LATER = new Date(OPENED_AT.getTime() + 40 * DAY);
  let dataDir: string;
  let service: TestService | undefined;
  let parent: OpenedParent;
  let sub: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-rule9-'));
    const first = await startTestService({ dataDir, now: OPENED_AT });
    parent = await openParent(first, { credits: 1_000 });
    sub = await createSubAccount(first, parent, { quota: 100 });
    await first.close();
    // Forty days later over the same data: the sub-account is old enough for a 36-day-old usage.
    service = await startTestService({ dataDir, now: LATER });
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const usageAt = (occurredAt: Date) =>
    service!.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${sub}/usage`,
      { idempotencyKey: uniqueId('k'), credits: 1, occurredAt: occurredAt.toISOString() },
      parent.key,
    );

  it('36 days before now → 400 validation_failed, nothing recorded', async () => {
    const before = await ledgerRevision(service!, parent.id);
    expectProblem(await usageAt(new Date(LATER.getTime() - 36 * DAY)), 400, 'validation_failed');
    expect(await ledgerRevision(service!, parent.id)).toBe(before);
  });

  it('34 days before now is accepted', async () => {
    expectStatus(await usageAt(new Date(LATER.getTime() - 34 * DAY)), 201);
  });

  it('before the sub-account existed (yet within 35 days) → 400 validation_failed', async () => {
    const response = await service!.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${await createSubAccount(service!, parent, { quota: 10 })}/usage`,
      {
        idempotencyKey: uniqueId('k'),
        credits: 1,
        occurredAt: new Date(LATER.getTime() - DAY).toISOString(),
      },
      parent.key,
    );
    expectProblem(response, 400, 'validation_failed');
  });
});

/** The per-record results of a batch answer: `results`, or the body itself when it is the array. */
function resultsOf(body: any): any[] {
  return Array.isArray(body) ? body : (body.results ?? body.records);
}

/** A failed record's code, undefined for a recorded (or repeated) one. */
function codeOf(result: any): string | undefined {
  return result.code ?? result.error?.code ?? result.problem?.code;
}

function usageIdOf(result: any): string | undefined {
  return result.usageId ?? result.result?.usageId;
}
