import {
  createSubAccount,
  expectStatus,
  openParent,
  poolOf,
  readLedger,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';
import { recount } from '../../support/ledger-recount';

/*
 * SPEC rule 3, end to end over HTTP: pool 20,000; allocate 8,000; the sub-account uses 2,000; its
 * quota is set to 2,000 → 6,000 go back, the pool shows 18,000 available and the sub-account 0
 * remaining, and the stream says so in a CreditsReturned of 6,000.
 */
describe("ShortPixel's example (rule 3)", () => {
  let service: TestService;
  let parent: OpenedParent;
  let sub: string;

  beforeAll(async () => {
    service = await startTestService();
    parent = await openParent(service, { id: 'shortpixel', credits: 20_000 });
    sub = await createSubAccount(service, parent, { id: 'sp', billingModel: 'bill-to-parent' });
  });

  afterAll(async () => {
    await service?.close();
  });

  it('comes out exactly: pool 18,000 available, sub-account 0 remaining, a CreditsReturned of 6,000', async () => {
    const base = `/v1/parents/${parent.id}/sub-accounts/${sub}`;
    expectStatus(await service.api.post(`${base}/allocations`, { credits: 8_000 }, parent.key), 200, 201);
    const usage = expectStatus(
      await service.api.post(
        `${base}/usage`,
        { idempotencyKey: 'batch-2026-10', credits: 2_000 },
        parent.key,
      ),
      201,
    );
    expect(usage.body.remaining).toBe(6_000);
    expectStatus(await service.api.put(`${base}/quota`, { quota: 2_000 }, parent.key), 200);

    const pool = poolOf(
      expectStatus(await service.api.get(`/v1/parents/${parent.id}`, parent.key), 200).body,
    );
    expect(pool).toMatchObject({ purchased: 20_000, allocated: 2_000, available: 18_000, used: 2_000 });
    const subAccount = expectStatus(await service.api.get(base, parent.key), 200).body;
    expect(subAccount).toMatchObject({ quota: 2_000, used: 2_000, remaining: 0 });
    const balance = expectStatus(await service.api.get(`${base}/balance`, parent.key), 200).body;
    expect(JSON.stringify(balance)).toContain('"remaining":0');

    const events = await readLedger(service, parent.id);
    const returned = events.filter((event) => event.type === 'CreditsReturned');
    expect(returned.map((event) => event.data)).toEqual([
      {
        subAccountId: 'sp',
        credits: 6_000,
        reason: 'quota-lowered',
        balancesAfter: {
          subAccount: { quota: 2_000, used: 2_000, remaining: 0 },
          pool: { purchased: 20_000, allocated: 2_000, available: 18_000, used: 2_000, expired: 0 },
        },
        portions: [{ lotId: 'lot-1', credits: 6_000 }],
      },
    ]);
    expect(recount(events).violations).toEqual([]);
  });

  it('lowering the quota below the 2,000 used is refused and records nothing', async () => {
    const before = (await readLedger(service, parent.id)).length;
    const response = await service.api.put(
      `/v1/parents/${parent.id}/sub-accounts/${sub}/quota`,
      { quota: 1_999 },
      parent.key,
    );
    expect([response.status, response.body.code]).toEqual([409, 'quota_below_used']);
    expect((await readLedger(service, parent.id)).length).toBe(before);
  });
});
