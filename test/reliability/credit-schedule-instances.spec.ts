import { CreditScheduler } from '../../src/projections/credit-schedule/credit-scheduler';
import { expectStatus, openParent, readLedger, type OpenedParent } from '../support/ledger-fixtures';
import { testDatabaseUrl } from '../support/database';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { pollUntil } from '../support/poll';
import { startTestService, type TestService } from '../support/service';

/*
 * SPEC §10: expiry "happens on its own, safe with several instances". Two instances start together
 * on one store and one read-side database with a clock past a lot's expiry plus grace; both timers
 * send ExpireCredits and RenewRecurringAllocations at start, and the ledger records each once.
 */

describe('the credit timer with several instances (SPEC §10)', () => {
  let store: TestEventStore;
  let databaseUrl: string;
  const services: TestService[] = [];
  let parent: OpenedParent;
  let sub = '';

  beforeAll(async () => {
    store = await startTestEventStore();
    databaseUrl = await testDatabaseUrl(store.connectionString);
  });

  afterAll(async () => {
    for (const service of services) await service.close();
    await store?.stop();
  });

  const start = async (now: string) => {
    const service = await startTestService({
      eventStoreConnectionString: store.connectionString,
      databaseUrl,
      now,
      operatorToken: 'operator-token-for-two-instances',
    });
    services.push(service);
    return service;
  };

  it('records one expiry and one recurring allocation per period when two instances race for them', async () => {
    const first = await start('2026-10-15T12:00:00Z');
    parent = await openParent(first);
    expectStatus(
      await first.api.post(
        `/v1/parents/${parent.id}/credits`,
        { credits: 1_000, expiresAt: '2026-10-16T00:00:00Z' },
        first.operatorToken,
      ),
      200,
    );
    expectStatus(
      await first.api.post(`/v1/parents/${parent.id}/credits`, { credits: 500 }, first.operatorToken),
      200,
    );
    sub = 'racer';
    expectStatus(
      await first.api.post(
        `/v1/parents/${parent.id}/sub-accounts`,
        { id: sub, name: 'Racer', billingModel: 'bill-to-parent', quota: 300 },
        parent.key,
      ),
      201,
    );
    expectStatus(
      await first.api.put(
        `/v1/parents/${parent.id}/sub-accounts/${sub}/recurring-allocation`,
        { credits: 50 },
        parent.key,
      ),
      200,
    );
    // The read model must hold the schedule before the instances that act on it start.
    await pollUntil(
      () => first.api.get(`/v1/parents/${parent.id}/sub-accounts/${sub}/history`, parent.key),
      (response) => response.status === 200 && response.body.entries.length >= 3,
    );
    await first.close();
    services.length = 0;

    const [a, b] = await Promise.all([start('2026-11-05T00:00:00Z'), start('2026-11-05T00:00:00Z')]);
    const events = await pollUntil(
      () => readLedger(a, parent.id),
      (all) =>
        all.some((e) => e.type === 'CreditsExpired') &&
        all.some((e) => e.type === 'QuotaAllocated' && e.data.period === '2026-11'),
    );
    // Both timers ran at start; give each one more pass, as its next tick would.
    await Promise.all([a, b].map((service) => service.app.get(CreditScheduler).runOnce()));
    const after = await readLedger(b, parent.id);
    expect(after.filter((e) => e.type === 'CreditsExpired')).toHaveLength(1);
    expect(after.filter((e) => e.type === 'QuotaAllocated' && e.data.period === '2026-11')).toHaveLength(1);
    // The quota's 350 of the expiring lot lapsed with it (nothing of it was left for a period reset);
    // November's allocation came from the lot that does not expire.
    expect(events.find((e) => e.type === 'CreditsExpired')?.data).toMatchObject({
      lotId: 'lot-1',
      fromPool: 650,
      fromSubAccounts: [{ subAccountId: sub, credits: 350 }],
    });
    expect(
      after.find((e) => e.type === 'QuotaAllocated' && e.data.period === '2026-11')?.data.portions,
    ).toEqual([{ lotId: 'lot-2', credits: 50 }]);
  });
});
