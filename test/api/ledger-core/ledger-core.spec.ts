import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  createSubAccount,
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  openParent,
  readLedger,
  uniqueId,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/*
 * The write side through real HTTP: each route's answer, and what it left in `ledger-<p>`, read back
 * with the real client.
 */

describe('ledger core routes', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService();
  });

  afterAll(async () => {
    await service?.close();
  });

  const sub = (parent: OpenedParent, subId: string) => `/v1/parents/${parent.id}/sub-accounts/${subId}`;

  it("ShortPixel's example: pool 18,000 available and 0 remaining, every event with its metadata", async () => {
    const parent = await openParent(service, { credits: 20_000 });
    const created = await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts`,
      { id: 'shortpixel', name: 'ShortPixel', billingModel: 'bill-to-parent' },
      parent.key,
    );
    expectStatus(created, 201);
    expect(created.body).toMatchObject({
      id: 'shortpixel',
      quota: 0,
      used: 0,
      remaining: 0,
      status: 'active',
    });

    const allocated = await service.api.post(
      `${sub(parent, 'shortpixel')}/allocations`,
      { credits: 8_000 },
      parent.key,
    );
    expect(expectStatus(allocated, 200).body).toMatchObject({ quota: 8_000, remaining: 8_000 });
    const used = await service.api.request('POST', `${sub(parent, 'shortpixel')}/usage`, {
      body: { idempotencyKey: 'job-1', credits: 2_000 },
      token: parent.key,
      headers: { 'x-correlation-id': 'batch-run-7', 'x-request-id': 'req-usage-1' },
    });
    expect(expectStatus(used, 201).body).toEqual({ usageId: expect.any(String), remaining: 6_000 });
    const quota = await service.api.put(`${sub(parent, 'shortpixel')}/quota`, { quota: 2_000 }, parent.key);
    expect(expectStatus(quota, 200).body).toMatchObject({ quota: 2_000, used: 2_000, remaining: 0 });

    const parentView = expectStatus(await service.api.get(`/v1/parents/${parent.id}`, parent.key), 200);
    expect(parentView.body.pool).toEqual({
      purchased: 20_000,
      allocated: 2_000,
      available: 18_000,
      used: 2_000,
      expired: 0,
    });

    const events = await readLedger(service, parent.id);
    expect(events.map((event) => event.type)).toEqual([
      'ParentAccountOpened',
      'ApiKeyIssued',
      'CreditsPurchased',
      'SubAccountCreated',
      'QuotaAllocated',
      'UsageRecorded',
      'CreditsReturned',
    ]);
    expect(events[6].data).toMatchObject({
      credits: 6_000,
      balancesAfter: {
        subAccount: { quota: 2_000, used: 2_000, remaining: 0 },
        pool: { available: 18_000 },
      },
    });
    expect(events[5].metadata).toEqual({
      $correlationId: 'batch-run-7',
      $causationId: 'req-usage-1',
      requestId: 'req-usage-1',
      actor: { type: 'parent', id: parent.id },
      apiKeyId: parent.keyId,
      schemaVersion: 1,
      recordedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      // The audit chain's link (SPEC §11): it follows the event before it.
      chain: { prev: events[4].metadata.chain.hash, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(events[0].metadata.actor).toEqual({ type: 'operator', id: 'operator' });
    // The secret is shown once and never stored: only its hash is in the stream.
    expect(JSON.stringify(events.map(({ data, metadata }) => ({ data, metadata })))).not.toContain(
      parent.key,
    );
  });

  it('usage: a repeat answers 200 with the same id, another payload 409, 50 concurrent retries record once', async () => {
    const parent = await openParent(service, { credits: 1_000 });
    const subId = await createSubAccount(service, parent, { quota: 500 });
    const url = `${sub(parent, subId)}/usage`;
    const first = expectStatus(
      await service.api.post(url, { idempotencyKey: 'a', credits: 7 }, parent.key),
      201,
    );
    const repeat = expectStatus(
      await service.api.post(url, { idempotencyKey: 'a', credits: 7 }, parent.key),
      200,
    );
    expect(repeat.body).toEqual(first.body);
    expectProblem(
      await service.api.post(url, { idempotencyKey: 'a', credits: 8 }, parent.key),
      409,
      'idempotency_conflict',
    );

    const retries = await Promise.all(
      Array.from({ length: 50 }, () =>
        service.api.post(url, { idempotencyKey: 'b', credits: 3, meter: 'images' }, parent.key),
      ),
    );
    expect(retries.map((response) => response.status).sort()).toEqual([...Array(49).fill(200), 201]);
    expect(new Set(retries.map((response) => response.body.usageId)).size).toBe(1);
    const usage = (await readLedger(service, parent.id)).filter((event) => event.type === 'UsageRecorded');
    expect(usage.map((event) => event.data.idempotencyKey)).toEqual(['a', 'b']);
  });

  it('200 racing allocations, returns and usages never break rules 1–2; balances equal a recount of the stream', async () => {
    const parent = await openParent(service, { credits: 3_000 });
    const subIds = [await createSubAccount(service, parent), await createSubAccount(service, parent)];
    const requests = Array.from({ length: 200 }, (_, index) => {
      const subId = subIds[index % 2];
      switch (index % 4) {
        case 0:
        case 1:
          return service.api.post(
            `${sub(parent, subId)}/allocations`,
            { credits: 37 + (index % 50) },
            parent.key,
          );
        case 2:
          return service.api.post(`${sub(parent, subId)}/returns`, { credits: 11 }, parent.key);
        default:
          return service.api.post(
            `${sub(parent, subId)}/usage`,
            { idempotencyKey: `k${index}`, credits: 29 },
            parent.key,
          );
      }
    });
    const responses = await Promise.all(requests);
    for (const response of responses) {
      if (response.status >= 300)
        expect(response.body.code).toMatch(/^(insufficient_pool|insufficient_quota|quota_below_used)$/);
    }

    const events = await readLedger(service, parent.id);
    let purchased = 0;
    let allocated = 0;
    const quota = new Map<string, number>();
    const used = new Map<string, number>();
    for (const event of events) {
      const id = event.data.subAccountId as string;
      if (event.type === 'CreditsPurchased') purchased += event.data.credits;
      if (event.type === 'QuotaAllocated') {
        allocated += event.data.credits;
        quota.set(id, (quota.get(id) ?? 0) + event.data.credits);
      }
      if (event.type === 'CreditsReturned') {
        allocated -= event.data.credits;
        quota.set(id, (quota.get(id) ?? 0) - event.data.credits);
      }
      if (event.type === 'UsageRecorded') used.set(id, (used.get(id) ?? 0) + event.data.credits);
      expect(purchased - allocated).toBeGreaterThanOrEqual(0);
      for (const subId of subIds) expect(used.get(subId) ?? 0).toBeLessThanOrEqual(quota.get(subId) ?? 0);
      if (event.data.balancesAfter)
        expect(event.data.balancesAfter.pool.available).toBe(purchased - allocated);
    }
    const parentView = expectStatus(await service.api.get(`/v1/parents/${parent.id}`, parent.key), 200).body;
    expect(parentView.pool).toMatchObject({ purchased, allocated, available: purchased - allocated });
    for (const subId of subIds) {
      const view = expectStatus(await service.api.get(sub(parent, subId), parent.key), 200).body;
      expect(view).toMatchObject({ quota: quota.get(subId) ?? 0, used: used.get(subId) ?? 0 });
    }
  });

  it('batch usage answers one result per record, in order, each on its own', async () => {
    const parent = await openParent(service, { credits: 100 });
    const subId = await createSubAccount(service, parent, { quota: 10 });
    const response = expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/usage/batch`,
        {
          records: [
            { subAccountId: subId, idempotencyKey: 'x', credits: 4 },
            { subAccountId: subId, idempotencyKey: 'y', credits: 7 },
            { subAccountId: 'nobody', idempotencyKey: 'z', credits: 1 },
            { subAccountId: subId, idempotencyKey: 'x', credits: 4 },
            { subAccountId: subId, idempotencyKey: 'w', credits: 6 },
          ],
        },
        parent.key,
      ),
      200,
    );
    const results = response.body.results as {
      status: number;
      usageId?: string;
      remaining?: number;
      error?: any;
    }[];
    expect(results.map((result) => [result.status, result.remaining ?? result.error.code])).toEqual([
      [201, 6],
      [409, 'insufficient_quota'],
      [404, 'not_found'],
      [200, 6],
      [201, 0],
    ]);
    expect(results[3].usageId).toBe(results[0].usageId);
  });

  it('a revoked key is refused on the very next request; a bill-to-parent key never sees prices', async () => {
    const parent = await openParent(service, { credits: 100 });
    const subId = await createSubAccount(service, parent, { quota: 50, billingModel: 'bill-to-parent' });
    const key = await issueSubAccountKey(service, parent, subId);
    expect(key.secret).toMatch(/^sl_/);
    const own = expectStatus(await service.api.get(sub(parent, subId), key.secret), 200);
    expect(own.body).not.toHaveProperty('creditPrice');
    expect(expectStatus(await service.api.get(sub(parent, subId), parent.key), 200).body.creditPrice).toBe(
      '0.001',
    );
    expectStatus(
      await service.api.post(`${sub(parent, subId)}/usage`, { idempotencyKey: 'k', credits: 1 }, key.secret),
      201,
    );

    const listed = expectStatus(await service.api.get(`${sub(parent, subId)}/api-keys`, parent.key), 200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ id: key.id, status: 'active', prefix: key.prefix }),
    ]);
    expect(JSON.stringify(listed.body)).not.toMatch(/secret/i);

    expectStatus(await service.api.delete(`${sub(parent, subId)}/api-keys/${key.id}`, parent.key), 204);
    expectProblem(
      await service.api.post(`${sub(parent, subId)}/usage`, { idempotencyKey: 'k2', credits: 1 }, key.secret),
      401,
      'unauthorized',
    );
    expectProblem(await service.api.get(sub(parent, subId), key.secret), 401, 'unauthorized');
  });

  it('history shows every credit event with balances after, actor and correlation id, right after the write', async () => {
    const parent = await openParent(service, { credits: 100 });
    const subId = await createSubAccount(service, parent, { quota: 30 });
    expectStatus(
      await service.api.request('POST', `${sub(parent, subId)}/usage`, {
        body: { idempotencyKey: 'h1', credits: 12 },
        token: parent.key,
        headers: { 'x-correlation-id': 'corr-h1' },
      }),
      201,
    );
    const history = expectStatus(await service.api.get(`${sub(parent, subId)}/history`, parent.key), 200);
    const entries = history.body.entries as any[];
    expect(entries.map((entry) => [entry.type, entry.credits, entry.balancesAfter.remaining])).toEqual([
      ['SubAccountCreated', 0, 0],
      ['QuotaAllocated', 30, 30],
      ['UsageRecorded', 12, 18],
    ]);
    expect(entries[2]).toMatchObject({ correlationId: 'corr-h1', actor: { type: 'parent', id: parent.id } });
    const balance = expectStatus(await service.api.get(`${sub(parent, subId)}/balance`, parent.key), 200);
    expect(balance.body).toMatchObject({ quota: 30, used: 12, remaining: 18 });
    expectProblem(
      await service.api.get(
        `${sub(parent, subId)}/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`,
        parent.key,
      ),
      400,
      'validation_failed',
    );
  });

  it('refuses missing, malformed and foreign credentials and other roles', async () => {
    const a = await openParent(service, { credits: 10 });
    const b = await openParent(service, { credits: 10 });
    const subId = await createSubAccount(service, a, { quota: 5 });
    const sibling = await createSubAccount(service, a, { quota: 5 });
    const key = await issueSubAccountKey(service, a, subId);
    expectProblem(await service.api.get(`/v1/parents/${a.id}`), 401, 'unauthorized');
    expectProblem(await service.api.get(`/v1/parents/${a.id}`, 'sl_garbage'), 401, 'unauthorized');
    expectProblem(await service.api.get(`/v1/parents/${a.id}`, b.key), 404, 'not_found');
    expectProblem(await service.api.get(sub(a, sibling), key.secret), 404, 'not_found');
    expectProblem(await service.api.get(`/v1/parents/${a.id}`, key.secret), 403, 'forbidden');
    expectProblem(
      await service.api.post(`/v1/parents/${a.id}/credits`, { credits: 1 }, a.key),
      403,
      'forbidden',
    );
    expectProblem(
      await service.api.get(`/v1/parents/${uniqueId('p')}`, service.operatorToken),
      404,
      'not_found',
    );
  });
});

