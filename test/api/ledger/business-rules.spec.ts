import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  buyCredits,
  createSubAccount,
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  ledgerRevision,
  openParent,
  readLedger,
  uniqueId,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type ApiResponse, type TestService } from '../../support/service';

/*
 * Business rules and security of issue #11, each through real HTTP to the started service: who may set
 * prices, parent key rotation, the operator's reads, bounds of a quota set, pending terms, text a
 * person will see, body-less routes, prototype keys, repeats and the clock. "Nothing recorded" means
 * the parent's ledger stream kept its revision.
 */

const NOW = new Date('2026-10-15T12:00:00.000Z');

describe('business rules and security (issue #11)', () => {
  let service: TestService;
  let parent: OpenedParent;

  /** Our wall clock when the service clock read NOW, give or take the start-up. */
  let startedAt = Date.now();

  beforeAll(async () => {
    startedAt = Date.now();
    service = await startTestService({ now: NOW });
    parent = await openParent(service, { credits: 1_000_000 });
  });

  afterAll(async () => {
    await service?.close();
  });

  const parentPath = () => `/v1/parents/${parent.id}`;
  const subPath = (subId: string) => `${parentPath()}/sub-accounts/${subId}`;
  const operator = () => service.operatorToken;

  /** Runs `call` and checks the parent's ledger did not move. */
  async function recordsNothing(call: () => Promise<ApiResponse>): Promise<ApiResponse> {
    const before = await ledgerRevision(service, parent.id);
    const response = await call();
    expect(await ledgerRevision(service, parent.id)).toBe(before);
    return response;
  }

  /** The ledger moved: the call recorded at least one event. */
  async function records(call: () => Promise<ApiResponse>): Promise<ApiResponse> {
    const before = await ledgerRevision(service, parent.id);
    const response = await call();
    expect(await ledgerRevision(service, parent.id)).toBeGreaterThan(before);
    return response;
  }

  /** A body that is empty but announced as JSON, as some HTTP clients send on every request. */
  const emptyJson = (method: string, url: string, token: string) =>
    service.api.request(method, url, { token, body: '', headers: { 'content-type': 'application/json' } });

  describe("prices are the operator's only", () => {
    it.each([
      ['a price', '0.0005'],
      ['a price of "0"', '0'],
    ])('a parent creating a sub-account with %s → 403 forbidden, nothing recorded', async (_n, price) => {
      const id = uniqueId('s');
      const response = await recordsNothing(() =>
        service.api.post(
          `${parentPath()}/sub-accounts`,
          { id, name: 'Priced', billingModel: 'bill-to-sub-account', quota: 10, creditPrice: price },
          parent.key,
        ),
      );
      expectProblem(response, 403, 'forbidden');
      expectProblem(await service.api.get(subPath(id), parent.key), 404, 'not_found');
    });

    it.each([
      ['"0"', { creditPrice: '0' }],
      ["null (back to the parent's price)", { creditPrice: null }],
      ['a price beside a new name', { creditPrice: '0.5', name: 'Renamed' }],
    ])(
      "a parent PATCHing its sub-account's creditPrice to %s → 403 forbidden, nothing recorded",
      async (_n, body) => {
        const subId = await createSubAccount(service, parent);
        const response = await recordsNothing(() => service.api.patch(subPath(subId), body, parent.key));
        expectProblem(response, 403, 'forbidden');
      },
    );

    it('the operator creates a sub-account with its own price and PATCHes it', async () => {
      const id = uniqueId('s');
      const created = expectStatus(
        await service.api.post(
          `${parentPath()}/sub-accounts`,
          { id, name: 'Priced', billingModel: 'bill-to-sub-account', quota: 10, creditPrice: '0.0005' },
          operator(),
        ),
        201,
      );
      expect(created.body.creditPrice).toBe('0.0005');
      expectStatus(await service.api.patch(subPath(id), { creditPrice: '0.0007' }, operator()), 200);
      const events = await readLedger(service, parent.id);
      const change = events.filter((event) => event.type === 'CreditPriceChanged').pop();
      expect(change?.data).toMatchObject({ scope: 'sub-account', subAccountId: id, creditPrice: '0.0007' });
      expect(change?.metadata.actor).toEqual({ type: 'operator', id: 'operator' });
    });

    it('a parent still renames its sub-account and changes its billing model', async () => {
      const subId = await createSubAccount(service, parent);
      const response = await service.api.patch(
        subPath(subId),
        { name: 'New name', billingModel: 'bill-to-sub-account' },
        parent.key,
      );
      expect(expectStatus(response, 200).body.name).toBe('New name');
    });
  });

  describe('parent keys: issue, list, revoke (rotation without downtime)', () => {
    const keysPath = (parentId = parent.id) => `/v1/parents/${parentId}/api-keys`;

    it('a parent rotates its own key: the new one works at once, the old one from the next request on', async () => {
      const own = await openParent(service, { credits: 10 });
      const issued = expectStatus(await service.api.post(keysPath(own.id), undefined, own.key), 201).body;
      expect(issued).toMatchObject({
        id: expect.any(String),
        secret: expect.any(String),
        subAccountId: null,
      });
      // Both work during the switch-over.
      expectStatus(await service.api.get(`/v1/parents/${own.id}`, issued.secret), 200);
      expectStatus(await service.api.get(`/v1/parents/${own.id}`, own.key), 200);

      const listed = expectStatus(await service.api.get(keysPath(own.id), issued.secret), 200).body;
      expect(listed.items.map((key: { id: string }) => key.id).sort()).toEqual([own.keyId, issued.id].sort());
      expect(JSON.stringify(listed)).not.toMatch(/secret|hash/i);
      expect(JSON.stringify(listed)).not.toContain(issued.secret);

      // The new key revokes the leaked one; the leaked one is refused from the next request on.
      expectStatus(await service.api.delete(`${keysPath(own.id)}/${own.keyId}`, issued.secret), 204);
      expectProblem(await service.api.get(`/v1/parents/${own.id}`, own.key), 401, 'unauthorized');
      expectProblem(await service.api.post(keysPath(own.id), undefined, own.key), 401, 'unauthorized');
      expectStatus(await service.api.get(`/v1/parents/${own.id}`, issued.secret), 200);

      const after = expectStatus(await service.api.get(keysPath(own.id), issued.secret), 200).body.items;
      expect(after.find((key: { id: string }) => key.id === own.keyId)).toMatchObject({
        status: 'revoked',
        revokedAt: expect.any(String),
      });

      // Repeating the revocation changes nothing.
      const before = await ledgerRevision(service, own.id);
      expectStatus(await service.api.delete(`${keysPath(own.id)}/${own.keyId}`, issued.secret), 204);
      expect(await ledgerRevision(service, own.id)).toBe(before);

      const events = (await readLedger(service, own.id)).filter((event) => event.type.startsWith('ApiKey'));
      expect(events.slice(-2).map((event) => [event.type, event.data.keyId, event.metadata.actor])).toEqual([
        ['ApiKeyIssued', issued.id, { type: 'parent', id: own.id }],
        ['ApiKeyRevoked', own.keyId, { type: 'parent', id: own.id }],
      ]);
    });

    it("the parent's last active key cannot be revoked: 409 last_parent_key, nothing recorded, it still works", async () => {
      const own = await openParent(service);
      const before = await ledgerRevision(service, own.id);
      for (const token of [own.key, operator()]) {
        expectProblem(
          await service.api.delete(`${keysPath(own.id)}/${own.keyId}`, token),
          409,
          'last_parent_key',
        );
      }
      expect(await ledgerRevision(service, own.id)).toBe(before);
      expectStatus(await service.api.get(`/v1/parents/${own.id}`, own.key), 200);
    });

    it('the operator issues, lists and revokes a parent key', async () => {
      const own = await openParent(service);
      const issued = expectStatus(await service.api.post(keysPath(own.id), {}, operator()), 201).body;
      expect((await service.api.get(keysPath(own.id), operator())).body.items).toHaveLength(2);
      expectStatus(await service.api.delete(`${keysPath(own.id)}/${own.keyId}`, operator()), 204);
      expectProblem(await service.api.get(`/v1/parents/${own.id}`, own.key), 401, 'unauthorized');
      expectStatus(await service.api.get(`/v1/parents/${own.id}`, issued.secret), 200);
    });

    it("another parent's key id, a sub-account key id and another parent's key are all 404 to the parent", async () => {
      const own = await openParent(service);
      const subId = await createSubAccount(service, own);
      const subKey = await issueSubAccountKey(service, own, subId);
      const before = await ledgerRevision(service, own.id);
      for (const keyId of [parent.keyId, subKey.id, 'ffffffffffffffff']) {
        expectProblem(await service.api.delete(`${keysPath(own.id)}/${keyId}`, own.key), 404, 'not_found');
      }
      expectProblem(
        await service.api.delete(`${keysPath(own.id)}/${own.keyId}`, parent.key),
        404,
        'not_found',
      );
      expectProblem(await service.api.get(keysPath(own.id), parent.key), 404, 'not_found');
      expectProblem(await service.api.post(keysPath(own.id), {}, subKey.secret), 403, 'forbidden');
      expect(await ledgerRevision(service, own.id)).toBe(before);
    });
  });

  describe('a quota set is an operation of at most 10^12 credits (rule 4)', () => {
    const TRILLION = 1_000_000_000_000;
    let rich: OpenedParent;

    beforeAll(async () => {
      rich = await openParent(service);
      for (let purchase = 0; purchase < 4; purchase++) await buyCredits(service, rich.id, TRILLION);
    });

    const quotaOf = (subId: string, quota: number) =>
      service.api.put(`/v1/parents/${rich.id}/sub-accounts/${subId}/quota`, { quota }, rich.key);

    it.each([
      ['2.5e12', 2.5e12],
      ['10^12 + 1', TRILLION + 1],
    ])('PUT quota %s → 400 validation_failed, nothing recorded', async (_name, quota) => {
      const subId = await createSubAccount(service, rich);
      const before = await ledgerRevision(service, rich.id);
      expectProblem(await quotaOf(subId, quota), 400, 'validation_failed');
      expect(await ledgerRevision(service, rich.id)).toBe(before);
    });

    it('PUT quota 10^12 is accepted', async () => {
      const subId = await createSubAccount(service, rich);
      expect(expectStatus(await quotaOf(subId, TRILLION), 200).body.quota).toBe(TRILLION);
    });

    it('a set that would return more than 10^12 at once → 400 validation_failed; in steps it works', async () => {
      const subId = await createSubAccount(service, rich);
      const allocations = `/v1/parents/${rich.id}/sub-accounts/${subId}/allocations`;
      expectStatus(await service.api.post(allocations, { credits: TRILLION }, rich.key), 200);
      expectStatus(await service.api.post(allocations, { credits: TRILLION }, rich.key), 200);
      const before = await ledgerRevision(service, rich.id);
      const refused = await quotaOf(subId, 0);
      expectProblem(refused, 400, 'validation_failed');
      expect(refused.body.detail).toMatch(/at most 1000000000000/);
      expect(await ledgerRevision(service, rich.id)).toBe(before);
      expectStatus(await quotaOf(subId, TRILLION), 200);
      expect(expectStatus(await quotaOf(subId, 0), 200).body.quota).toBe(0);
    });
  });

  describe('pending prices are shown until they apply (SPEC §4)', () => {
    it('a parent price change shows on the parent and on sub-accounts that pay it, with its period', async () => {
      const own = await openParent(service, { creditPrice: '0.001' });
      const paysParent = await createSubAccount(service, own, { billingModel: 'bill-to-sub-account' });
      const ownPriceId = uniqueId('s');
      expectStatus(
        await service.api.post(
          `/v1/parents/${own.id}/sub-accounts`,
          { id: ownPriceId, name: 'Own price', billingModel: 'bill-to-sub-account', creditPrice: '0.0005' },
          operator(),
        ),
        201,
      );
      expectStatus(
        await service.api.patch(`/v1/parents/${own.id}`, { creditPrice: '0.002' }, operator()),
        200,
      );

      const shown = expectStatus(await service.api.get(`/v1/parents/${own.id}`, own.key), 200).body;
      expect(shown).toMatchObject({
        creditPrice: '0.001',
        pendingCreditPrice: '0.002',
        pendingEffectiveFrom: '2026-11',
      });
      const sub = (id: string) => service.api.get(`/v1/parents/${own.id}/sub-accounts/${id}`, own.key);
      expect(expectStatus(await sub(paysParent), 200).body).toMatchObject({
        creditPrice: '0.001',
        pendingCreditPrice: '0.002',
        pendingEffectiveFrom: '2026-11',
      });
      // Its own price does not move with the parent's.
      const unmoved = expectStatus(await sub(ownPriceId), 200).body;
      expect(unmoved.creditPrice).toBe('0.0005');
      expect(unmoved).not.toHaveProperty('pendingCreditPrice');
      expect(unmoved).not.toHaveProperty('pendingEffectiveFrom');
    });

    it("a sub-account's own pending price shows on it, to the parent, the operator and its own key", async () => {
      const own = await openParent(service, { creditPrice: '0.001' });
      const subId = await createSubAccount(service, own, { billingModel: 'bill-to-sub-account' });
      const key = await issueSubAccountKey(service, own, subId);
      const url = `/v1/parents/${own.id}/sub-accounts/${subId}`;
      expectStatus(await service.api.patch(url, { creditPrice: '0.0007' }, operator()), 200);
      for (const token of [own.key, operator(), key.secret]) {
        expect(expectStatus(await service.api.get(url, token), 200).body).toMatchObject({
          creditPrice: '0.001',
          pendingCreditPrice: '0.0007',
          pendingEffectiveFrom: '2026-11',
        });
      }
      const listed = expectStatus(await service.api.get(`/v1/parents/${own.id}/sub-accounts`, own.key), 200);
      expect(listed.body.items[0]).toMatchObject({ pendingCreditPrice: '0.0007' });
    });

    it('a pending billing model carries its period too; a bill-to-parent key still sees no price', async () => {
      const own = await openParent(service, { creditPrice: '0.001' });
      const subId = await createSubAccount(service, own, { billingModel: 'bill-to-parent' });
      const key = await issueSubAccountKey(service, own, subId);
      const url = `/v1/parents/${own.id}/sub-accounts/${subId}`;
      expectStatus(
        await service.api.patch(`/v1/parents/${own.id}`, { creditPrice: '0.003' }, operator()),
        200,
      );
      expectStatus(await service.api.patch(url, { billingModel: 'bill-to-sub-account' }, own.key), 200);
      const seen = expectStatus(await service.api.get(url, key.secret), 200).body;
      expect(seen).toMatchObject({
        pendingBillingModel: 'bill-to-sub-account',
        pendingEffectiveFrom: '2026-11',
      });
      expect(Object.keys(seen).filter((field) => /price/i.test(field))).toEqual([]);
    });

    it('a change back to the current price, written differently, leaves nothing pending', async () => {
      const own = await openParent(service, { creditPrice: '0.5' });
      expectStatus(await service.api.patch(`/v1/parents/${own.id}`, { creditPrice: '0.6' }, operator()), 200);
      expectStatus(
        await service.api.patch(`/v1/parents/${own.id}`, { creditPrice: '0.50' }, operator()),
        200,
      );
      const shown = expectStatus(await service.api.get(`/v1/parents/${own.id}`, own.key), 200).body;
      expect(shown).not.toHaveProperty('pendingCreditPrice');
    });
  });

  describe('text a person will see refuses control and bidi characters (SPEC §7)', () => {
    const UNSAFE: readonly [string, string][] = [
      ['NUL', 'a\u0000b'],
      ['a newline', 'line\nbreak'],
      ['a tab', 'a\tb'],
      ['DEL', 'a\u007fb'],
      ['C1 NEL', 'a\u0085b'],
      ['RIGHT-TO-LEFT OVERRIDE', 'invoice\u202Egpj.exe'],
      ['LEFT-TO-RIGHT EMBEDDING', '\u202Aname'],
      ['FIRST STRONG ISOLATE', 'a\u2068b'],
      ['RIGHT-TO-LEFT MARK', 'a\u200Fb'],
      ['ARABIC LETTER MARK', 'a\u061Cb'],
      ['LINE SEPARATOR', 'a\u2028b'],
      ['a lone surrogate', 'a\uD800b'],
    ];

    type Place = [string, string, () => string, () => string, (text: string) => unknown];
    const PLACES: readonly Place[] = [
      [
        'POST /v1/parents name',
        'POST',
        () => '/v1/parents',
        operator,
        (name) => ({
          id: uniqueId('p'),
          name,
          currency: 'EUR',
          creditPrice: '0.001',
        }),
      ],
      ['PATCH /v1/parents/{p} name', 'PATCH', parentPath, operator, (name) => ({ name })],
      [
        'POST …/credits reference',
        'POST',
        () => `${parentPath()}/credits`,
        operator,
        (reference) => ({
          credits: 1,
          reference,
        }),
      ],
      [
        'POST …/sub-accounts name',
        'POST',
        () => `${parentPath()}/sub-accounts`,
        () => parent.key,
        (name) => ({
          id: uniqueId('s'),
          name,
          billingModel: 'bill-to-parent',
        }),
      ],
      [
        'POST …/sub-accounts region',
        'POST',
        () => `${parentPath()}/sub-accounts`,
        () => parent.key,
        (region) => ({
          id: uniqueId('s'),
          name: 'n',
          region,
          billingModel: 'bill-to-parent',
        }),
      ],
      [
        'PATCH …/sub-accounts/{s} name',
        'PATCH',
        () => subPath(shared),
        () => parent.key,
        (name) => ({ name }),
      ],
      [
        'usage idempotencyKey',
        'POST',
        () => `${subPath(shared)}/usage`,
        () => parent.key,
        (key) => ({
          idempotencyKey: key,
          credits: 1,
        }),
      ],
      [
        'usage attribute value',
        'POST',
        () => `${subPath(shared)}/usage`,
        () => parent.key,
        (value) => ({
          idempotencyKey: uniqueId('k'),
          credits: 1,
          attributes: { label: value },
        }),
      ],
    ];

    let shared: string;
    beforeAll(async () => {
      shared = await createSubAccount(service, parent, { quota: 1_000 });
    });

    const CASES = PLACES.flatMap((place) =>
      UNSAFE.map(([label, text]) => [place[0], label, place, text] as const),
    );

    it.each(CASES)(
      '%s with %s → 400 validation_failed, nothing recorded',
      async (_where, _label, place, text) => {
        const [, method, url, token, body] = place;
        const response = await recordsNothing(() =>
          service.api.request(method, url(), { token: token(), body: body(text) }),
        );
        expectProblem(response, 400, 'validation_failed');
      },
    );

    it.each(PLACES)(
      '%s accepts letters of any script, accents and emoji',
      async (_where, method, url, token, body) => {
        const response = await service.api.request(method, url(), {
          token: token(),
          body: body(`Café ☕ مرحبا עברית 🚀 ${uniqueId('t')}`),
        });
        expect(response.status).toBeLessThan(300);
      },
    );
  });

  describe('repeats, zero and the future, decided consistently', () => {
    it('closing a closed sub-account is a repeat: 200 with the same answer, nothing recorded', async () => {
      const subId = await createSubAccount(service, parent, { quota: 7 });
      const first = expectStatus(
        await records(() => service.api.post(`${subPath(subId)}/close`, undefined, parent.key)),
        200,
      );
      const repeat = expectStatus(
        await recordsNothing(() => service.api.post(`${subPath(subId)}/close`, undefined, parent.key)),
        200,
      );
      expect(repeat.body).toEqual(first.body);
      expect(repeat.body).toMatchObject({ status: 'closed', quota: 0, remaining: 0 });
    });

    it('a closed sub-account still refuses every other change with 409 sub_account_closed', async () => {
      const subId = await createSubAccount(service, parent, { quota: 7 });
      expectStatus(await service.api.post(`${subPath(subId)}/close`, undefined, parent.key), 200);
      const response = await recordsNothing(() =>
        service.api.put(`${subPath(subId)}/quota`, { quota: 3 }, parent.key),
      );
      expectProblem(response, 409, 'sub_account_closed');
    });

    it('usage of 0 credits is recorded once (metering without cost), even with nothing remaining', async () => {
      const subId = await createSubAccount(service, parent, { quota: 0 });
      const body = { idempotencyKey: uniqueId('k'), credits: 0, meter: 'free.preview' };
      const first = expectStatus(
        await records(() => service.api.post(`${subPath(subId)}/usage`, body, parent.key)),
        201,
      );
      const repeat = expectStatus(
        await recordsNothing(() => service.api.post(`${subPath(subId)}/usage`, body, parent.key)),
        200,
      );
      expect(repeat.body).toEqual(first.body);
      const recorded = (await readLedger(service, parent.id)).filter(
        (event) => event.type === 'UsageRecorded' && event.data.subAccountId === subId,
      );
      expect(recorded.map((event) => [event.data.credits, event.data.meter])).toEqual([[0, 'free.preview']]);
    });

    it('a balance asOf an instant after the service clock → 400 validation_failed naming asOf', async () => {
      const subId = await createSubAccount(service, parent, { quota: 3 });
      const tomorrow = new Date(Date.now() + (NOW.getTime() - startedAt) + 86_400_000).toISOString();
      const response = await service.api.get(
        `${subPath(subId)}/balance?asOf=${encodeURIComponent(tomorrow)}`,
        parent.key,
      );
      expectProblem(response, 400, 'validation_failed');
      expect(JSON.stringify(response.body.errors)).toContain('asOf');
    });

    it('a balance asOf a past instant, and without asOf, still answers', async () => {
      const subId = await createSubAccount(service, parent, { quota: 3 });
      const current = expectStatus(await service.api.get(`${subPath(subId)}/balance`, parent.key), 200).body;
      expect(current).toMatchObject({ quota: 3, used: 0, remaining: 3 });
      const past = await service.api.get(
        `${subPath(subId)}/balance?asOf=${encodeURIComponent(current.asOf)}`,
        parent.key,
      );
      expect(expectStatus(past, 200).body).toMatchObject({ quota: 3, remaining: 3 });
    });
  });

  describe('routes that take no body accept an empty one sent as application/json', () => {
    it('POST …/sub-accounts/{s}/api-keys', async () => {
      const subId = await createSubAccount(service, parent);
      const response = await records(() => emptyJson('POST', `${subPath(subId)}/api-keys`, parent.key));
      expectStatus(response, 201);
      expect(response.body.secret).toEqual(expect.any(String));
    });

    it('DELETE …/sub-accounts/{s}/api-keys/{k}', async () => {
      const subId = await createSubAccount(service, parent);
      const key = await issueSubAccountKey(service, parent, subId);
      const url = `${subPath(subId)}/api-keys/${key.id}`;
      expectStatus(await records(() => emptyJson('DELETE', url, parent.key)), 204);
      expectProblem(await service.api.get(subPath(subId), key.secret), 401, 'unauthorized');
    });

    it('POST …/sub-accounts/{s}/close', async () => {
      const subId = await createSubAccount(service, parent, { quota: 5 });
      const response = await records(() => emptyJson('POST', `${subPath(subId)}/close`, parent.key));
      expect(expectStatus(response, 200).body.status).toBe('closed');
    });

    it('POST and DELETE of parent keys, and a period close (answered on its merits, not as bad JSON)', async () => {
      const own = await openParent(service);
      const issued = expectStatus(
        await emptyJson('POST', `/v1/parents/${own.id}/api-keys`, own.key),
        201,
      ).body;
      expectStatus(
        await emptyJson('DELETE', `/v1/parents/${own.id}/api-keys/${own.keyId}`, issued.secret),
        204,
      );
      // October has not ended by the service clock: the refusal is about the period, not the body.
      const close = await emptyJson(
        'POST',
        `/v1/parents/${own.id}/billing-periods/2026-10/close`,
        operator(),
      );
      expectProblem(close, 409, 'period_not_ended');
    });

    it('GET routes too (fetch sends no body on a GET; the header alone)', async () => {
      const response = await service.api.request('GET', parentPath(), {
        token: parent.key,
        headers: { 'content-type': 'application/json' },
      });
      expectStatus(response, 200);
    });

    it('POST …/returns without a body returns every unused credit ({credits?} all optional)', async () => {
      const subId = await createSubAccount(service, parent, { quota: 9 });
      const response = await records(() => emptyJson('POST', `${subPath(subId)}/returns`, parent.key));
      expect(expectStatus(response, 200).body).toMatchObject({ quota: 0, remaining: 0 });
    });

    it('a route that needs a body answers an empty one like a missing one: 400 naming the field', async () => {
      const response = await recordsNothing(() => emptyJson('POST', `${parentPath()}/credits`, operator()));
      expectProblem(response, 400, 'validation_failed');
      expect(JSON.stringify(response.body.errors)).toContain('credits');
    });
  });

  describe('prototype keys are valid JSON that the API refuses', () => {
    it.each([
      ['attributes.__proto__', '{"idempotencyKey":"k-proto","credits":1,"attributes":{"__proto__":{}}}'],
      [
        'attributes.constructor.prototype',
        '{"idempotencyKey":"k-ctor","credits":1,"attributes":{"constructor":{"prototype":{}}}}',
      ],
    ])('usage with %s → 400 validation_failed, nothing recorded', async (_name, body) => {
      const subId = await createSubAccount(service, parent, { quota: 10 });
      const response = await recordsNothing(() =>
        service.api.request('POST', `${subPath(subId)}/usage`, { token: parent.key, body }),
      );
      expectProblem(response, 400, 'validation_failed');
    });
  });
});

