import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { spawnEmbeddedEventStore, uniquePrefix, type EventStoreProcess } from '../support/event-store';
import { AppendLedger, seededRandom, startWriters, verifyRecoveredLog } from './crash.helpers';

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