describe('restarting over the same data', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-keys-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps every key working and counts each usage key once', async () => {
    const operatorToken = 'operator-token-for-restart-test';
    const first = await startTestService({ dataDir, operatorToken });
    let parent: OpenedParent;
    let subKey: { secret: string };
    let subId: string;
    try {
      parent = await openParent(first, { credits: 100 });
      subId = await createSubAccount(first, parent, { quota: 40 });
      subKey = await issueSubAccountKey(first, parent, subId);
      expectStatus(
        await first.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${subId}/usage`,
          { idempotencyKey: 'once', credits: 5 },
          subKey.secret,
        ),
        201,
      );
    } finally {
      await first.close();
    }

    const second = await startTestService({ dataDir, operatorToken });
    try {
      const usageUrl = `/v1/parents/${parent.id}/sub-accounts/${subId}/usage`;
      expect(
        expectStatus(await second.api.get(`/v1/parents/${parent.id}`, parent.key), 200).body.pool.used,
      ).toBe(5);
      const repeat = expectStatus(
        await second.api.post(usageUrl, { idempotencyKey: 'once', credits: 5 }, subKey.secret),
        200,
      );
      expect(repeat.body.remaining).toBe(35);
      expectStatus(
        await second.api.post(usageUrl, { idempotencyKey: 'twice', credits: 5 }, subKey.secret),
        201,
      );
      const events = await readLedger(second, parent.id);
      expect(
        events.filter((event) => event.type === 'UsageRecorded').map((event) => event.data.idempotencyKey),
      ).toEqual(['once', 'twice']);
      expect(events.filter((event) => event.type === 'ApiKeyIssued')).toHaveLength(2);
    } finally {
      await second.close();
    }
  });
});
