import {
  createSubAccount,
  expectProblem,
  expectStatus,
  ledgerRevision,
  openParent,
  readLedger,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/*
 * SPEC §11's alerts through real HTTP: the operator sets a parent's thresholds and pool floor with
 * PATCH; usage that crosses a threshold and an allocation that takes the pool below its floor record
 * QuotaThresholdReached and PoolBalanceLow in the same append, and the feed shows them (webhooks
 * deliver what the feed shows).
 */

describe('alerts (SPEC §11)', () => {
  let service: TestService;
  let parent: OpenedParent;

  beforeAll(async () => {
    service = await startTestService({ now: '2026-10-15T12:00:00Z' });
    parent = await openParent(service, { credits: 10_000 });
  });

  afterAll(async () => {
    await service?.close();
  });

  it('sets thresholds and a pool floor, refusing bad ones with nothing recorded', async () => {
    const path = `/v1/parents/${parent.id}`;
    expect(expectStatus(await service.api.get(path, parent.key), 200).body).toMatchObject({
      alertThresholds: [80, 100],
      lowPoolThreshold: null,
    });
    const before = await ledgerRevision(service, parent.id);
    for (const body of [{ alertThresholds: [0] }, { alertThresholds: [101] }, { lowPoolThreshold: -1 }]) {
      expectProblem(await service.api.patch(path, body, service.operatorToken), 400, 'validation_failed');
    }
    expectProblem(await service.api.patch(path, { alertThresholds: [50] }, parent.key), 403);
    expect(await ledgerRevision(service, parent.id)).toBe(before);
    const set = expectStatus(
      await service.api.patch(
        path,
        { alertThresholds: [100, 50], lowPoolThreshold: 6_000 },
        service.operatorToken,
      ),
      200,
    );
    expect(set.body).toMatchObject({ alertThresholds: [50, 100], lowPoolThreshold: 6_000 });
  });

  it('records the alerts with the usage and the allocation that cross them, once, and the feed shows them', async () => {
    const sub = await createSubAccount(service, parent, { quota: 1_000 });
    const usage = (key: string, credits: number) =>
      service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${sub}/usage`,
        { idempotencyKey: key, credits },
        parent.key,
      );
    expectStatus(await usage('u1', 400), 201);
    expectStatus(await usage('u2', 200), 201);
    expectStatus(await usage('u3', 10), 201);
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${sub}/allocations`,
        { credits: 3_500 },
        parent.key,
      ),
      200,
    );
    const events = await readLedger(service, parent.id);
    const alerts = events.filter((e) => e.type === 'QuotaThresholdReached' || e.type === 'PoolBalanceLow');
    expect(alerts.map((e) => [e.type, e.data])).toEqual([
      ['QuotaThresholdReached', { subAccountId: sub, threshold: 50, quota: 1_000, used: 600 }],
      ['PoolBalanceLow', { available: 5_500, threshold: 6_000 }],
    ]);
    // Recorded in the same append as the usage that crossed, right after it.
    const crossing = events.findIndex((e) => e.type === 'QuotaThresholdReached');
    expect(events[crossing - 1]).toMatchObject({ type: 'UsageRecorded', data: { idempotencyKey: 'u2' } });
    expect(events[crossing].metadata.requestId).toBe(events[crossing - 1].metadata.requestId);

    const feed = expectStatus(
      await service.api.get(
        `/v1/parents/${parent.id}/events?types=QuotaThresholdReached,PoolBalanceLow`,
        parent.key,
      ),
      200,
    );
    expect(feed.body.events.map((e: any) => e.type)).toEqual(['QuotaThresholdReached', 'PoolBalanceLow']);
  });
});
