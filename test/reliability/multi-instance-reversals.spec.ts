import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { Pool } from 'pg';
import { freePort } from '../support/child-process';
import { testDatabaseUrl } from '../support/database';
import { spawnEmbeddedEventStore, type EventStoreProcess } from '../support/event-store';
import {
  createSubAccount,
  expectStatus,
  openParent,
  readLedger,
  type OpenedParent,
} from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import type { ApiResponse } from '../support/service';
import { startServiceProcess, type ServiceProcess } from '../support/service';

/*
 * Usage reversals with two service instances on one store and one database (SPEC §7, §10), before and
 * after the shared reversible-usage index has caught up and each instance has dropped what it indexed
 * from memory. Every reversal is sent through both instances at once: a key sent to both is recorded
 * once and both answer it alike; two different keys whose credits do not both fit leave exactly one
 * refused. Afterwards the stream holds one UsageReversed per key and no usage reversed beyond its
 * credits, so nothing was missed or counted twice on either side of the index's head.
 */

const USAGES = 40;

type Answer = { status: number; reversalId?: string; code?: string };

describe('usage reversals raced by two instances over the reversible-usage index', () => {
  let workDir: string;
  let store: EventStoreProcess;
  let client: EventStoreDBClient;
  let databaseUrl: string;
  let instances: ServiceProcess[] = [];
  let parent: OpenedParent;
  let subAccountId: string;
  let usageIds: string[] = [];

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'subledger-reversal-race-'));
    store = await spawnEmbeddedEventStore({
      viaNpm: true,
      port: await freePort(),
      dataDir: path.join(workDir, 'store'),
    });
    client = EventStoreDBClient.connectionString(store.connectionString);
    databaseUrl = await testDatabaseUrl(store.connectionString);
    const operatorToken = randomBytes(24).toString('base64url');
    instances = await Promise.all(
      [0, 1].map((index) =>
        startServiceProcess({
          env: {
            EVENTSTORE_CONNECTION_STRING: store.connectionString,
            OPERATOR_TOKEN: operatorToken,
            SUBLEDGER_DATA_DIR: path.join(workDir, `instance-${index}`),
            DATABASE_URL: databaseUrl,
          },
        }),
      ),
    );
    parent = await openParent(instances[0], { credits: 100_000 });
    subAccountId = await createSubAccount(instances[0], parent, { quota: 10_000 });
    usageIds = await recordUsage(instances[0], 'early', USAGES);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await client?.dispose();
    await store?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 60_000);

  async function recordUsage(instance: ServiceProcess, prefix: string, count: number): Promise<string[]> {
    const records = Array.from({ length: count }, (_, n) => ({
      subAccountId,
      idempotencyKey: `${prefix}-${n}`,
      credits: 10,
    }));
    const answer = expectStatus(
      await instance.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
      200,
    );
    return (answer.body.results as { status: number; usageId: string }[]).map((result) => {
      expect([200, 201]).toContain(result.status);
      return result.usageId;
    });
  }

  /** One reversal through one instance, sent again while it loses races (or the store is busy). */
  async function reverse(
    instance: ServiceProcess,
    usageId: string,
    idempotencyKey: string,
    credits: number,
  ): Promise<Answer> {
    const route = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage/${usageId}/reversals`;
    for (let attempt = 0; ; attempt++) {
      const response: ApiResponse = await instance.api.post(
        route,
        { idempotencyKey, reason: 'race', credits },
        parent.key,
      );
      const code = response.body?.code as string | undefined;
      const retry = code === 'concurrency_conflict' || response.status === 503;
      if (!retry || attempt >= 20) {
        return { status: response.status, reversalId: response.body?.reversalId, code };
      }
    }
  }

  /**
   * Per usage, `shared` through both instances at once, then one key of each instance's own at once
   * (all usage records in parallel). Returns the
   * answers: the shared key's by both, and how many of the own keys were refused as exceeding the usage.
   */
  async function race(round: string, shared: number, own: number) {
    return Promise.all(
      usageIds.map(async (usageId) => {
        const [a, b] = await Promise.all([
          reverse(instances[0], usageId, `${round}-shared`, shared),
          reverse(instances[1], usageId, `${round}-shared`, shared),
        ]);
        const [ownA, ownB] = await Promise.all([
          reverse(instances[0], usageId, `${round}-own-0`, own),
          reverse(instances[1], usageId, `${round}-own-1`, own),
        ]);
        return { usageId, a, b, own: [ownA, ownB] };
      }),
    );
  }

  function expectRaced(answers: Awaited<ReturnType<typeof race>>): void {
    for (const { a, b, own } of answers) {
      expect([a.status, b.status].sort()).toEqual([200, 201]);
      expect(a.reversalId).toBe(b.reversalId);
      expect(own.map((answer) => answer.status).sort()).toEqual([201, 409]);
      expect(own.find((answer) => answer.status === 409)?.code).toBe('reversal_exceeds_usage');
    }
  }

  it('records each key once and never reverses more than a usage, from memory and then from the shared index', async () => {
    // 10 credits per usage: 3 shared + 4 + 4 do not fit; exactly one own key is refused.
    const first = await race('one', 3, 4);
    expectRaced(first);

    // Once the shared index has caught up, each instance's next usage batch drops what it indexed.
    const events = await readLedger(client, parent.id);
    const head = events[events.length - 1].revision;
    const pool = new Pool({ connectionString: databaseUrl, max: 1 });
    try {
      await pollUntil(
        async () =>
          (
            await pool.query<{ revision: string }>(
              'SELECT revision FROM reversible_usage_heads WHERE parent_id = $1',
              [parent.id],
            )
          ).rows[0]?.revision,
        (revision) => revision !== undefined && BigInt(revision) >= head,
      );
    } finally {
      await pool.end();
    }
    for (const [index, instance] of instances.entries()) await recordUsage(instance, `drop-${index}`, 1);

    // 3 left per usage: 2 shared + 1 + 1 do not fit. The first round's keys repeat from the index alike.
    const second = await race('two', 2, 1);
    expectRaced(second);
    for (const { usageId, a } of first) {
      for (const instance of instances) {
        const repeat = await reverse(instance, usageId, 'one-shared', 3);
        expect(repeat).toEqual({ status: 200, reversalId: a.reversalId, code: undefined });
      }
    }

    const recorded = new Map<string, { keys: string[]; credits: number }>();
    for (const event of await readLedger(client, parent.id)) {
      if (event.type !== 'UsageReversed') continue;
      const data = event.data as { usageId: string; idempotencyKey: string; credits: number };
      const entry = recorded.get(data.usageId) ?? { keys: [], credits: 0 };
      entry.keys.push(data.idempotencyKey);
      entry.credits += data.credits;
      recorded.set(data.usageId, entry);
    }
    for (const usageId of usageIds) {
      const entry = recorded.get(usageId)!;
      expect(entry.credits).toBe(10);
      expect(new Set(entry.keys).size).toBe(entry.keys.length);
      expect(entry.keys).toHaveLength(4);
    }
  }, 300_000);
});
