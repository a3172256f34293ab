import { Webhook } from 'standardwebhooks';
import { createSubAccount, expectStatus, openParent, type OpenedParent } from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { WebhookReceiver, type ReceivedWebhook } from './webhook-receiver';

jest.setTimeout(180_000);

/** Short timeouts and a three-step schedule, so failure, timeout, retry and exhaustion fit in a test. */
const WEBHOOK_ENV = {
  SUBLEDGER_WEBHOOK_ALLOW_PRIVATE: 'true',
  SUBLEDGER_WEBHOOK_TIMEOUT_MS: '800',
  SUBLEDGER_WEBHOOK_RETRY_SCHEDULE: '300,300,300',
};

interface Delivered {
  readonly type: string;
  readonly timestamp: string;
  readonly data: {
    eventId: string;
    parentId: string;
    streamName: string;
    streamRevision: string;
    position: { commit: string; prepare: string };
    data: Record<string, unknown>;
    metadata: Record<string, unknown>;
  };
}

/** Verifies the request with the package's own `verify` and returns the body it signed. */
function verified(secret: string, request: ReceivedWebhook): Delivered {
  const headers = {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
  return new Webhook(secret).verify(request.body, headers) as Delivered;
}

describe('signed webhooks (SPEC §11)', () => {
  let service: ServiceProcess;
  let receiver: WebhookReceiver;
  let parent: OpenedParent;
  let subAccountId: string;
  let usage = 0;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    service = await startServiceProcess({ env: WEBHOOK_ENV });
    parent = await openParent(service, { credits: 1_000_000 });
    subAccountId = await createSubAccount(service, parent, { quota: 500_000 });
  });

  /** Each receiver path's endpoint secret: every request that reached the receiver must verify with it. */
  const secrets = new Map<string, string>();

  afterAll(async () => {
    await service?.stop();
    await receiver?.stop();
  });

  afterEach(() => {
    for (const request of receiver.received) verified(secrets.get(request.path)!, request);
  });

  const endpoints = (suffix = '') => `/v1/parents/${parent.id}/webhook-endpoints${suffix}`;

  async function register(path: string, extra: Record<string, unknown> = {}) {
    const created = expectStatus(
      await service.api.post(endpoints(), { url: receiver.url(path), ...extra }, parent.key),
      201,
    );
    secrets.set(path, created.body.secret);
    return created.body as { id: string; secret: string; url: string; eventTypes: string[] };
  }

  async function recordUsage(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      expectStatus(
        await service.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
          { idempotencyKey: `u-${usage++}`, credits: 1, meter: 'api' },
          parent.key,
        ),
        201,
      );
    }
  }

  async function deliveries(endpointId: string, query = '') {
    return expectStatus(
      await service.api.get(endpoints(`/${endpointId}/deliveries${query}`), parent.key),
      200,
    ).body.deliveries as Array<{
      id: string;
      eventId: string;
      status: string;
      attempts: number;
      nextAttemptAt: string | null;
      attemptLog: Array<{ status: number | null; error: string | null }>;
    }>;
  }

  it('registers, lists, changes and deletes endpoints; the secret is shown once; bad input records nothing', async () => {
    const created = await register('/crud', { eventTypes: ['UsageRecorded'], description: 'billing sync' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created).toMatchObject({
      url: receiver.url('/crud'),
      eventTypes: ['UsageRecorded'],
      disabled: false,
    });
    const listed = expectStatus(await service.api.get(endpoints(), parent.key), 200).body.endpoints;
    expect(listed.map((endpoint: { id: string }) => endpoint.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    const one = expectStatus(
      await service.api.get(endpoints(`/${created.id}`), service.operatorToken),
      200,
    ).body;
    expect(one.secret).toBeUndefined();

    const patched = expectStatus(
      await service.api.patch(endpoints(`/${created.id}`), { eventTypes: [], disabled: true }, parent.key),
      200,
    ).body;
    expect(patched).toMatchObject({ eventTypes: [], disabled: true, disabledReason: 'manual' });
    expect(
      expectStatus(await service.api.patch(endpoints(`/${created.id}`), { disabled: false }, parent.key), 200)
        .body,
    ).toMatchObject({ disabled: false, disabledReason: null });

    for (const body of [
      { url: 'ftp://example.com/x' },
      { url: 'not a url' },
      { url: receiver.url('/x'), eventTypes: ['NoSuchEvent'] },
      { url: receiver.url('/x'), unknown: true },
      { url: receiver.url('/x'), description: 'bad\u202Eone' },
      { url: 'http://user:pw@example.com/x' },
    ]) {
      expect(expectStatus(await service.api.post(endpoints(), body, parent.key), 400).body.code).toBe(
        'validation_failed',
      );
    }
    const other = await openParent(service);
    // Another parent's key is told the parent does not exist (tenancy, as on every route).
    expectStatus(await service.api.get(endpoints(), other.key), 404);
    expectStatus(
      await service.api.get(`/v1/parents/${other.id}/webhook-endpoints/${created.id}`, other.key),
      404,
    );
    expectStatus(await service.api.delete(endpoints(`/${created.id}`), parent.key), 204);
    expectStatus(await service.api.get(endpoints(`/${created.id}`), parent.key), 404);
    const after = expectStatus(await service.api.get(endpoints(), parent.key), 200).body.endpoints;
    expect(after.map((endpoint: { id: string }) => endpoint.id)).not.toContain(created.id);
  });

  it('delivers every event in commit order, signed so that standardwebhooks verifies it, and only the types asked for', async () => {
    const all = await register('/all');
    const allocations = await register('/allocations', { eventTypes: ['QuotaAllocated'] });
    await recordUsage(5);
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/allocations`,
        { credits: 7 },
        parent.key,
      ),
      201,
      200,
    );
    await recordUsage(2);
    await pollUntil(
      async () => receiver.at('/all').map((request) => verified(all.secret, request)),
      (bodies) => bodies.filter((body) => body.type === 'UsageRecorded').length >= 7,
    );
    const bodies = receiver.at('/all').map((request) => verified(all.secret, request));
    const revisions = bodies.map((body) => Number(body.data.streamRevision));
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(new Set(revisions).size).toBe(revisions.length);
    const usageBody = bodies.find((body) => body.type === 'UsageRecorded')!;
    expect(usageBody.data).toMatchObject({ parentId: parent.id, streamName: `ledger-${parent.id}` });
    expect(usageBody.data.metadata.chain).toBeDefined();
    expect(new Date(usageBody.timestamp).getTime()).not.toBeNaN();
    const firstRequest = receiver.at('/all')[0];
    expect(firstRequest.headers['webhook-id']).toBe(verified(all.secret, firstRequest).data.eventId);
    // Another secret does not verify.
    expect(() => verified(allocations.secret, firstRequest)).toThrow();

    await pollUntil(
      async () => receiver.at('/allocations'),
      (requests) => requests.length >= 1,
    );
    expect(receiver.at('/allocations').map((request) => verified(allocations.secret, request).type)).toEqual(
      receiver.at('/allocations').map(() => 'QuotaAllocated'),
    );
    const log = await deliveries(all.id, '?status=delivered');
    expect(log.length).toBeGreaterThanOrEqual(8);
    expect(log[0]).toMatchObject({ status: 'delivered', attempts: 1, nextAttemptAt: null });
    expect(log[0].attemptLog).toEqual([expect.objectContaining({ status: 204, error: null })]);
    for (const path of ['/all', '/allocations']) receiver.setMode(path, 'gone');
    // Both are disabled by their next delivery (410): keep them out of the later tests.
    await recordUsage(1);
    await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/allocations`,
      { credits: 1 },
      parent.key,
    );
    await pollUntil(
      async () => expectStatus(await service.api.get(endpoints(), parent.key), 200).body.endpoints,
      (listed: Array<{ id: string; disabled: boolean; disabledReason: string }>) =>
        listed.filter(
          (endpoint) => [all.id, allocations.id].includes(endpoint.id) && endpoint.disabledReason === 'gone',
        ).length === 2,
    );
  });

  it('retries a failing and a hanging receiver with backoff, holding later events back, and delivers all in order once it recovers', async () => {
    const flaky = await register('/flaky');
    // Each attempt's answer is fixed in advance (500, then no answer, then 204), so the test does not
    // race the retry schedule: switching modes by hand while 300 ms retries ran could exhaust all
    // four attempts on a loaded machine before the switch to "ok" landed.
    receiver.script('/flaky', ['fail', 'hang']);
    await recordUsage(3);
    await pollUntil(
      async () => deliveries(flaky.id),
      (log) => log.length === 3 && log.every((d) => d.status === 'delivered'),
    );
    const requests = receiver.at('/flaky');
    expect(requests.map((r) => r.answered)).toEqual([500, undefined, 204, 204, 204]);
    // Only the oldest was tried until it got through: the others waited behind it.
    const oldest = requests[0].headers['webhook-id'];
    expect(requests.slice(0, 3).map((r) => r.headers['webhook-id'])).toEqual([oldest, oldest, oldest]);
    const log = await deliveries(flaky.id);
    const first = log.find((d) => d.eventId === oldest)!;
    expect(first.attempts).toBe(3);
    expect(first.attemptLog.map((a) => a.status)).toEqual([500, null, 204]);
    expect(first.attemptLog[1].error).toMatch(/no answer within 800 ms/);
    const firstReceipts: string[] = [];
    for (const request of receiver.at('/flaky')) {
      const id = String(request.headers['webhook-id']);
      if (!firstReceipts.includes(id)) firstReceipts.push(id);
    }
    const revisions = firstReceipts.map((id) =>
      Number(
        verified(
          flaky.secret,
          receiver.at('/flaky').find((r) => r.headers['webhook-id'] === id)!,
        ).data.streamRevision,
      ),
    );
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(revisions).toHaveLength(3);
    // Redelivery sends it again, same webhook-id, verified again.
    const [newest] = await deliveries(flaky.id);
    const before = receiver.at('/flaky').length;
    expect(
      expectStatus(
        await service.api.post(endpoints(`/${flaky.id}/deliveries/${newest.id}/redeliver`), {}, parent.key),
        202,
      ).body,
    ).toMatchObject({ id: newest.id, status: 'pending' });
    await pollUntil(
      async () => receiver.at('/flaky').length,
      (count) => count > before,
    );
    const again = receiver.at('/flaky').at(-1)!;
    expect(again.headers['webhook-id']).toBe(newest.eventId);
    expect(verified(flaky.secret, again).data.eventId).toBe(newest.eventId);
    expectStatus(
      await service.api.post(endpoints(`/${flaky.id}/deliveries/dlv_nope/redeliver`), {}, parent.key),
      404,
    );
    expectStatus(await service.api.delete(endpoints(`/${flaky.id}`), parent.key), 204);
  });

  it('disables an endpoint when the schedule is exhausted and tells the others with WebhookEndpointDisabled', async () => {
    const watcher = await register('/watcher', { eventTypes: ['WebhookEndpointDisabled'] });
    const doomed = await register('/doomed');
    receiver.setMode('/doomed', 'fail');
    await recordUsage(1);
    const disabled = await pollUntil(
      async () => expectStatus(await service.api.get(endpoints(`/${doomed.id}`), parent.key), 200).body,
      (endpoint) => endpoint.disabled === true,
    );
    expect(disabled.disabledReason).toBe('retries_exhausted');
    // The first attempt and three retries.
    expect(receiver.at('/doomed')).toHaveLength(4);
    const [failed] = await deliveries(doomed.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 4, nextAttemptAt: null });
    await pollUntil(
      async () => receiver.at('/watcher'),
      (requests) => requests.length >= 1,
    );
    const notice = verified(watcher.secret, receiver.at('/watcher')[0]);
    expect(notice).toMatchObject({
      type: 'WebhookEndpointDisabled',
      data: {
        streamName: `webhooks-${parent.id}`,
        data: { endpointId: doomed.id, reason: 'retries_exhausted' },
      },
    });
    // Redelivery waits for the endpoint to be enabled again.
    expect(
      expectStatus(
        await service.api.post(endpoints(`/${doomed.id}/deliveries/${failed.id}/redeliver`), {}, parent.key),
        409,
      ).body.code,
    ).toBe('conflict');
  });
});

describe('the SSRF guard', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startServiceProcess({ env: { SUBLEDGER_WEBHOOK_ALLOW_PRIVATE: 'false' } });
  });

  afterAll(async () => {
    await service?.stop();
  });

  it('refuses loopback, private and link-local targets unless SUBLEDGER_WEBHOOK_ALLOW_PRIVATE=true', async () => {
    const parent = await openParent(service);
    for (const url of [
      'http://127.0.0.1:9/hook',
      'http://localhost/hook',
      'http://10.1.2.3/hook',
      'http://192.168.0.1/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'http://[fe80::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://0.0.0.0/hook',
    ]) {
      const refused = expectStatus(
        await service.api.post(`/v1/parents/${parent.id}/webhook-endpoints`, { url }, parent.key),
        400,
      ).body;
      expect(refused.detail).toMatch(/SUBLEDGER_WEBHOOK_ALLOW_PRIVATE/);
    }
    const listed = expectStatus(
      await service.api.get(`/v1/parents/${parent.id}/webhook-endpoints`, parent.key),
      200,
    );
    expect(listed.body.endpoints).toEqual([]);
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/webhook-endpoints`,
        { url: 'https://93.184.215.14/hook' },
        parent.key,
      ),
      201,
    );
  });
});
