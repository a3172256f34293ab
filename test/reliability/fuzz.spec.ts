import fc from 'fast-check';
import {
  createSubAccount,
  issueSubAccountKey,
  ledgerRevisions,
  openParent,
  type OpenedParent,
} from '../support/ledger-fixtures';
import { startTestService, type TestService } from '../support/service';

/*
 * Hostile input against every route of SPEC §4: random and malformed paths, path ids, query
 * strings, headers, content types and bodies, with every kind of credential. Whatever comes in, the
 * answer is never a 5xx, never shows a stack or a file of the server, is problem+json when it
 * refuses, and a refusal records nothing on either parent's ledger.
 *
 * The seed is fixed so a run is repeatable (a failure prints its seed and path to replay);
 * FUZZ_SEED and FUZZ_RUNS explore further.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

jest.setTimeout(120_000);

const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['POST', '/v1/parents'],
  ['POST', '/v1/parents/{p}/credits'],
  ['GET', '/v1/parents/{p}'],
  ['PATCH', '/v1/parents/{p}'],
  ['POST', '/v1/parents/{p}/sub-accounts'],
  ['GET', '/v1/parents/{p}/sub-accounts'],
  ['GET', '/v1/parents/{p}/sub-accounts/{s}'],
  ['PATCH', '/v1/parents/{p}/sub-accounts/{s}'],
  ['PUT', '/v1/parents/{p}/sub-accounts/{s}/quota'],
  ['POST', '/v1/parents/{p}/sub-accounts/{s}/allocations'],
  ['POST', '/v1/parents/{p}/sub-accounts/{s}/returns'],
  ['POST', '/v1/parents/{p}/sub-accounts/{s}/usage'],
  ['POST', '/v1/parents/{p}/usage/batch'],
  ['POST', '/v1/parents/{p}/sub-accounts/{s}/close'],
  ['POST', '/v1/parents/{p}/sub-accounts/{s}/api-keys'],
  ['GET', '/v1/parents/{p}/sub-accounts/{s}/api-keys'],
  ['DELETE', '/v1/parents/{p}/sub-accounts/{s}/api-keys/{k}'],
  ['GET', '/v1/parents/{p}/sub-accounts/{s}/history'],
  ['GET', '/v1/parents/{p}/sub-accounts/{s}/balance'],
  ['GET', '/v1/parents/{p}/usage'],
  ['GET', '/v1/parents/{p}/billing-periods'],
  ['POST', '/v1/parents/{p}/billing-periods/{period}/close'],
  ['GET', '/v1/parents/{p}/invoices'],
  ['GET', '/v1/parents/{p}/invoices/{invoice}'],
  ['GET', '/v1/parents/{p}/sub-accounts/{s}/invoices'],
  ['GET', '/v1/parents/{p}/billing-periods/{period}/replay'],
  ['GET', '/v1/parents/{p}/events'],
  ['GET', '/health'],
  ['GET', '/metrics'],
];

const QUERY_NAMES = ['cursor', 'limit', 'from', 'to', 'asOf', 'groupBy', 'period', 'after', 'x', ''];
const LEAKS: ReadonlyArray<RegExp> = [/\n\s+at /, /node_modules/, /\/work\//, /\.[jt]s:\d+/, /\bsrc\//];

/** Printable ASCII only: fetch itself refuses other bytes in a header. */
const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});

const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    ' ',
    '..',
    '../..',
    '%',
    '%zz',
    '%00',
    '\u0000',
    'null',
    '-1',
    '1e309',
    'a'.repeat(5000),
  ),
  fc.constantFrom('2026-13-01', '2026-02-30T00:00:00Z', 'NaN', 'Infinity', '9'.repeat(40), '0x10', '1.5'),
);

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  nastyString,
  fc.constantFrom(-1, 0, 1.5, 1e21, Number.MAX_SAFE_INTEGER + 2, -0, 2 ** 53, true, null, [], {}),
);

