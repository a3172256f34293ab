import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expectStatus } from '../../support/ledger-fixtures';
import { OpenApiConformance } from '../../support/openapi-conformance';
import { pollUntil } from '../../support/poll';
import { startTestService, type TestService } from '../../support/service';

/*
 * The document against the service: every route of /docs is called, and each answer (successes and
 * a few refusals) must have a documented status and match its schema exactly, with no member the
 * schema does not name. A route added without its schema, or a view that gains a field the
 * document does not show, fails here.
 */
jest.setTimeout(120_000);

describe('the OpenAPI document matches what the routes answer', () => {
  let dataDir: string;
  let service: TestService;
  let conformance: OpenApiConformance;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-conformance-'));
    service = await startTestService({ now: '2026-10-20T12:00:00Z', dataDir });
    conformance = new OpenApiConformance(expectStatus(await service.api.get('/docs/json'), 200).body);
  });

  afterAll(async () => {
    await service?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function call(
    method: string,
    url: string,
    token: string | undefined,
    body?: unknown,
    status?: number,
  ) {
    const response = await service.api.request(method, url, { token, body });
    conformance.check(method, url, response);
    if (status !== undefined) expectStatus(response, status);
    return response;
  }

  it('answers every route as documented', async () => {
    const op = service.operatorToken;
    const p = `conf-${process.pid}`;
    const P = `/v1/parents/${p}`;
    const opened = await call(
      'POST',
      '/v1/parents',
      op,
      { id: p, name: 'Conformance', currency: 'EUR', creditPrice: '0.001' },
      201,
    );
    const key: string = opened.body.apiKey.secret;
    await call('POST', `${P}/credits`, op, { credits: 100_000, reference: 'PO-1' }, 200);
    await call('GET', P, key, undefined, 200);
    await call('PATCH', P, op, { name: 'Conformance Ltd', creditPrice: '0.002' }, 200);
    const parentKey = await call('POST', `${P}/api-keys`, key, undefined, 201);
    await call('GET', `${P}/api-keys`, op, undefined, 200);
    await call('DELETE', `${P}/api-keys/${parentKey.body.id}`, key, undefined, 204);

    await call(
      'POST',
      `${P}/sub-accounts`,
      key,
      { id: 'a', name: 'A', billingModel: 'bill-to-parent', quota: 1_000 },
      201,
    );
    await call(
      'POST',
      `${P}/sub-accounts`,
      op,
      { id: 'b', name: 'B', region: 'eu', billingModel: 'bill-to-sub-account', creditPrice: '0.005' },
      201,
    );
    await call(
      'POST',
      `${P}/sub-accounts/batch`,
      key,
      {
        subAccounts: [
          { id: 'c', name: 'C', billingModel: 'bill-to-parent', quota: 10 },
          { id: 'a', name: 'A again', billingModel: 'bill-to-parent' },
        ],
      },
      200,
    );
    await call('GET', `${P}/sub-accounts?limit=1`, key, undefined, 200);
    await call('GET', `${P}/sub-accounts/a`, key, undefined, 200);
    await call('PATCH', `${P}/sub-accounts/a`, key, { name: 'A2', billingModel: 'bill-to-sub-account' }, 200);
    await call('PUT', `${P}/sub-accounts/b/quota`, key, { quota: 500 }, 200);
    await call('POST', `${P}/sub-accounts/b/allocations`, key, { credits: 100 }, 200);
    await call('POST', `${P}/sub-accounts/b/returns`, key, { credits: 50 }, 200);
    const subKey = await call('POST', `${P}/sub-accounts/a/api-keys`, key, undefined, 201);
    const a = subKey.body.secret as string;
    await call('GET', `${P}/sub-accounts/a/api-keys`, key, undefined, 200);
    const used = await call(
      'POST',
      `${P}/sub-accounts/a/usage`,
      a,
      { idempotencyKey: 'u1', credits: 10, meter: 'api' },
      201,
    );
    const reversals = `${P}/sub-accounts/a/usage/${used.body.usageId}/reversals`;
    await call('POST', reversals, key, { idempotencyKey: 'r1', reason: 'metered twice', credits: 2 }, 201);
    await call('POST', reversals, key, { idempotencyKey: 'r1', reason: 'metered twice', credits: 2 }, 200);
    await call('POST', reversals, key, { idempotencyKey: 'r2', reason: 'too much', credits: 9 }, 409);
    await call(
      'POST',
      `${P}/credits`,
      op,
      { credits: 500, kind: 'granted', expiresAt: '2026-12-31T00:00:00Z', priority: 10 },
      200,
    );
    await call('GET', `${P}/credits`, key, undefined, 200);
    await call('PUT', `${P}/sub-accounts/c/recurring-allocation`, key, { credits: 5 }, 200);
    await call(
      'POST',
      `${P}/sub-accounts/a/usage`,
      a,
      { idempotencyKey: 'u1', credits: 10, meter: 'api' },
      200,
    );
    await call(
      'POST',
      `${P}/usage/batch`,
      key,
      {
        records: [
          { subAccountId: 'b', idempotencyKey: 'b1', credits: 5 },
          { subAccountId: 'b', idempotencyKey: 'b2', credits: 1_000_000 },
        ],
      },
      200,
    );
    await call('GET', `${P}/sub-accounts/a/history?limit=10`, a, undefined, 200);
    await call('GET', `${P}/sub-accounts/a/balance`, a, undefined, 200);
    await call('GET', `${P}/sub-accounts/a/balance?asOf=2026-10-20T11:00:00Z`, key, undefined, 200);
    await call('GET', `${P}/sub-accounts/a/usage?groupBy=meter,day`, a, undefined, 200);
    await call('GET', `${P}/usage?groupBy=subAccount,month`, key, undefined, 200);
    await call('GET', '/v1/me', a, undefined, 200);
    await call('GET', '/v1/me', key, undefined, 200);
    await call('GET', '/v1/me', op, undefined, 200);
    await call('GET', `${P}/events?limit=5&types=UsageRecorded`, key, undefined, 200);
    await call('GET', `${P}/billing-periods`, key, undefined, 200);
    await call('GET', `${P}/invoices`, key, undefined, 200);
    await call('GET', `${P}/sub-accounts/b/invoices`, key, undefined, 200);
    await call('GET', `${P}/billing-periods/2026-10/replay`, op, undefined, 200);
    // Webhook endpoints and the audit chain (SPEC §11). The target is public, so the guard lets it in.
    const endpoint = await call(
      'POST',
      `${P}/webhook-endpoints`,
      key,
      { url: 'https://93.184.215.14/hook', eventTypes: ['UsageRecorded'], description: 'conformance' },
      201,
    );
    const hook = `${P}/webhook-endpoints/${endpoint.body.id}`;
    await call('GET', `${P}/webhook-endpoints`, key, undefined, 200);
    await call('GET', hook, op, undefined, 200);
    await call('PATCH', hook, key, { eventTypes: [], description: null }, 200);
    await call('POST', `${P}/sub-accounts/a/usage`, a, {
      idempotencyKey: 'hook-1',
      credits: 1,
      meter: 'api',
    });
    const deliveries = await pollUntil(
      () => call('GET', `${hook}/deliveries`, key, undefined, 200),
      (response) => response.body.deliveries.length > 0,
    );
    await call(
      'POST',
      `${hook}/deliveries/${deliveries.body.deliveries[0].id}/redeliver`,
      key,
      undefined,
      202,
    );
    await call('DELETE', hook, key, undefined, 204);
    await call('GET', `${P}/audit/verify?from=0`, op, undefined, 200);
    await call('GET', '/health', undefined, undefined, 200);
    await call('GET', '/health/live', undefined, undefined, 200);

    // Refusals are documented problems too.
    await call('GET', P, undefined, undefined, 401);
    await call('POST', '/v1/parents', key, { name: 'x', currency: 'EUR', creditPrice: '1' }, 403);
    await call('GET', `${P}/sub-accounts/nobody`, key, undefined, 404);
    await call('POST', `${P}/sub-accounts/a/usage`, a, { idempotencyKey: 'u1', credits: 11 }, 409);
    await call('POST', `${P}/sub-accounts/a/allocations`, key, { credits: 1, extra: true }, 400);
    await call('GET', `${P}/usage?groupBy=week`, key, undefined, 400);
    await call('POST', `${P}/billing-periods/2026-10/close`, op, undefined, 409);

    // November: close October (201, then 200), read an invoice, close a sub-account.
    await service.close();
    service = await startTestService({ now: '2026-11-02T09:00:00Z', dataDir, operatorToken: op });
    const closed = await call('POST', `${P}/billing-periods/2026-10/close`, op, undefined, 201);
    await call('POST', `${P}/billing-periods/2026-10/close`, op, undefined, 200);
    await call('GET', `${P}/invoices/${closed.body.invoices[0].invoiceId}`, key, undefined, 200);
    await call('GET', `${P}/invoices?period=2026-10`, key, undefined, 200);
    await call('GET', `${P}/billing-periods/2026-10/replay`, op, undefined, 200);
    await call('POST', reversals, op, { idempotencyKey: 'r3', reason: 'after the close', credits: 1 }, 201);
    await call('GET', `${P}/invoices`, key, undefined, 200);
    await call('DELETE', `${P}/sub-accounts/a/api-keys/${subKey.body.id}`, key, undefined, 204);
    await call('POST', `${P}/sub-accounts/a/close`, key, undefined, 200);

    expect(conformance.problems).toEqual([]);
    expect(conformance.all().filter((operation) => !conformance.succeeded.has(operation))).toEqual([]);
  });
});
