import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Database } from '../../../src/database/database';
import { createLedgerProcessor, LedgerService } from '../../../src/ledger/application/ledger.service';
import { LedgerRequest } from '../../../src/ledger/application/ledger-request';
import {
  UsageKeyIndexUnavailableError,
  type UsageKeyIndex,
} from '../../../src/ledger/application/usage-key-index';
import { ledgerStreamName, type LedgerState } from '../../../src/ledger/domain';
import { PgUsageKeyIndex } from '../../../src/projections/usage-keys/pg-usage-key-index';
import { openTestDatabase } from '../../support/database';
import { startTestEventStore, type TestEventStore } from '../../support/event-store';
import {
  createSubAccount,
  expectProblem,
  expectStatus,
  openParent,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { pollUntil } from '../../support/poll';
import { startTestService, type TestService } from '../../support/service';

/*
 * The idempotency-key index (SPEC §9): the usage-keys projection keeps every key of the last 35 days in
 * PostgreSQL with how far it has indexed each parent; the write side keeps in memory only the receipts
 * the index has not committed, and answers a repeat from the index plus that tail, one lookup per
 * batch. A parent with 12,000 keys (more than the old single-event snapshot could carry): every key
 * is recognised while memory holds almost none, and usage is refused, recording nothing, while the
 * index cannot be read.
 */

const KEYS = 12_000;
const PER_REQUEST = 1_000;

async function streamLength(client: EventStoreDBClient, stream: string): Promise<number> {
  let events = 0;
  for await (const resolved of client.readStream(stream)) if (resolved.event) events++;
  return events;
}

describe('idempotency keys in the key index', () => {
  let store: TestEventStore;
  let database: Database;
  let service: TestService;
  let parent: OpenedParent;
  let subAccountId: string;
  const original = new Map<string, { usageId: string; remaining: number }>();

  async function indexedThrough(): Promise<number> {
    const { rows } = await database.pool.query<{ revision: string }>(
      'SELECT revision FROM usage_key_heads WHERE parent_id = $1',
      [parent.id],
    );
    return rows.length === 0 ? -1 : Number(rows[0].revision);
  }

  async function waitUntilIndexed(): Promise<void> {
    const head = (await streamLength(store.client, ledgerStreamName(parent.id))) - 1;
    await pollUntil(indexedThrough, (through) => through >= head);
  }

  beforeAll(async () => {
    store = await startTestEventStore();
    database = await openTestDatabase(store.connectionString);
    service = await startTestService({ eventStoreConnectionString: store.connectionString });
    parent = await openParent(service, { credits: 1_000_000 });
    subAccountId = await createSubAccount(service, parent, { quota: 1_000_000 });
    for (let sent = 0; sent < KEYS; sent += PER_REQUEST) {
      const records = Array.from({ length: PER_REQUEST }, (_, index) => ({
        subAccountId,
        idempotencyKey: `key-${sent + index}`,
        credits: 1,
      }));
      const answer = expectStatus(
        await service.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
        200,
      );
      (answer.body.results as { status: number; usageId: string; remaining: number }[]).forEach(
        (result, index) => {
          expect(result.status).toBe(201);
          original.set(`key-${sent + index}`, { usageId: result.usageId, remaining: result.remaining });
        },
      );
    }
    await waitUntilIndexed();
  }, 180_000);

  afterAll(async () => {
    await service?.close();
    await database?.close();
    await store?.stop();
  });

  it('holds every key with its receipt, and how far it has indexed the parent', async () => {
    const { rows } = await database.pool.query<{
      idempotency_key: string;
      usage_id: string;
      remaining: string;
    }>('SELECT idempotency_key, usage_id, remaining FROM usage_keys WHERE parent_id = $1', [parent.id]);
    expect(rows).toHaveLength(KEYS);
    for (const row of rows) {
      expect({ usageId: row.usage_id, remaining: Number(row.remaining) }).toEqual(
        original.get(row.idempotency_key),
      );
    }
  });

  it('keeps in memory only what the index has not committed, and still answers every key as a repeat', async () => {
    const path = `/v1/parents/${parent.id}/usage/batch`;
    // The first usage batch after the index caught up lets memory drop what it holds.
    const sample = [0, 1, 4_999, 11_999].map((n) => `key-${n}`);
    const records = sample.map((idempotencyKey) => ({ subAccountId, idempotencyKey, credits: 1 }));
    const before = await streamLength(store.client, ledgerStreamName(parent.id));
    const answer = expectStatus(await service.api.post(path, { records }, parent.key), 200);
    expect(answer.body.results).toEqual(sample.map((key) => ({ status: 200, ...original.get(key) })));
    expect(await streamLength(store.client, ledgerStreamName(parent.id))).toBe(before);

    const memory = await service.app.get(LedgerService).readAs(null, parent.id, (state: LedgerState) => ({
      indexedThrough: state.usageKeys.indexedThrough,
      held: state.subAccounts.get(subAccountId)!.receipts.size,
    }));
    expect(memory.result.indexedThrough).toBeGreaterThanOrEqual(before - 1);
    expect(memory.result.held).toBe(0);

    // Every key, each now answered from the index alone: the original result, and 409 for another payload.
    for (let sent = 0; sent < KEYS; sent += PER_REQUEST) {
      const repeats = Array.from({ length: PER_REQUEST }, (_, index) => ({
        subAccountId,
        idempotencyKey: `key-${sent + index}`,
        credits: 1,
      }));
      const answered = expectStatus(await service.api.post(path, { records: repeats }, parent.key), 200);
      expect(answered.body.results).toEqual(
        repeats.map(({ idempotencyKey }) => ({ status: 200, ...original.get(idempotencyKey) })),
      );
    }
    const other = await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
      { idempotencyKey: 'key-43', credits: 2 },
      parent.key,
    );
    expectProblem(other, 409, 'idempotency_conflict');
    expect(await streamLength(store.client, ledgerStreamName(parent.id))).toBe(before);
  });

  it('refuses usage (503, nothing recorded) while the index cannot be read, and goes on with reads', async () => {
    let broken = false;
    const real = new PgUsageKeyIndex(database);
    const index: UsageKeyIndex = {
      lookup: (parentId, keys) =>
        broken
          ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))
          : real.lookup(parentId, keys),
    };
    const processor = createLedgerProcessor(store.client, { usageKeyIndex: index });
    const stream = ledgerStreamName(parent.id);
    const usage = (idempotencyKey: string, credits = 1) =>
      LedgerRequest.usage(null, {
        type: 'RecordUsage',
        data: { subAccountId, usageId: `u_${idempotencyKey}`, idempotencyKey, credits },
        metadata: { now: new Date() },
      });
    try {
      const first = usage('key-7');
      await processor.execute(stream, first);
      expect(first.answer()).toEqual({ ...original.get('key-7'), replayed: true });

      broken = true;
      const before = await streamLength(store.client, stream);
      const known = usage('key-8');
      await expect(processor.execute(stream, known)).rejects.toBeInstanceOf(UsageKeyIndexUnavailableError);
      await expect(processor.execute(stream, usage('never-sent'))).rejects.toMatchObject({
        code: 'service_unavailable',
        detail: expect.stringContaining('ECONNREFUSED'),
      });
      const read = LedgerRequest.read(
        null,
        (state: LedgerState) => state.subAccounts.get(subAccountId)?.used,
      );
      await processor.execute(stream, read);
      expect(read.answer()).toBe(KEYS);
      expect(await streamLength(store.client, stream)).toBe(before);

      broken = false;
      const again = usage('key-8');
      await processor.execute(stream, again);
      expect(again.answer()).toEqual({ ...original.get('key-8'), replayed: true });
    } finally {
      await processor.close();
    }
  });
});
