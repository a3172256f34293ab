import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { spawnEmbeddedEventStore, type EventStoreProcess } from '../support/event-store';
import {
  buyCredits,
  createSubAccount,
  expectProblem,
  openParent,
  readLedger,
  uniqueId,
} from '../support/ledger-fixtures';
import { startTestService, type ApiResponse, type TestService } from '../support/service';

/**
 * A liveness bound, not a performance figure: an answer that takes longer than this is a hang. Far
 * above the client's deadlines so a slow machine cannot fail the test.
 */
const ANSWER_BOUND_MS = 30_000;
/**
 * A frozen store is only noticed when the client's gRPC keepalive gives up (10 s ping interval plus
 * 10 s timeout, the client's defaults): a batch append carries its deadline to the server inside the
 * request, so the client enforces none itself. Measured at ~19.7 s; see docs/reliability.md.
 */
const FROZEN_ANSWER_BOUND_MS = 45_000;
const RECOVERY_BOUND_MS = 60_000;

jest.setTimeout(180_000);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + RECOVERY_BOUND_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${RECOVERY_BOUND_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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
      const response = await within(
        running.api.post(usagePath, { idempotencyKey, credits: 1 }, parent.key),
        ANSWER_BOUND_MS,
        `POST usage ${idempotencyKey}`,
      );
      if (response.status === 201) acknowledged.add((response.body as { usageId: string }).usageId);
      return response;
    };

    for (let i = 0; i < 5; i++) expect((await recordUsage(uniqueId('before'))).status).toBe(201);

    await store.killHard();

    const refusedKeys = Array.from({ length: 5 }, () => uniqueId('during'));
    const refusingSince = Date.now();
    for (const key of refusedKeys) expectProblem(await recordUsage(key), 503, 'event_store_unavailable');
    const refusalMs = (Date.now() - refusingSince) / refusedKeys.length;
    const credits = await within(
      running.api.post(`/v1/parents/${parent.id}/credits`, { credits: 10 }, running.operatorToken),
      ANSWER_BOUND_MS,
      'POST credits',
    );
    expectProblem(credits, 503, 'event_store_unavailable');
    const health = await within(running.api.get('/health'), ANSWER_BOUND_MS, 'GET /health');
    expectProblem(health, 503, 'event_store_unavailable');

    store = await spawnEmbeddedEventStore({ dataDir, port });
    const backAt = Date.now();
    await until('/health 200', async () => (await running.api.get('/health')).status === 200);
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

  it('a write in flight when the store dies is 503 or acknowledged, and a resend counts it once', async () => {
    const port = await freePort();
    store = await spawnEmbeddedEventStore({ dataDir, port });
    service = await startTestService({ eventStoreConnectionString: store.connectionString });
    const running = service;
    const parent = await openParent(running);
    await buyCredits(running, parent.id, 10_000);
    const subAccountId = await createSubAccount(running, parent, { quota: 5_000 });
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    const keys = Array.from({ length: 40 }, () => uniqueId('race'));
    const send = (key: string) =>
      within(
        running.api.post(usagePath, { idempotencyKey: key, credits: 1 }, parent.key),
        ANSWER_BOUND_MS,
        key,
      );

    const inFlight = keys.map(send);
    await store.killHard();
    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      if (answer.status !== 201) expectProblem(answer, 503, 'event_store_unavailable');
    }
    const acknowledgedBeforeKill = answers.filter((answer) => answer.status === 201).length;
    console.log(
      `in flight at the kill: ${acknowledgedBeforeKill} acknowledged, ${keys.length - acknowledgedBeforeKill} refused`,
    );

    store = await spawnEmbeddedEventStore({ dataDir, port });
    await until('/health 200', async () => (await running.api.get('/health')).status === 200);
    const resent = await Promise.all(keys.map(send));
    expect(resent.map((answer) => answer.status)).toEqual(keys.map(() => 201));

    const recorded = (await readLedger(running, parent.id)).filter((event) => event.type === 'UsageRecorded');
    expect(recorded).toHaveLength(keys.length);
    expect((await running.api.get(`/v1/parents/${parent.id}`, parent.key)).body).toMatchObject({
      pool: { used: 40 },
    });
  });

  it('a store that stops answering (SIGSTOP) gets 503 within a bound, not a hang, and recovers on SIGCONT', async () => {
    const port = await freePort();
    store = await spawnEmbeddedEventStore({ dataDir, port });
    service = await startTestService({ eventStoreConnectionString: store.connectionString });
    const running = service;
    const parent = await openParent(running, { credits: 1_000 });
    const subAccountId = await createSubAccount(running, parent, { quota: 500 });
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    const send = (key: string) =>
      within(
        running.api.post(usagePath, { idempotencyKey: key, credits: 1 }, parent.key),
        ANSWER_BOUND_MS,
        key,
      );
    expect((await send(uniqueId('before'))).status).toBe(201);

    const frozen = store;
    frozen.child.kill('SIGSTOP');
    try {
      const stalledAt = Date.now();
      const answer = await send(uniqueId('frozen'));
      console.log(`store frozen: a write answered ${answer.status} after ${Date.now() - stalledAt} ms`);
      expectProblem(answer, 503, 'event_store_unavailable');
      expectProblem(await within(running.api.get('/health'), FROZEN_ANSWER_BOUND_MS, 'GET /health'), 503);
    } finally {
      frozen.child.kill('SIGCONT');
    }

    await until('/health 200', async () => (await running.api.get('/health')).status === 200);
    expect((await send(uniqueId('after'))).status).toBe(201);
  });
});
