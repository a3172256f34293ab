import { jsonEvent, type EventStoreDBClient, type JSONType } from '@eventstore/db-client';
import { CommandProcessor } from '../../../src/event-store/command-processing';
import {
  JOURNAL_EVENT_TYPE,
  SNAPSHOT_EVENT_TYPE,
} from '../../../src/event-store/command-processing/snapshot-store';
import { LedgerRequest, ledgerRequestDecider } from '../../../src/ledger/application/ledger-request';
import {
  LEDGER_SNAPSHOT_SCHEMA_VERSION,
  evolve,
  initialLedgerState,
  ledgerStreamName,
  usageKeyJournal,
  type LedgerEvent,
  type LedgerState,
} from '../../../src/ledger/domain';
import { startTestEventStore, type TestEventStore } from '../../support/event-store';
import {
  createSubAccount,
  expectProblem,
  expectStatus,
  openParent,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/*
 * A parent with more live idempotency keys than one snapshot event could carry (12,000 keys ≈ 1.4 MiB
 * of receipts in the former snapshot format, against the 1 MiB append limit): the service snapshots it anyway, with the keys in the
 * `ledgerkeys-` journal, and a fresh service loads it from the snapshot and a short tail, answers a
 * read before the keys are back, and still recognises every key recorded before the snapshot.
 */

const KEYS = 12_000;
const PER_REQUEST = 1_000;

async function readAll(client: EventStoreDBClient, stream: string) {
  const events = [];
  for await (const resolved of client.readStream(stream)) events.push(resolved.event!);
  return events;
}

describe('idempotency keys across snapshots (key journal)', () => {
  let store: TestEventStore;
  let parent: OpenedParent;
  let subAccountId: string;
  const original = new Map<string, { usageId: string; remaining: number }>();

  beforeAll(async () => {
    store = await startTestEventStore();
    const writer = await startTestService({ eventStoreConnectionString: store.connectionString });
    try {
      parent = await openParent(writer, { credits: 1_000_000 });
      subAccountId = await createSubAccount(writer, parent, { quota: 1_000_000 });
      for (let sent = 0; sent < KEYS; sent += PER_REQUEST) {
        const records = Array.from({ length: PER_REQUEST }, (_, index) => ({
          subAccountId,
          idempotencyKey: `key-${sent + index}`,
          credits: 1,
        }));
        const answer = expectStatus(
          await writer.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
          200,
        );
        (answer.body.results as { status: number; usageId: string; remaining: number }[]).forEach(
          (result, index) => {
            expect(result.status).toBe(201);
            original.set(`key-${sent + index}`, { usageId: result.usageId, remaining: result.remaining });
          },
        );
      }
    } finally {
      // Waits for the snapshot writes in flight.
      await writer.close();
    }
  }, 120_000);

  afterAll(async () => {
    await store?.stop();
  });

  it('writes a small core snapshot and the keys in a journal that names how far it goes', async () => {
    // The two newest snapshots are kept; the newest is the one a load starts from.
    const snapshot = (await readAll(store.client, `ledgersnapshot-${parent.id}`)).at(-1)!;
    expect(snapshot.type).toBe(SNAPSHOT_EVENT_TYPE);
    const data = snapshot.data as { revision: string; journalThrough: string; version: number };
    expect(data.version).toBe(LEDGER_SNAPSHOT_SCHEMA_VERSION);
    expect(data.journalThrough).toBe(data.revision);
    expect(JSON.stringify(snapshot.data).length).toBeLessThan(10_000);
    // A snapshot follows the first append that brings 500 events since the last one, and an append
    // carries at most 500 commands: the last is under 1,000 events from the end (4 + 12,000).
    expect(Number(data.revision)).toBeGreaterThanOrEqual(KEYS + 3 - 1_000);

    const journal = await readAll(store.client, `ledgerkeys-${parent.id}`);
    expect(journal.length).toBeGreaterThan(1);
    expect(journal.every((event) => event.type === JOURNAL_EVENT_TYPE)).toBe(true);
    const keys = journal.reduce(
      (sum, event) => sum + (event.data as { entry: { key: string[] } }).entry.key.length,
      0,
    );
    expect(keys).toBeLessThanOrEqual(KEYS);
    expect(keys).toBeGreaterThanOrEqual(KEYS - 1_000);
    const metadata = await store.client.getStreamMetadata(`ledgerkeys-${parent.id}`);
    expect(metadata.metadata?.maxAge).toBe(36 * 24 * 60 * 60);
  });

  it('loads from the snapshot and a short tail, answers reads at once and waits for the keys only for usage', async () => {
    const loads: { events: number; fromSnapshot: boolean }[] = [];
    const restored: number[] = [];
    const processor = new CommandProcessor({
      client: store.client,
      decider: ledgerRequestDecider,
      observer: {
        onLoad: ({ events, fromSnapshot }) => loads.push({ events, fromSnapshot }),
        onJournalRestored: ({ entries }) => restored.push(entries),
      },
    });
    try {
      const stream = ledgerStreamName(parent.id);
      const read = LedgerRequest.read(
        null,
        (state: LedgerState) => state.subAccounts.get(subAccountId)?.used,
      );
      await processor.execute(stream, read);
      expect(read.answer()).toBe(KEYS);
      expect(loads).toEqual([{ events: expect.any(Number), fromSnapshot: true }]);
      expect(loads[0].events).toBeLessThanOrEqual(1_000);
      // Answered from the core snapshot and the tail: the keys are restored only when usage needs them.
      expect(restored).toEqual([]);

      const usage = LedgerRequest.usage(null, {
        type: 'RecordUsage',
        data: { subAccountId, usageId: 'u_never_used', idempotencyKey: 'key-7', credits: 1 },
        metadata: { now: new Date() },
      });
      const repeat = await processor.execute(stream, usage);
      expect(restored).toHaveLength(1);
      expect(usage.answer()).toEqual({ ...original.get('key-7'), replayed: true });
      expect(repeat.eventCount).toBe(0);
    } finally {
      await processor.close();
    }
  });

  it('a fresh service answers a repeat of a key recorded before the snapshot with the original result, and 409 for another payload', async () => {
    const service: TestService = await startTestService({
      eventStoreConnectionString: store.connectionString,
    });
    try {
      const before = await readAll(store.client, ledgerStreamName(parent.id));
      const path = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
      const same = expectStatus(
        await service.api.post(path, { idempotencyKey: 'key-42', credits: 1 }, parent.key),
        200,
      );
      expect(same.body).toEqual(original.get('key-42'));
      const other = await service.api.post(path, { idempotencyKey: 'key-43', credits: 2 }, parent.key);
      expectProblem(other, 409, 'idempotency_conflict');
      const after = await readAll(store.client, ledgerStreamName(parent.id));
      expect(after).toHaveLength(before.length);
    } finally {
      await service.close();
    }
  });

  it('loads the right keys after a crash between the journal append and the snapshot', async () => {
    const stream = ledgerStreamName(parent.id);
    const writer = await startTestService({ eventStoreConnectionString: store.connectionString });
    const extra = new Map<string, { usageId: string; remaining: number }>();
    try {
      // 300 more keys: fewer than a snapshot interval, so they sit in the tail after the snapshot.
      const records = Array.from({ length: 300 }, (_, index) => ({
        subAccountId,
        idempotencyKey: `late-${index}`,
        credits: 1,
      }));
      const answer = expectStatus(
        await writer.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
        200,
      );
      (answer.body.results as { usageId: string; remaining: number }[]).forEach((result, index) =>
        extra.set(`late-${index}`, { usageId: result.usageId, remaining: result.remaining }),
      );
    } finally {
      await writer.close();
    }
    // What the processor would append before a snapshot at the stream's end, written without the
    // snapshot (the process died in between), plus a duplicate of the journal's first chunk.
    // The two newest snapshots are kept; the newest is the one a load starts from.
    const snapshot = (await readAll(store.client, `ledgersnapshot-${parent.id}`)).at(-1)!;
    const snapshotRevision = BigInt((snapshot.data as { revision: string }).revision);
    const state = initialLedgerState();
    let revision = -1n;
    for (const event of await readAll(store.client, stream)) {
      evolve(state, { type: event.type, data: event.data } as LedgerEvent);
      revision = event.revision;
    }
    const [firstChunk] = await readAll(store.client, `ledgerkeys-${parent.id}`);
    const crashed = usageKeyJournal(state, Number(snapshotRevision), Number(revision), 100_000);
    expect(crashed.length).toBeGreaterThan(0);
    for (const entry of crashed) {
      await store.client.appendToStream(
        `ledgerkeys-${parent.id}`,
        jsonEvent({
          type: JOURNAL_EVENT_TYPE,
          data: {
            journalOf: stream,
            after: snapshotRevision.toString(),
            through: revision.toString(),
            version: LEDGER_SNAPSHOT_SCHEMA_VERSION,
            entry: entry as unknown as JSONType,
          },
        }),
      );
    }
    await store.client.appendToStream(
      `ledgerkeys-${parent.id}`,
      jsonEvent({ type: JOURNAL_EVENT_TYPE, data: firstChunk.data as JSONType }),
    );

    const service = await startTestService({ eventStoreConnectionString: store.connectionString });
    try {
      const path = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
      for (const key of ['key-0', 'key-11999', 'late-0', 'late-299']) {
        const answer = expectStatus(
          await service.api.post(path, { idempotencyKey: key, credits: 1 }, parent.key),
          200,
        );
        expect(answer.body).toEqual(original.get(key) ?? extra.get(key));
      }
      const fresh = expectStatus(
        await service.api.post(path, { idempotencyKey: 'new-key', credits: 1 }, parent.key),
        201,
      );
      expect(fresh.body.remaining).toBe(1_000_000 - KEYS - 300 - 1);
    } finally {
      await service.close();
    }
  });
});