/** Bodies close to what a route expects, so the fuzz reaches past the parser into validation. */
const PLAUSIBLE: Readonly<Record<string, Record<string, unknown>>> = {
  parents: { name: 'n', currency: 'EUR', creditPrice: '0.001' },
  credits: { credits: 10 },
  'sub-accounts': { id: 'x1', name: 'n', billingModel: 'bill-to-parent' },
  quota: { quota: 5 },
  allocations: { credits: 1 },
  returns: { credits: 1 },
  usage: { idempotencyKey: 'k', credits: 1, meter: 'm' },
  batch: { records: [{ subAccountId: 's', idempotencyKey: 'k', credits: 1 }] },
  close: {},
  'api-keys': {},
};

interface Case {
  readonly route: readonly [string, string];
  readonly ids: Readonly<Record<string, { valid: boolean; raw: string }>>;
  readonly query: string;
  readonly credential: string;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  readonly extraHeader: readonly [string, string] | undefined;
  readonly body: { kind: string; value: unknown } | undefined;
}

describe('hostile input fuzz', () => {
  let service: TestService;
  let parent: OpenedParent;
  let foreign: OpenedParent;
  let subAccountId: string;
  let subKeySecret: string;
  let subKeyId: string;

  beforeAll(async () => {
    service = await startTestService({ now: '2026-11-15T12:00:00Z' });
    parent = await openParent(service, { credits: 1_000_000 });
    foreign = await openParent(service, { credits: 1_000 });
    subAccountId = await createSubAccount(service, parent, {
      quota: 100_000,
      billingModel: 'bill-to-sub-account',
    });
    const key = await issueSubAccountKey(service, parent, subAccountId);
    subKeySecret = key.secret;
    subKeyId = key.id;
  });

  afterAll(async () => service?.close());

  it('never answers 5xx, never leaks internals, refuses with problem+json and records nothing', async () => {
    const credentials = () => ({
      none: '',
      operator: service.operatorToken,
      parent: parent.key,
      sub: subKeySecret,
      foreign: foreign.key,
    });
    const valid = () => ({
      p: parent.id,
      s: subAccountId,
      k: subKeyId,
      period: '2026-10',
      invoice: 'inv-1',
    });

    // Mostly real ids, so the fuzz reaches the handlers rather than stopping at "not found".
    const pathId = fc.record({ valid: fc.integer({ min: 0, max: 4 }).map((n) => n > 0), raw: nastyString });
    const caseArb: fc.Arbitrary<Case> = fc.record({
      route: fc.constantFrom(...ROUTES),
      ids: fc.record({ p: pathId, s: pathId, k: pathId, period: pathId, invoice: pathId }),
      query: fc.oneof(
        fc.constant(''),
        fc
          .array(fc.tuple(fc.constantFrom(...QUERY_NAMES), nastyString), { maxLength: 4 })
          .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`),
        headerText.map((raw) => `?${raw.replace(/[#\s]/g, '')}`),
      ),
      credential: fc.oneof(
        { arbitrary: fc.constantFrom('operator', 'parent', 'sub'), weight: 6 },
        { arbitrary: fc.constantFrom('none', 'foreign'), weight: 1 },
        { arbitrary: headerText.map((raw) => `raw:${raw}`), weight: 1 },
      ),
      // Mostly JSON, so most cases get past the content-type check into the routes themselves.
      contentType: fc.oneof(
        { arbitrary: fc.constant('application/json'), weight: 6 },
        { arbitrary: fc.constant(undefined), weight: 1 },
        {
          arbitrary: fc.oneof(
            fc.constantFrom('text/plain', 'application/json; charset=utf-16', 'multipart/form-data'),
            headerText,
          ),
          weight: 1,
        },
      ),
      accept: fc.option(fc.constantFrom('application/json', '*/*', 'text/html', 'application/xml', ';;'), {
        nil: undefined,
      }),
      extraHeader: fc.option(
        fc.tuple(
          fc.constantFrom('x-request-id', 'x-forwarded-for', 'content-encoding', 'idempotency-key'),
          headerText,
        ),
        { nil: undefined },
      ),
      body: fc.option(
        fc.oneof(
          fc.jsonValue().map((value) => ({ kind: 'json', value })),
          fc.string().map((value) => ({ kind: 'raw', value })),
          fc
            .tuple(
              fc.constantFrom(...Object.keys(PLAUSIBLE)),
              fc.string({ maxLength: 12 }),
              nastyValue,
              fc.boolean(),
            )
            .map(([name, field, value, drop]) => {
              const base: Record<string, unknown> = { ...PLAUSIBLE[name] };
              const target = Object.keys(base)[0] && !field ? Object.keys(base)[0] : field;
              if (drop) delete base[target];
              else base[target] = value;
              return { kind: 'json', value: base };
            }),
          fc.integer({ min: 1, max: 200_000 }).map((depth) => ({
            kind: 'raw',
            value: depth % 2 ? '['.repeat(depth % 5000) : `{"records":[${'{},'.repeat(depth % 3000)}{}]}`,
          })),
        ),
        { nil: undefined },
      ),
    });

    let cases = 0;
    const statuses = new Map<number, number>();
    const result = await fc.check(
      fc.asyncProperty(caseArb, async (c) => {
        cases++;
        const ids = valid() as Record<string, string>;
        const path = c.route[1].replace(/\{(\w+)\}/g, (_, name: string) =>
          c.ids[name].valid ? ids[name] : encodeURIComponent(c.ids[name].raw),
        );
        const headers: Record<string, string> = {};
        const known = credentials() as Record<string, string>;
        if (c.credential.startsWith('raw:')) headers.authorization = c.credential.slice(4);
        else if (known[c.credential]) headers.authorization = `Bearer ${known[c.credential]}`;
        if (c.contentType !== undefined) headers['content-type'] = c.contentType;
        if (c.accept !== undefined) headers.accept = c.accept;
        if (c.extraHeader) headers[c.extraHeader[0]] = c.extraHeader[1];
        const method = c.route[0];
        const body =
          c.body === undefined || method === 'GET'
            ? undefined
            : c.body.kind === 'raw'
              ? String(c.body.value)
              : JSON.stringify(c.body.value);

        const before = await ledgerRevisions(service, [parent.id, foreign.id]);
        const response = await fetch(`${service.baseUrl}${path}${c.query}`, { method, headers, body });
        const text = await response.text();
        const after = await ledgerRevisions(service, [parent.id, foreign.id]);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);

        const what = `${method} ${path}${c.query} -> ${response.status} ${text.slice(0, 300)}`;
        if (response.status >= 500) throw new Error(`server error: ${what}`);
        for (const leak of LEAKS) if (leak.test(text)) throw new Error(`internal detail ${leak}: ${what}`);
        if (response.status >= 400) {
          const contentType = response.headers.get('content-type') ?? '';
          if (!contentType.startsWith('application/problem+json')) {
            throw new Error(`refusal without problem+json (${contentType}): ${what}`);
          }
          const problem = JSON.parse(text) as { status?: unknown; code?: unknown };
          if (problem.status !== response.status || typeof problem.code !== 'string') {
            throw new Error(`malformed problem: ${what}`);
          }
          if (before.some((revision, i) => revision !== after[i])) {
            throw new Error(`a refusal recorded events (${before} -> ${after}): ${what}`);
          }
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    if (result.failed) {
      // fast-check's own report prints the whole case, which can be megabytes of fuzz.
      throw new Error(
        `fuzz failed after ${result.numRuns} cases (seed ${result.seed}, path "${result.counterexamplePath}"): ` +
          String(result.errorInstance).slice(0, 1500),
      );
    }
    console.log(
      `fuzz: ${cases} cases (seed ${SEED}); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
    );
    expect(cases).toBe(RUNS);
  });

  it('answers what the router itself refuses (a URL that does not decode, an over-long id) with problem+json', async () => {
    const undecodable = await fetch(`${service.baseUrl}/v1/parents/%zz`, {
      headers: { authorization: `Bearer ${parent.key}` },
    });
    expect(undecodable.status).toBe(400);
    expect(undecodable.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await undecodable.json()).toMatchObject({ status: 400, code: 'bad_request' });

    const tooLong = await fetch(`${service.baseUrl}/v1/parents/${'a'.repeat(5000)}`, {
      headers: { authorization: `Bearer ${parent.key}` },
    });
    expect(tooLong.status).toBe(404);
    expect(tooLong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await tooLong.json()).toMatchObject({ status: 404, code: 'not_found' });
  });
});
