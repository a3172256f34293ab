import * as fs from 'node:fs';
import { EventStoreDBClient } from '@eventstore/db-client';
import { spawnEmbeddedEventStore } from '../support/event-store';
import { seededRandom } from './crash.helpers';
import { killWhileSending } from './service-kills';
import { createSubAccount, expectStatus, openParent, readLedger } from '../support/ledger-fixtures';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { makeDataDir } from '../support/database';

/**
 * The reversible-usage index under kill -9 (SPEC §9, §10): the service runs with its own embedded store
 * and its own embedded PostgreSQL (the index), and clients reverse usage recorded before — new
 * reversal keys and repeats of keys sent before, acknowledged or not — while the service is killed,
 * and in every other cycle its PostgreSQL first. After the restarts every reversal sent is sent again,
 * twice (the second time once the index has caught up, so from the index rather than memory): a key
 * is never recorded twice, a repeat always gets the reversal its first acknowledgement gave, and no
 * usage is reversed beyond its credits.
 */
describe('kill -9 of the service and of its PostgreSQL while usage is reversed', () => {
  const KILLS = 3;
  const USAGES = 200;
  let dataDir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dataDir = makeDataDir('subledger-reversal-crash-');
  });

  afterEach(async () => {
    await service?.stop().catch(() => undefined);
    service = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it(`never records a reversal twice nor beyond its usage, and answers every repeat alike, through ${KILLS} kills`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    const operatorToken = 'crash-operator-token-0123456789';
    const env = { SUBLEDGER_DATA_DIR: dataDir, DATABASE_URL: '', OPERATOR_TOKEN: operatorToken };
    service = await startServiceProcess({ env });
    const parent = await openParent(service, { credits: 1_000_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 100_000 });
    const records = Array.from({ length: USAGES }, (_, n) => ({
      subAccountId,
      idempotencyKey: `u-${n}`,
      credits: 10,
    }));
    const recordedUsage = expectStatus(
      await service.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
      200,
    );
    const usageIds = (recordedUsage.body.results as { usageId: string }[]).map((result) => result.usageId);

    type Sent = { usageId: string; idempotencyKey: string; credits: number };
    const sent: Sent[] = [];
    const acked = new Map<string, string>();
    const violations: string[] = [];
    const history: string[] = [];
    const keyOf = (reversal: Sent) => `${reversal.usageId}/${reversal.idempotencyKey}`;

    async function send(api: ServiceProcess['api'], reversal: Sent): Promise<number> {
      const answer = await api.post(
        `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage/${reversal.usageId}/reversals`,
        { idempotencyKey: reversal.idempotencyKey, reason: 'crash', credits: reversal.credits },
        parent.key,
      );
      if (answer.status === 200 || answer.status === 201) {
        const first = acked.get(keyOf(reversal));
        if (first === undefined) acked.set(keyOf(reversal), answer.body.reversalId);
        else if (first !== answer.body.reversalId) {
          violations.push(`${keyOf(reversal)}: ${first}, then ${answer.body.reversalId}`);
        }
      }
      return answer.status;
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
        const reversal =
          sent.length > 0 && random() < 0.3
            ? sent[Math.floor(random() * sent.length)]
            : {
                usageId: usageIds[Math.floor(random() * usageIds.length)],
                idempotencyKey: `r-${next++}`,
                credits: 1 + Math.floor(random() * 3),
              };
        if (!sent.includes(reversal)) sent.push(reversal);
        return send(api, reversal);
      },
    });

    // Every reversal ever sent, again, twice: once right after the restart, once after the index caught up.
    const live = service;
    for (let round = 0; round < 2; round++) {
      for (const reversal of sent) {
        const status = await send(live.api, reversal);
        // A new key may find its usage fully reversed; anything else is an answer it must not get.
        if (![200, 201, 409].includes(status)) violations.push(`${keyOf(reversal)}: answered ${status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }

    await live.stop();
    service = undefined;
    const store = await spawnEmbeddedEventStore({ dataDir });
    const client = EventStoreDBClient.connectionString(store.connectionString);
    const recorded = new Map<string, string[]>();
    const reversedOf = new Map<string, number>();
    try {
      for (const event of await readLedger(client, parent.id)) {
        if (event.type !== 'UsageReversed') continue;
        const data = event.data as {
          usageId: string;
          idempotencyKey: string;
          reversalId: string;
          credits: number;
        };
        const key = `${data.usageId}/${data.idempotencyKey}`;
        recorded.set(key, [...(recorded.get(key) ?? []), data.reversalId]);
        reversedOf.set(data.usageId, (reversedOf.get(data.usageId) ?? 0) + data.credits);
      }
    } finally {
      await client.dispose();
      await store.stop();
    }
    for (const reversal of sent) {
      const ids = recorded.get(keyOf(reversal)) ?? [];
      const answered = acked.get(keyOf(reversal));
      if (ids.length > 1) violations.push(`${keyOf(reversal)} recorded ${ids.length} times`);
      else if (answered !== undefined && answered !== ids[0]) {
        violations.push(`${keyOf(reversal)}: answered ${answered}, recorded ${ids[0]}`);
      }
    }
    for (const [usageId, credits] of reversedOf) {
      if (credits > 10) violations.push(`${usageId} reversed ${credits} of its 10 credits`);
    }
    expect({ seed, history, violations: violations.slice(0, 20) }).toEqual({ seed, history, violations: [] });
    expect(acked.size).toBeGreaterThan(0);
  }, 300_000);
});
