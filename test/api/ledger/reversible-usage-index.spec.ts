import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Database } from '../../../src/database/database';
import { createLedgerProcessor, LedgerService } from '../../../src/ledger/application/ledger.service';
import { LedgerRequest } from '../../../src/ledger/application/ledger-request';
import {
  ReversibleUsageIndexUnavailableError,
  type ReversibleUsageIndex,
} from '../../../src/ledger/application/reversible-usage-index';
import { ledgerStreamName, type LedgerState } from '../../../src/ledger/domain';
import { PgUsageKeyIndex } from '../../../src/projections/usage-keys/pg-usage-key-index';
import { openTestDatabase } from '../../support/database';
import {
  createSubAccount,
  eventStoreClientOf,
  expectProblem,
  expectStatus,
  ledgerRevision,
  openParent,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { pollUntil } from '../../support/poll';
import { startTestService, type TestService } from '../../support/service';

/*
 * Reversible usage out of the ledger's memory (SPEC §9, §10): the reversible-usage projection keeps
 * every usage record of the last 35 days with the credits reversed so far, and every reversal with its
 * key, in PostgreSQL; the write side keeps only what the index has not committed. After a restart with
 * a later clock, memory holds no usage at all, and a reversal of usage recorded days before is decided
 * from the index (its earlier reversal counted once, with the new one in memory's tail), and a repeat
 * of a reversal key answers the original reversal.
 */

const RECORDS = 200;

describe('usage reversals decided from the reversible-usage index', () => {
  let dataDir: string;
  let database: Database;
  let service: TestService;
  let parent: OpenedParent;
  let subAccountId: string;
  let usageId: string;
  let firstReversal: { reversalId: string; remaining: number };

  const reversals = () => `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage/${usageId}/reversals`;

  async function indexedThrough(): Promise<number> {
    const { rows } = await database.pool.query<{ revision: string }>(
      'SELECT revision FROM reversible_usage_heads WHERE parent_id = $1',
      [parent.id],
    );
    return rows.length === 0 ? -1 : Number(rows[0].revision);
  }

  async function restartIndexed(now: string): Promise<void> {
    const head = Number(await ledgerRevision(service, parent.id));
    await pollUntil(indexedThrough, (through) => through >= head);
    await service.close();
    service = await startTestService({ dataDir, now });
  }

  /** What the ledger's state holds of reversible usage, read in the parent's queue. */
  async function memory(): Promise<{ usages: number; reversals: number; indexedThrough: number }> {
    const read = await service.app.get(LedgerService).readAs(null, parent.id, (state: LedgerState) => ({
      usages: state.reversible.usages.size,
      reversals: state.reversible.reversals.size,
      indexedThrough: state.reversible.indexedThrough,
    }));
    return read.result;
  }

  /** One usage batch: its prepare lets memory drop what the indexes have committed. */
  async function recordUsage(keyPrefix: string, count: number): Promise<string[]> {
    const records = Array.from({ length: count }, (_, n) => ({
      subAccountId,
      idempotencyKey: `${keyPrefix}-${n}`,
      credits: 10,
    }));
    const answer = expectStatus(
      await service.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
      200,
    );
    return (answer.body.results as { status: number; usageId: string }[]).map((result) => {
      expect(result.status).toBe(201);
      return result.usageId;
    });
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-reversible-'));
    service = await startTestService({ dataDir, now: '2026-10-15T12:00:00Z' });
    database = await openTestDatabase(dataDir);
    parent = await openParent(service, { credits: 100_000 });
    subAccountId = await createSubAccount(service, parent, { quota: 10_000 });
    [usageId] = await recordUsage('early', RECORDS);
    const first = expectStatus(
      await service.api.post(
        reversals(),
        { idempotencyKey: 'r-1', reason: 'double count', credits: 4 },
        parent.key,
      ),
      201,
    );
    firstReversal = { reversalId: first.body.reversalId, remaining: first.body.remaining };
    expect(firstReversal.remaining).toBe(10_000 - RECORDS * 10 + 4);
  }, 120_000);

  afterAll(async () => {
    await service?.close();
    await database?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('indexes every usage record with the credits reversed so far, and the reversal with its answer', async () => {
    const head = Number(await ledgerRevision(service, parent.id));
    await pollUntil(indexedThrough, (through) => through >= head);
    const { rows } = await database.pool.query<{ usage_id: string; credits: string; reversed: string }>(
      'SELECT usage_id, credits, reversed FROM reversible_usages WHERE parent_id = $1',
      [parent.id],
    );
    expect(rows).toHaveLength(RECORDS);
    expect(rows.find((row) => row.usage_id === usageId)).toEqual({
      usage_id: usageId,
      credits: '10',
      reversed: '4',
    });
    const keys = await database.pool.query(
      'SELECT usage_id, idempotency_key, reversal_id, credits FROM usage_reversals WHERE parent_id = $1',
      [parent.id],
    );
    expect(keys.rows).toEqual([
      { usage_id: usageId, idempotency_key: 'r-1', reversal_id: firstReversal.reversalId, credits: '4' },
    ]);
  });

  it('reverses usage recorded days before a restart from the index, with none of it in memory', async () => {
    await restartIndexed('2026-10-25T12:00:00Z');
    await recordUsage('later', 1);
    const held = await memory();
    // Only the usage recorded since the index's head can be left in memory.
    expect(held.usages).toBeLessThanOrEqual(1);
    expect(held.reversals).toBe(0);
    expect(held.indexedThrough).toBeGreaterThanOrEqual(RECORDS);

    const second = expectStatus(
      await service.api.post(
        reversals(),
        { idempotencyKey: 'r-2', reason: 'refund', credits: 6 },
        parent.key,
      ),
      201,
    );
    expect(second.body).toMatchObject({ usageId, credits: 6, remaining: firstReversal.remaining - 10 + 6 });
    // 4 reversed before (in the index) and 6 now (in memory): nothing is left, whichever holds what.
    const before = await ledgerRevision(service, parent.id);
    expectProblem(
      await service.api.post(reversals(), { idempotencyKey: 'r-3', reason: 'again', credits: 1 }, parent.key),
      409,
      'reversal_exceeds_usage',
    );
    expect(await ledgerRevision(service, parent.id)).toBe(before);
  });

  it('answers a repeat of a reversal key after a restart with the same reversal, recording nothing', async () => {
    await restartIndexed('2026-10-30T12:00:00Z');
    await recordUsage('latest', 1);
    expect((await memory()).reversals).toBe(0);
    const before = await ledgerRevision(service, parent.id);
    const repeat = expectStatus(
      await service.api.post(
        reversals(),
        { idempotencyKey: 'r-1', reason: 'double count', credits: 4 },
        parent.key,
      ),
      200,
    );
    expect(repeat.body).toMatchObject({ reversalId: firstReversal.reversalId, usageId, credits: 4 });
    expectProblem(
      await service.api.post(
        reversals(),
        { idempotencyKey: 'r-1', reason: 'double count', credits: 3 },
        parent.key,
      ),
      409,
      'idempotency_conflict',
    );
    expect(await ledgerRevision(service, parent.id)).toBe(before);
  });

  it('refuses a reversal (503, nothing recorded) while the index cannot be read and memory has left usage to it', async () => {
    let broken = false;
    const real = new PgUsageKeyIndex(database);
    const reversible: ReversibleUsageIndex = {
      lookupReversible: (parentId, refs) =>
        broken
          ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))
          : real.lookupReversible(parentId, refs),
    };
    // A processor of its own that appends nothing here: repeats and refusals only.
    const processor = createLedgerProcessor(eventStoreClientOf(service), {
      usageKeyIndex: real,
      reversibleUsageIndex: reversible,
    });
    const stream = ledgerStreamName(parent.id);
    const repeat = () =>
      LedgerRequest.reversal(null, {
        type: 'ReverseUsage',
        data: {
          subAccountId,
          usageId,
          reversalId: 'rev_unused',
          idempotencyKey: 'r-1',
          reason: 'double count',
          credits: 4,
        },
        metadata: { now: new Date('2026-10-30T12:00:00Z') },
      });
    try {
      // A usage repeat first: its key lookup lets this processor's memory drop the indexed usage.
      const usage = LedgerRequest.usage(null, {
        type: 'RecordUsage',
        data: { subAccountId, usageId: 'u_unused', idempotencyKey: 'early-0', credits: 10 },
        metadata: { now: new Date('2026-10-30T12:00:00Z') },
      });
      await processor.execute(stream, usage);
      expect(usage.answer()).toMatchObject({ usageId, replayed: true });

      broken = true;
      const before = await ledgerRevision(service, parent.id);
      await expect(processor.execute(stream, repeat())).rejects.toBeInstanceOf(
        ReversibleUsageIndexUnavailableError,
      );
      await expect(processor.execute(stream, repeat())).rejects.toMatchObject({
        code: 'service_unavailable',
        detail: expect.stringContaining('reversible-usage index (PostgreSQL) could not be read'),
      });
      expect(await ledgerRevision(service, parent.id)).toBe(before);

      broken = false;
      const again = repeat();
      await processor.execute(stream, again);
      expect(again.answer()).toMatchObject({
        reversalId: firstReversal.reversalId,
        credits: 4,
        replayed: true,
      });
    } finally {
      await processor.close();
    }
  });
});
