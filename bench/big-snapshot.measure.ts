/*
 * One-off measurement of the snapshot of one parent with many sub-accounts (issue #13, item 3): the
 * ledger's events decided by its own decider and appended straight to an embedded store (data on
 * disk), then the command processor's own snapshot code, then a cold load by a fresh processor.
 * Prints the snapshot's size and chunks, the time to write it and the cold load's time and tail.
 *
 *   npx ts-node --transpile-only bench/big-snapshot.measure.ts [--subs 100000] [--tail 500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { startEmbeddedEventStore } from '../src/embedded-eventstore';
import { CommandProcessor } from '../src/event-store/command-processing';
import {
  decideWithResult,
  evolve,
  initialLedgerState,
  ledgerDecider,
  toSnapshot,
  type LedgerCommand,
  type LedgerEvent,
} from '../src/ledger/domain';

const { values } = parseArgs({
  options: { subs: { type: 'string', default: '100000' }, tail: { type: 'string', default: '500' } },
});
const SUBS = Number(values.subs);
const TAIL = Number(values.tail);
const NOW = new Date('2026-10-15T12:00:00Z');
const command = (type: string, data: Record<string, unknown>) =>
  ({ type, data, metadata: { now: NOW } }) as unknown as LedgerCommand;
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'subledger-big-snapshot-'));
  const server = await startEmbeddedEventStore({ host: '127.0.0.1', port: 0, dataDir });
  const client = EventStoreDBClient.connectionString(server.connectionString);
  const stream = 'ledger-bigco';
  try {
    const state = initialLedgerState();
    let pending: LedgerEvent[] = [];
    let revision = -1n;
    const flush = async () => {
      if (pending.length === 0) return;
      const result = await client.appendToStream(
        stream,
        pending.map((event) => jsonEvent({ type: event.type, data: event.data })),
      );
      revision = result.nextExpectedRevision;
      pending = [];
    };
    const apply = async (next: LedgerCommand) => {
      for (const event of decideWithResult(next, state).events) {
        evolve(state, event);
        pending.push(event);
      }
      if (pending.length >= 500) await flush();
    };
    const key = { keyId: 'key-parent', prefix: 'sl_p_bigco', secretHash: 'hash' };
    await apply(
      command('OpenParentAccount', {
        parentId: 'bigco',
        name: 'Big Co',
        currency: 'EUR',
        creditPrice: '0.001',
        parentKey: key,
      }),
    );
    await apply(command('PurchaseCredits', { credits: SUBS * 1_000 + 1_000_000 }));
    const built = performance.now();
    for (let n = 0; n < SUBS; n++) {
      await apply(
        command('CreateSubAccount', {
          subAccountId: `sub-${n}`,
          name: `Client ${n}`,
          billingModel: n % 5 === 0 ? 'bill-to-sub-account' : 'bill-to-parent',
          quota: 1_000,
        }),
      );
    }
    await flush();
    console.log(
      `${SUBS} sub-accounts: ${revision + 1n} events in ${((performance.now() - built) / 1000).toFixed(1)} s`,
    );

    let started = performance.now();
    const json = JSON.stringify(toSnapshot(state));
    console.log(
      `toSnapshot + JSON.stringify: ${(performance.now() - started).toFixed(0)} ms, ${mib(Buffer.byteLength(json))} MiB`,
    );
    const writer = new CommandProcessor({ client, decider: ledgerDecider });
    started = performance.now();
    await writer.writeSnapshot(stream, state, revision);
    await writer.close();
    const [manifest] = await collect(client.readStream('ledgersnapshot-bigco'));
    const chunks = (manifest.event!.data as { chunks?: { revisions: string[]; bytes: number } }).chunks;
    console.log(
      `snapshot written in ${(performance.now() - started).toFixed(0)} ms: ${chunks?.revisions.length ?? 0} chunks, ` +
        `${mib(chunks?.bytes ?? 0)} MiB`,
    );
    for (let n = 0; n < TAIL; n++) {
      await apply(command('AllocateQuota', { subAccountId: `sub-${n % SUBS}`, credits: 1 }));
    }
    await flush();

    for (let round = 0; round < 4; round++) {
      // The last round without snapshots: the whole stream folded, what a load did past ~1,600 sub-accounts.
      const snapshots = round < 3;
      let load: { events: number; fromSnapshot: boolean; durationMs: number } | undefined;
      const reader = new CommandProcessor({
        client,
        decider: { ...ledgerDecider, decide: () => ({ events: [], result: null }) },
        observer: { onLoad: (info) => (load = info) },
        ...(snapshots ? {} : { snapshots: false as const }),
      });
      started = performance.now();
      await reader.execute(stream, command('PurchaseCredits', { credits: 1 }));
      const ms = performance.now() - started;
      await reader.close();
      console.log(
        `cold load ${round + 1}: ${ms.toFixed(0)} ms (from snapshot: ${load?.fromSnapshot}, tail ${load?.events} events)`,
      );
    }
  } finally {
    await client.dispose();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
