import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { freePort } from '../support/child-process';
import { spawnEmbeddedEventStore, type EventStoreProcess } from '../support/event-store';
import {
  createSubAccount,
  expectProblem,
  openParent,
  readLedger,
  uniqueId,
  type LedgerSource,
} from '../support/ledger-fixtures';
import { startTestService, type ApiResponse, type TestService } from '../support/service';
import { pollUntil } from '../support/poll';
import { startStoreProxy } from './support/store-proxy';

/*
 * No answer here is timed: a hang (a write never answered, a recovery that never comes) is caught by
 * jest's own timeout, far above what a slow machine needs. A frozen store is only noticed when the
 * client's gRPC keepalive gives up (10 s ping interval plus 10 s timeout, the client's defaults), so
 * that test waits ~20 s for its answer; see docs/reliability.md.
 */
jest.setTimeout(180_000);

/** Polls GET /health until the service is ready again; one that never is, is a hang, left to jest's timeout. */
async function untilReady(service: TestService): Promise<void> {
  await pollUntil(
    () => service.api.get('/health'),
    (health) => health.status === 200,
  );
}

describe('event store outage', () => {
  let dataDir: string;
  let store: EventStoreProcess | undefined;
  let service: TestService | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-outage-'));
  });

  afterEach(async () => {
    await service?.close().catch(() => undefined);
    await store?.killHard();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers 503 while the store is down, recovers by itself, and keeps exactly the acknowledged writes', async () => {
    const port = await freePort();
    store = await spawnEmbeddedEventStore({ dataDir, port });
    service = await startTestService({ eventStoreConnectionString: store.connectionString });
    const running = service;
    const parent = await openParent(running, { credits: 10_000 });
    const subAccountId = await createSubAccount(running, parent, { quota: 5_000 });
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    const acknowledged = new Set<string>();
    const recordUsage = async (idempotencyKey: string): Promise<ApiResponse> => {
      const response = await running.api.post(usagePath, { idempotencyKey, credits: 1 }, parent.key);
      if (response.status === 201) acknowledged.add((response.body as { usageId: string }).usageId);
      return response;
    };

    for (let i = 0; i < 5; i++) expect((await recordUsage(uniqueId('before'))).status).toBe(201);

    await store.killHard();

    const refusedKeys = Array.from({ length: 5 }, () => uniqueId('during'));
    const refusingSince = Date.now();
    for (const key of refusedKeys) expectProblem(await recordUsage(key), 503, 'event_store_unavailable');
    const refusalMs = (Date.now() - refusingSince) / refusedKeys.length;
    const credits = await running.api.post(
      `/v1/parents/${parent.id}/credits`,
      { credits: 10 },
      running.operatorToken,
    );
    expectProblem(credits, 503, 'event_store_unavailable');
    const health = await running.api.get('/health');
    expectProblem(health, 503, 'event_store_unavailable');

    store = await spawnEmbeddedEventStore({ dataDir, port });
    const backAt = Date.now();
    await untilReady(running);
    const recoveredMs = Date.now() - backAt;
    // Figures for docs/reliability.md, not assertions.
    console.log(
      `store down: a write is refused in ${refusalMs.toFixed(0)} ms on average; ` +
        `store back: /health ready ${recoveredMs} ms after the store's ready line`,
    );

    for (let i = 0; i < 5; i++) expect((await recordUsage(uniqueId('after'))).status).toBe(201);
    // The refused requests, resent with their idempotency keys, are each recorded once.
    for (const key of refusedKeys) expect((await recordUsage(key)).status).toBe(201);
    expect(acknowledged.size).toBe(15);

    const recorded = (await readLedger(running, parent.id))
      .filter((event) => event.type === 'UsageRecorded')
      .map((event) => (event.data as { usageId: string }).usageId);
    expect(recorded.sort()).toEqual([...acknowledged].sort());
    expect((await running.api.get(`/v1/parents/${parent.id}`, parent.key)).body).toMatchObject({
      pool: { used: 15 },
    });
  });

  /**
   * Where each write is when the store dies is chosen, not hoped for: the service reaches the store
   * through a proxy that stops one direction at a given append (an idempotency key in its bytes).
   * One write was acknowledged before the kill; one was in flight and never reached the store; one
   * reached the store and was made durable, but its answer never reached the service.
   */
  it('a write in flight when the store dies is 503, and a resend counts every write once: 201 if it never landed, 200 with the stored usage id if it did', async () => {
    const port = await freePort();
    store = await spawnEmbeddedEventStore({ dataDir, port });
    const proxy = await startStoreProxy(port);
    service = await startTestService({ eventStoreConnectionString: proxy.connectionString });
    const running = service;
    try {
      // Two parents: the processor has one append in flight per stream, so the write that never
      // reaches the store would keep the other parent's write from being sent at all.
      const parents = [
        await openParent(running, { credits: 100 }),
        await openParent(running, { credits: 100 }),
      ];
      const usagePaths = await Promise.all(
        parents.map(async (parent) => {
          const subAccountId = await createSubAccount(running, parent, { quota: 50 });
          return `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
        }),
      );
      const [landedParent, lostParent] = parents;
      const send = (at: 0 | 1, idempotencyKey: string) =>
        running.api.post(usagePaths[at], { idempotencyKey, credits: 1 }, parents[at].key);
      const usageIdsOf = async (parentId: string, client: LedgerSource, key: string) =>
        (await readLedger(client, parentId))
          .filter((event) => event.type === 'UsageRecorded' && event.data.idempotencyKey === key)
          .map((event) => event.data.usageId as string);

      const ackedKey = uniqueId('acked');
      const acked = await send(0, ackedKey);
      expect(acked.status).toBe(201);
      const ackedUsageId = (acked.body as { usageId: string }).usageId;

      // Reaches the store, which writes it; the answer is held in the proxy.
      const landedKey = uniqueId('landed');
      const landedPassed = proxy.holdRepliesAfter(landedKey);
      const landing = send(0, landedKey);
      await landedPassed;
      const direct = EventStoreDBClient.connectionString(store.connectionString);
      try {
        // Readable only once durable: the store has done its part, the service does not know it.
        while ((await usageIdsOf(landedParent.id, direct, landedKey)).length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await direct.dispose();
      }

      await store.killHard();
      proxy.passAll();
      const landingAnswer = await landing;
      expectProblem(landingAnswer, 503, 'event_store_unavailable');

      store = await spawnEmbeddedEventStore({ dataDir, port });
      await untilReady(running);

      // Never reaches the store: held in the proxy from its append on.
      const lostKey = uniqueId('lost');
      const lostHeld = proxy.holdRequestsFrom(lostKey);
      const losing = send(1, lostKey);
      await lostHeld;
      await store.killHard();
      proxy.passAll();
      expectProblem(await losing, 503, 'event_store_unavailable');

      store = await spawnEmbeddedEventStore({ dataDir, port });
      await untilReady(running);

      const landedUsageIds = await usageIdsOf(landedParent.id, running, landedKey);
      expect(landedUsageIds).toHaveLength(1);
      expect(await usageIdsOf(lostParent.id, running, lostKey)).toEqual([]);

      const ackedAgain = await send(0, ackedKey);
      expect([ackedAgain.status, (ackedAgain.body as { usageId: string }).usageId]).toEqual([
        200,
        ackedUsageId,
      ]);
      const landedAgain = await send(0, landedKey);
      expect([landedAgain.status, (landedAgain.body as { usageId: string }).usageId]).toEqual([
        200,
        landedUsageIds[0],
      ]);
      const lostAgain = await send(1, lostKey);
      expect(lostAgain.status).toBe(201);
      const lostUsageId = (lostAgain.body as { usageId: string }).usageId;

      expect(await usageIdsOf(landedParent.id, running, ackedKey)).toEqual([ackedUsageId]);
      expect(await usageIdsOf(landedParent.id, running, landedKey)).toEqual(landedUsageIds);
      expect(await usageIdsOf(lostParent.id, running, lostKey)).toEqual([lostUsageId]);
      expect((await running.api.get(`/v1/parents/${landedParent.id}`, landedParent.key)).body).toMatchObject({
        pool: { used: 2 },
      });
      expect((await running.api.get(`/v1/parents/${lostParent.id}`, lostParent.key)).body).toMatchObject({
        pool: { used: 1 },
      });
    } finally {
      await service.close().catch(() => undefined);
      service = undefined;
      await proxy.close();
    }
  });

  it('a store that stops answering (SIGSTOP) gets 503, not a hang, and recovers on SIGCONT', async () => {
    const port = await freePort();
    store = await spawnEmbeddedEventStore({ dataDir, port });
    service = await startTestService({ eventStoreConnectionString: store.connectionString });
    const running = service;
    const parent = await openParent(running, { credits: 1_000 });
    const subAccountId = await createSubAccount(running, parent, { quota: 500 });
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    const send = (key: string) =>
      running.api.post(usagePath, { idempotencyKey: key, credits: 1 }, parent.key);
    expect((await send(uniqueId('before'))).status).toBe(201);

    const frozen = store;
    frozen.child.kill('SIGSTOP');
    try {
      const stalledAt = Date.now();
      const answer = await send(uniqueId('frozen'));
      console.log(`store frozen: a write answered ${answer.status} after ${Date.now() - stalledAt} ms`);
      expectProblem(answer, 503, 'event_store_unavailable');
      expectProblem(await running.api.get('/health'), 503);
    } finally {
      frozen.child.kill('SIGCONT');
    }

    await untilReady(running);
    expect((await send(uniqueId('after'))).status).toBe(201);
  });
});
