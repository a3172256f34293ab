import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { spawnEmbeddedEventStore, uniquePrefix, type EventStoreProcess } from '../support/event-store';
import { AppendLedger, seededRandom, startWriters, verifyRecoveredLog } from './crash.helpers';
import { killWhileSending } from './service-kills';
import { createSubAccount, expectStatus, openParent, readLedger } from '../support/ledger-fixtures';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { makeDataDir } from '../support/database';

const CYCLES = 5;
const WRITERS = 8;
const STREAMS = 5;

/**
 * The server is killed with SIGKILL at a random moment while eight writers append, then restarted
 * on the same directory, five times over. A process kill keeps what reached the page cache, so this
 * proves framing and recovery, not fsync; fsync before acknowledging is the server's own contract.
 */
describe('kill -9 while appending, then restart on the same directory', () => {
  let dataDir: string;
  let server: EventStoreProcess | undefined;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'subledger-crash-'));
  });

  afterEach(async () => {
    await server?.killHard();
    server = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`keeps every acknowledged event, intact, through ${CYCLES} kills`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    const prefix = uniquePrefix('crash');
    const streams = Array.from({ length: STREAMS }, (_, i) => `${prefix}-s${i}`);
    const ledger = new AppendLedger();
    let positions = new Map<string, bigint>();
    const history: string[] = [];

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      server = await spawnEmbeddedEventStore({ dataDir });
      const client = EventStoreDBClient.connectionString(server.connectionString);

      const { violations, recovered } = await verifyRecoveredLog(client, ledger, streams, positions);
      if (violations.length > 0) {
        throw new Error(
          `after restart ${cycle} (CRASH_SEED=${seed}; ${history.join('; ')}):\n${violations.slice(0, 20).join('\n')}`,
        );
      }
      positions = recovered.positions;

      const ackedBefore = ledger.acknowledgedCount();
      const writers = startWriters({ client, ledger, streams, writers: WRITERS, random, cycle });
      const killAfterMs = 150 + Math.floor(random() * 1_200);
      await new Promise((resolve) => setTimeout(resolve, killAfterMs));
      await server.killHard();
      writers.stop();
      await writers.done;
      await client.dispose();
      history.push(
        `cycle ${cycle}: killed after ${killAfterMs} ms, ${ledger.acknowledgedCount() - ackedBefore} acked`,
      );
    }

    server = await spawnEmbeddedEventStore({ dataDir });
    const client = EventStoreDBClient.connectionString(server.connectionString);
    try {
      const { violations, recovered } = await verifyRecoveredLog(client, ledger, streams, positions);
      expect({ seed, violations }).toEqual({ seed, violations: [] });
      // A run where the kill always landed before the first ack would prove nothing.
      expect(ledger.acknowledgedCount()).toBeGreaterThan(0);
      expect(recovered.eventCount).toBeGreaterThanOrEqual(ledger.acknowledgedCount());
    } finally {
      await client.dispose();
      await server.stop();
    }
  }, 120_000);
});

/**
 * The idempotency-key index under kill -9 (SPEC §9): the service runs with its own embedded store and
 * its own embedded PostgreSQL (the index), and clients record usage — new keys and repeats of keys
 * sent before, acknowledged or not — while the service is killed, and in every other cycle its
 * PostgreSQL first. After each restart and at the end, every key sent is sent again: a key must never
 * be recorded twice (missed by both the index and the ledger's memory) and a repeat must always get
 * the usage id its first acknowledgement gave.
 */