describe('the service clock never runs behind the event log', () => {
  const FIRST = new Date('2026-11-02T00:00:00.000Z');
  const EARLIER = new Date('2026-10-20T00:00:00.000Z');
  let dataDir: string;
  let service: TestService | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-clock-floor-'));
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a restart with SUBLEDGER_NOW before the newest event starts at that event: nothing is filed behind it', async () => {
    const first = await startTestService({ dataDir, now: FIRST });
    const operatorToken = first.operatorToken;
    const parent = await openParent(first, { credits: 100 });
    const subId = await createSubAccount(first, parent, { quota: 10 });
    const newest = (await readLedger(first, parent.id)).at(-1)!.metadata.recordedAt as string;
    await first.close();

    service = await startTestService({ dataDir, now: EARLIER, operatorToken });
    const usage = await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${subId}/usage`,
      { idempotencyKey: uniqueId('k'), credits: 1 },
      parent.key,
    );
    expectStatus(usage, 201);
    const recorded = (await readLedger(service, parent.id)).at(-1)!;
    expect(recorded.type).toBe('UsageRecorded');
    expect(Date.parse(recorded.data.recordedAt)).toBeGreaterThanOrEqual(Date.parse(newest));
    expect(recorded.data.billingPeriod).toBe('2026-11');
    // The period it was filed in is listed.
    const periods = expectStatus(
      await service.api.get(`/v1/parents/${parent.id}/billing-periods`, parent.key),
      200,
    ).body.periods as { period: string; status: string }[];
    expect(periods.map((entry) => entry.period)).toContain('2026-11');
  });
});
