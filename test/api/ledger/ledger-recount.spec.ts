import type { StoredEvent } from '../../support/ledger-fixtures';
import { recount } from '../../support/ledger-recount';

/* The auditor's recount must itself be able to fail: broken histories are caught. */

const pool = (purchased: number, allocated: number, used: number) => ({
  purchased,
  allocated,
  available: purchased - allocated,
  used,
});

function history(...events: [string, Record<string, unknown>][]): StoredEvent[] {
  return events.map(([type, data], index) => ({ revision: BigInt(index), type, data, metadata: {} }));
}

const opened = history(
  ['CreditsPurchased', { credits: 100, balancesAfter: { pool: pool(100, 0, 0) } }],
  ['SubAccountCreated', { subAccountId: 's' }],
  [
    'QuotaAllocated',
    {
      subAccountId: 's',
      credits: 10,
      balancesAfter: { subAccount: { quota: 10, used: 0, remaining: 10 }, pool: pool(100, 10, 0) },
    },
  ],
);

const usage = (key: string, credits: number, used: number) =>
  history([
    'UsageRecorded',
    {
      subAccountId: 's',
      idempotencyKey: key,
      credits,
      balancesAfter: { subAccount: { quota: 10, used, remaining: 10 - used }, pool: pool(100, 10, used) },
    },
  ])[0];

describe('ledger recount', () => {
  it('finds nothing wrong in a sound history', () => {
    expect(recount([...opened, { ...usage('a', 4, 4), revision: 3n }]).violations).toEqual([]);
  });

  it('catches usage beyond the quota (rule 2)', () => {
    expect(recount([...opened, { ...usage('a', 11, 11), revision: 3n }]).violations.join()).toContain(
      'rule 2',
    );
  });

  it('catches an idempotency key recorded twice (rule 5)', () => {
    const violations = recount([...opened, usage('a', 1, 1), usage('a', 1, 2)]).violations;
    expect(violations.join()).toContain('recorded twice');
  });

  it('catches a misstated balance', () => {
    expect(recount([...opened, usage('a', 1, 2)]).violations.join()).toContain('balancesAfter');
  });

  it('catches an allocation beyond the pool (rule 1)', () => {
    const overdrawn = history(
      ['CreditsPurchased', { credits: 5, balancesAfter: { pool: pool(5, 0, 0) } }],
      ['SubAccountCreated', { subAccountId: 's' }],
      [
        'QuotaAllocated',
        {
          subAccountId: 's',
          credits: 6,
          balancesAfter: { subAccount: { quota: 6, used: 0, remaining: 6 }, pool: pool(5, 6, 0) },
        },
      ],
    );
    expect(recount(overdrawn).violations.join()).toContain('rule 1');
  });

  it('catches a movement after a closing (rule 10)', () => {
    const closed = history(
      ...opened.map((event): [string, Record<string, unknown>] => [event.type, event.data]),
      [
        'SubAccountClosed',
        {
          subAccountId: 's',
          returnedCredits: 10,
          balancesAfter: { subAccount: { quota: 0, used: 0, remaining: 0 }, pool: pool(100, 0, 0) },
        },
      ],
      [
        'QuotaAllocated',
        {
          subAccountId: 's',
          credits: 1,
          balancesAfter: { subAccount: { quota: 1, used: 0, remaining: 1 }, pool: pool(100, 1, 0) },
        },
      ],
    );
    expect(recount(closed).violations.join()).toContain('closed sub-account');
  });
});