describe('kill -9 of the service and of its PostgreSQL while usage is recorded', () => {
  const KILLS = 4;
  let dataDir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dataDir = makeDataDir('subledger-key-crash-');
  });

  afterEach(async () => {
    await service?.stop().catch(() => undefined);
    service = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it(`never records a key twice and answers every repeat with its original usage id, through ${KILLS} kills`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    const operatorToken = 'crash-operator-token-0123456789';
    const env = { SUBLEDGER_DATA_DIR: dataDir, DATABASE_URL: '', OPERATOR_TOKEN: operatorToken };
    service = await startServiceProcess({ env });
    const parent = await openParent(service, { credits: 10_000_000 });
    const subs = [
      await createSubAccount(service, parent, { quota: 3_000_000 }),
      await createSubAccount(service, parent, { quota: 3_000_000 }),
    ];
    const batchPath = `/v1/parents/${parent.id}/usage/batch`;
    type Sent = { subAccountId: string; idempotencyKey: string; credits: number };
    const sent: Sent[] = [];
    const acked = new Map<string, string>();
    const violations: string[] = [];
    const history: string[] = [];

    /** Keeps each acknowledged usage id and notes any repeat answered with another. */
    function note(records: Sent[], results: { status: number; usageId?: string }[]): void {
      results.forEach((result, index) => {
        if (result.status !== 200 && result.status !== 201) return;
        const key = records[index].idempotencyKey;
        const first = acked.get(key);
        if (first === undefined) acked.set(key, result.usageId!);
        else if (first !== result.usageId) violations.push(`${key}: ${first}, then ${result.usageId}`);
      });
    }

    async function send(api: ServiceProcess['api'], records: Sent[]): Promise<void> {
      const answer = await api.post(batchPath, { records }, parent.key);
      if (answer.status === 200) note(records, answer.body.results as { status: number }[]);
    }

    let next = 0;
    service = await killWhileSending({
      kills: KILLS,
      random,
      dataDir,
      env,
      service,
      history,
      started: (restarted) => (service = restarted),
      sendOne: (api) => {
        const records: Sent[] = [];
        for (let i = 0; i < 50; i++) {
          if (sent.length > 0 && random() < 0.3) {
            records.push(sent[Math.floor(random() * sent.length)]);
          } else {
            const record = {
              subAccountId: subs[next % subs.length],
              idempotencyKey: `k-${next++}`,
              credits: 1 + Math.floor(random() * 3),
            };
            sent.push(record);
            records.push(record);
          }
        }
        return send(api, records);
      },
    });

    // Every key ever sent, again, twice: once right after the restart, once after the index caught up.
    const live = service;
    for (let round = 0; round < 2; round++) {
      for (let from = 0; from < sent.length; from += 500) {
        const records = sent.slice(from, from + 500);
        const answer = expectStatus(await live.api.post(batchPath, { records }, parent.key), 200);
        const results = answer.body.results as { status: number }[];
        results.forEach((result, index) => {
          if (result.status !== 200 && result.status !== 201) {
            violations.push(`${records[index].idempotencyKey}: answered ${JSON.stringify(result)}`);
          }
        });
        note(records, results);
      }
      // Room for the index to catch up, so the second round is answered from it rather than memory.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }

    // The log itself, read through the client from the service's store once the service has stopped.
    await live.stop();
    service = undefined;
    const store = await spawnEmbeddedEventStore({ dataDir });
    const client = EventStoreDBClient.connectionString(store.connectionString);
    const recorded = new Map<string, string[]>();
    try {
      for (const event of await readLedger(client, parent.id)) {
        if (event.type !== 'UsageRecorded') continue;
        const data = event.data as { idempotencyKey: string; usageId: string };
        recorded.set(data.idempotencyKey, [...(recorded.get(data.idempotencyKey) ?? []), data.usageId]);
      }
    } finally {
      await client.dispose();
      await store.stop();
    }
    for (const { idempotencyKey } of sent) {
      const ids = recorded.get(idempotencyKey) ?? [];
      if (ids.length !== 1) violations.push(`${idempotencyKey} recorded ${ids.length} times`);
      else if (acked.get(idempotencyKey) !== ids[0]) {
        violations.push(`${idempotencyKey}: answered ${acked.get(idempotencyKey)}, recorded ${ids[0]}`);
      }
    }
    expect({ seed, history, violations: violations.slice(0, 20) }).toEqual({ seed, history, violations: [] });
    expect(acked.size).toBeGreaterThan(0);
  }, 300_000);
});
