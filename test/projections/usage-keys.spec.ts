import type { Database } from '../../src/database/database';
import { USAGE_KEY_RETENTION_MS } from '../../src/ledger/domain';
import type { RecordedEnvelope } from '../../src/projections/projection';
import { PgUsageKeyIndex } from '../../src/projections/usage-keys/pg-usage-key-index';
import {
  USAGE_KEY_HEADS_TABLE,
  USAGE_KEYS_TABLE,
  usageKeysInto,
  usageKeysProjection,
} from '../../src/projections/usage-keys/usage-keys.projection';
import { openTestDatabase } from '../support/database';

/*
 * The usage-keys projection and its lookup on a real PostgreSQL: the newest receipt of a key wins
 * (also within one batch, and never an older one replayed over it), the head is the parent's last
 * revision folded, and keys leave the index exactly when decide stops honouring them — 35 days
 * before the parent's newest indexed recording, by the ledger's clock — and not a millisecond earlier.
 */

const DAY = 24 * 60 * 60 * 1000;
const START = Date.parse('2026-10-01T00:00:00Z');

function usage(
  parentId: string,
  revision: number,
  key: string,
  recordedAtMs: number,
  usageId = `u_${revision}`,
): RecordedEnvelope {
  return {
    type: 'UsageRecorded',
    streamName: `ledger-${parentId}`,
    revision: BigInt(revision),
    data: {
      subAccountId: 's1',
      idempotencyKey: key,
      usageId,
      fingerprint: `f${revision}`,
      recordedAt: new Date(recordedAtMs).toISOString(),
      balancesAfter: { subAccount: { quota: 100, used: revision, remaining: 100 - revision } },
    },
  } as unknown as RecordedEnvelope;
}

function other(parentId: string, revision: number): RecordedEnvelope {
  return {
    type: 'QuotaAllocated',
    streamName: `ledger-${parentId}`,
    revision: BigInt(revision),
    data: {},
  } as unknown as RecordedEnvelope;
}

describe('the usage-keys projection and its lookup', () => {
  let database: Database;
  let index: PgUsageKeyIndex;
  let n = 0;
  const parent = () => `p${Date.now()}_${n++}`;
  const write = (events: RecordedEnvelope[]) =>
    database.transaction((client) => usageKeysProjection.write(client, events));
  const keys = (...names: string[]) =>
    names.map((idempotencyKey) => ({ subAccountId: 's1', idempotencyKey }));

  beforeAll(async () => {
    database = await openTestDatabase();
    index = new PgUsageKeyIndex(database);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('answers the receipts of the keys asked and the head, -1 for a parent it has not indexed', async () => {
    const p = parent();
    expect(await index.lookup(p, keys('a'))).toEqual({
      indexedThrough: -1,
      receipts: new Map(),
      reversibleThrough: -1,
    });
    await write([other(p, 0), usage(p, 1, 'a', START), usage(p, 2, 'b', START + 1), other(p, 3)]);
    const lookup = await index.lookup(p, keys('a', 'c'));
    expect(lookup.indexedThrough).toBe(3);
    expect([...lookup.receipts.values()]).toEqual([
      {
        subAccountId: 's1',
        idempotencyKey: 'a',
        usageId: 'u_1',
        fingerprint: 'f1',
        remaining: 99,
        recordedAtMs: START,
        revision: 1,
      },
    ]);
    // Another parent's keys are not this one's.
    expect((await index.lookup(parent(), keys('a'))).receipts.size).toBe(0);
  });

  it('keeps the newest receipt of a key reused after it expired, within a batch and across batches', async () => {
    const p = parent();
    const later = START + 36 * DAY;
    await write([usage(p, 0, 'a', START), usage(p, 1, 'a', later, 'u_reused')]);
    expect((await index.lookup(p, keys('a'))).receipts.get('s1\u0000a')?.usageId).toBe('u_reused');
    // An older receipt of the key arriving again (a replayed batch) does not replace the newer one.
    await write([usage(p, 0, 'a', START)]);
    const lookup = await index.lookup(p, keys('a'));
    expect(lookup.receipts.get('s1\u0000a')?.usageId).toBe('u_reused');
    expect(lookup.indexedThrough).toBe(1);
  });

  it('drops a key once the parent records 35 days after it, not a millisecond before', async () => {
    const p = parent();
    await write([usage(p, 0, 'old', START), usage(p, 1, 'young', START + DAY)]);
    await write([usage(p, 2, 'nearly', START + USAGE_KEY_RETENTION_MS - 1)]);
    expect([...(await index.lookup(p, keys('old', 'young'))).receipts.keys()].sort()).toEqual([
      's1\u0000old',
      's1\u0000young',
    ]);
    await write([usage(p, 3, 'now', START + USAGE_KEY_RETENTION_MS)]);
    expect([...(await index.lookup(p, keys('old', 'young', 'now'))).receipts.keys()].sort()).toEqual([
      's1\u0000now',
      's1\u0000young',
    ]);
    // Another parent's clock expires nothing of this one.
    const q = parent();
    await write([usage(q, 0, 'kept', START), usage(p, 4, 'far', START + 100 * DAY)]);
    expect((await index.lookup(q, keys('kept'))).receipts.size).toBe(1);
    expect([...(await index.lookup(p, keys('young', 'now', 'far'))).receipts.keys()]).toEqual([
      's1\u0000far',
    ]);
  });

  it('sweeps expired keys out of the table, by each parent’s own clock', async () => {
    const p = parent();
    const q = parent();
    await write([usage(p, 0, 'expired', START), usage(q, 0, 'other-clock', START)]);
    await write([usage(p, 1, 'live', START + USAGE_KEY_RETENTION_MS)]);
    const rowsOf = async (parentId: string) =>
      (
        await database.pool.query<{ idempotency_key: string }>(
          'SELECT idempotency_key FROM usage_keys_v1 WHERE parent_id = $1 ORDER BY 1',
          [parentId],
        )
      ).rows.map((row) => row.idempotency_key);
    // A process sweeps on its first batch, then every few minutes: a fresh one sweeps now.
    const sweeping = usageKeysInto(USAGE_KEYS_TABLE, USAGE_KEY_HEADS_TABLE, usageKeysProjection.version);
    await database.transaction((client) => sweeping.write(client, [other(p, 2)]));
    expect(await rowsOf(p)).toEqual(['live']);
    expect(await rowsOf(q)).toEqual(['other-clock']);
  });
});
