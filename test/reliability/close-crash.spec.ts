import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { START, StreamNotFoundError, type EventStoreDBClient } from '@eventstore/db-client';
import { recount } from '../support/ledger-recount';
import { expectStatus, type StoredEvent } from '../support/ledger-fixtures';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { getWhenCaughtUp, openCrashParent, readFeed, type CrashParent } from './support/crashed-service';
import { startStoreProxy, type StoreProxy } from './support/store-proxy';

const OPERATOR_TOKEN = 'close-crash-operator-token-0123456789';
const PERIOD = '2026-10';
const IN_PERIOD = '2026-10-20T10:00:00Z';
const NEXT_PERIOD = '2026-11-02T00:00:00Z';
/**
 * One kill per round, this long after the round's first close was sent: at once (0: every close is
 * sent and the kill follows in the same tick), then a few ms later. Within a round the parents'
 * closes leave CLOSE_SPACING_MS apart, so one kill lands before, during and after several closings.
 */
const KILL_AT_MS = [0, 15, 40, 80];
const PARENTS_PER_ROUND = 6;
const CLOSE_SPACING_MS = 8;

/** Period-close events of one period, with where they sit in the stream. */
function closeEvents(events: readonly StoredEvent[]) {
  return {
    closed: events.filter((e) => e.type === 'BillingPeriodClosed' && e.data.period === PERIOD),
    invoices: events.filter((e) => e.type === 'InvoiceIssued' && e.data.period === PERIOD),
  };
}

const closeUrl = (parent: CrashParent) => `/v1/parents/${parent.id}/billing-periods/${PERIOD}/close`;

/**
 * After the restart: the log holds all of the first closing or none of it; closing again completes
 * it (201) or answers the closing already there (200); either way one BillingPeriodClosed followed
 * by its two invoices, a sound ledger, and a replay that matches what was issued.
 */
async function checkCloseAgain(
  service: ServiceProcess,
  parent: CrashParent,
  context: string,
  firstAnswer: string,
): Promise<void> {
  const before = closeEvents(await readFeed(service, parent.id, parent.key));
  expect({
    context,
    closed: before.closed.length <= 1,
    torn: before.closed.length === 0 && before.invoices.length > 0,
  }).toEqual({ context, closed: true, torn: false });
  if (firstAnswer === '201')
    expect({ context, closed: before.closed.length }).toEqual({ context, closed: 1 });

  const again = expectStatus(await service.api.post(closeUrl(parent), {}, OPERATOR_TOKEN), 200, 201);
  expect({ context, status: again.status }).toEqual({
    context,
    status: before.closed.length === 1 ? 200 : 201,
  });
  const repeat = expectStatus(await service.api.post(closeUrl(parent), {}, OPERATOR_TOKEN), 200);

  const events = await readFeed(service, parent.id, parent.key);
  const after = closeEvents(events);
  console.log(
    `${context}: first close answered ${firstAnswer}, in the log before the retry: ` +
      `${before.closed.length === 1 ? 'yes' : 'no'}; after the retry ${after.closed.length} BillingPeriodClosed, ` +
      `${after.invoices.length} InvoiceIssued`,
  );
  expect({ context, closed: after.closed.length }).toEqual({ context, closed: 1 });
  // One consolidated invoice for the two bill-to-parent sub-accounts, one for own-bill, in the
  // same append as the closing.
  expect({ context, invoices: after.invoices.length }).toEqual({ context, invoices: 2 });
  const closedAt = Number(after.closed[0].revision);
  expect(after.invoices.map((e) => Number(e.revision))).toEqual([closedAt + 1, closedAt + 2]);
  const issuedIds = after.invoices.map((e) => e.data.invoiceId).sort();
  expect(again.body.invoices.map((i: { invoiceId: string }) => i.invoiceId).sort()).toEqual(issuedIds);
  expect(repeat.body.invoices.map((i: { invoiceId: string }) => i.invoiceId).sort()).toEqual(issuedIds);
  expect({ context, violations: recount(events).violations }).toEqual({ context, violations: [] });

  const replay = expectStatus(
    await getWhenCaughtUp(
      service,
      `/v1/parents/${parent.id}/billing-periods/${PERIOD}/replay`,
      OPERATOR_TOKEN,
    ),
    200,
  ).body;
  expect({ context, matches: replay.matches, differences: replay.differences }).toEqual({
    context,
    matches: true,
    differences: [],
  });
}

/**
 * The service is killed with SIGKILL right after an operator asks it to close a billing period, at
 * several delays, then restarted on the same data directory and asked again. Closing appends
 * `BillingPeriodClosed` and its `InvoiceIssued` events in one append, so whatever the instant, the
 * log holds all of a closing or none of it, and the second close completes it exactly once.
 */
describe('kill -9 while a billing period is being closed, then close again after restart', () => {
  let dataDir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'subledger-close-crash-'));
  });

  afterEach(async () => {
    await service?.killHard();
    service = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (now: string) =>
    startServiceProcess({
      env: { SUBLEDGER_DATA_DIR: dataDir, OPERATOR_TOKEN, LOG_LEVEL: 'warn', SUBLEDGER_NOW: now },
    });

  it('issues exactly one set of invoices per period whatever the instant of the kill', async () => {
    // In October: one parent per round, with usage billed to the parent and to a sub-account.
    service = await start(IN_PERIOD);
    const parents: CrashParent[] = [];
    for (let n = 0; n < KILL_AT_MS.length * PARENTS_PER_ROUND; n++) {
      const parent = await openCrashParent(service, { credits: 1_000_000, subAccounts: 2, quota: 10_000 });
      expectStatus(
        await service.api.post(
          `/v1/parents/${parent.id}/sub-accounts`,
          { id: 'own-bill', name: 'Own bill', billingModel: 'bill-to-sub-account', quota: 10_000 },
          parent.key,
        ),
        201,
      );
      parent.subAccounts.push('own-bill');
      for (const [i, subAccountId] of parent.subAccounts.entries()) {
        for (let n = 0; n < 5; n++) {
          expectStatus(
            await service.api.post(
              `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
              { idempotencyKey: `u-${n}`, credits: 10 * (i + 1) + n, meter: n % 2 === 0 ? 'api' : 'cdn' },
              parent.key,
            ),
            201,
          );
        }
      }
      parents.push(parent);
    }
    await service.stop();

    // In November, October has ended and may be closed.
    service = await start(NEXT_PERIOD);
    for (const [round, killAtMs] of KILL_AT_MS.entries()) {
      const closing = parents.slice(round * PARENTS_PER_ROUND, (round + 1) * PARENTS_PER_ROUND);
      const dying = service;
      const started = Date.now();
      const firstCloses = closing.map(async (parent, i) => {
        const sendAtMs = killAtMs === 0 ? 0 : i * CLOSE_SPACING_MS;
        if (sendAtMs > 0) await new Promise((resolve) => setTimeout(resolve, sendAtMs));
        if (killAtMs > 0 && Date.now() - started >= killAtMs) return 'not sent';
        return dying.api.post(closeUrl(parent), {}, OPERATOR_TOKEN).then(
          (response) => String(response.status),
          () => 'nothing',
        );
      });
      if (killAtMs > 0) await new Promise((resolve) => setTimeout(resolve, killAtMs));
      await dying.killHard();
      const firstAnswers = await Promise.all(firstCloses);

      service = await start(NEXT_PERIOD);
      for (const [i, parent] of closing.entries()) {
        const sentAt = killAtMs === 0 ? 0 : i * CLOSE_SPACING_MS;
        const context = `round ${round} parent ${i} (close sent at ${sentAt} ms, kill at ${killAtMs} ms)`;
        await checkCloseAgain(service, parent, context, firstAnswers[i]);
      }
    }
  }, 300_000);
});

/**
 * A close too big for one append writes its invoices in chunks to `ledgerinvoices-<p>`, then commits
 * them with one BillingPeriodClosed in `ledger-<p>`. The service is killed where that can tear: after
 * some chunks (the last chunk's append is held in a proxy between service and store, so it never
 * reaches the store) and after every chunk but before the closing (the closing's append is held).
 * After a restart the period is open, the chunks written are referenced by nothing, and closing again
 * issues exactly one set of invoices, which the orphans never join.
 */
describe('kill -9 between the chunks of a close too big for one append, then close again', () => {
  const SUBS = 2_500;
  const subId = (n: number) => `s${String(n).padStart(4, '0')}`;
  let store: TestEventStore;
  let proxy: StoreProxy;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    store = await startTestEventStore();
    const port = Number(/:(\d+)/.exec(store.connectionString.replace('esdb://', ''))?.[1]);
    proxy = await startStoreProxy(port);
  });

  afterAll(async () => {
    await service?.killHard();
    await proxy?.close();
    await store?.stop();
  });

  const start = (now: string) =>
    startServiceProcess({
      env: {
        EVENTSTORE_CONNECTION_STRING: proxy.connectionString,
        OPERATOR_TOKEN,
        SUBLEDGER_NOW: now,
        SUBLEDGER_RATE_LIMIT_PER_SECOND: '0',
      },
    });

  async function bigParent(running: ServiceProcess): Promise<CrashParent> {
    const parent = await openCrashParent(running, { credits: 10_000_000, subAccounts: 0, quota: 0 });
    for (let from = 0; from < SUBS; from += 1_000) {
      const ids = Array.from({ length: Math.min(1_000, SUBS - from) }, (_, i) => subId(from + i));
      const created = expectStatus(
        await running.api.post(
          `/v1/parents/${parent.id}/sub-accounts/batch`,
          {
            subAccounts: ids.map((id) => ({
              id,
              name: `Sub ${id}`,
              billingModel: 'bill-to-sub-account',
              quota: 1_000,
            })),
          },
          parent.key,
        ),
        200,
      ).body.results as { status: number }[];
      expect(created.filter((result) => result.status !== 201)).toEqual([]);
      const records = ids.map((id, i) => ({
        subAccountId: id,
        idempotencyKey: `u-${id}`,
        credits: 1 + (i % 50),
      }));
      const used = expectStatus(
        await running.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key),
        200,
      ).body.results as { status: number }[];
      expect(used.filter((result) => result.status !== 201)).toEqual([]);
      parent.subAccounts.push(...ids);
    }
    return parent;
  }

  it('leaves the period open and unreferenced chunks behind; the retry issues exactly one set', async () => {
    service = await start(IN_PERIOD);
    const afterSomeChunks = await bigParent(service);
    const beforeClosing = await bigParent(service);
    await service.stop();
    service = await start(NEXT_PERIOD);

    const cases = [
      // The last chunk holds the last sub-account's invoice: earlier chunks reach the store, it does not.
      {
        name: 'after some chunks',
        parent: afterSomeChunks,
        marker: `inv-${afterSomeChunks.id}-${PERIOD}-sub-${subId(SUBS - 1)}`,
      },
      // Only the closing's append names the type BillingPeriodClosed: every chunk is in, the closing is not.
      { name: 'after every chunk, before the closing', parent: beforeClosing, marker: 'BillingPeriodClosed' },
    ];
    for (const { name, parent, marker } of cases) {
      const held = proxy.holdRequestsFrom(marker);
      const answer = service.api.post(closeUrl(parent), {}, OPERATOR_TOKEN).then(
        (response) => String(response.status),
        () => 'nothing',
      );
      await held;
      await service.killHard();
      expect({ name, answer: await answer }).toEqual({ name, answer: 'nothing' });
      proxy.passAll();

      // What the kill left: chunks in their own stream, no closing in the ledger.
      const orphans = await readAll(store.client, `ledgerinvoices-${parent.id}`);
      const ledgerBefore = await readAll(store.client, `ledger-${parent.id}`);
      expect({ name, closings: ledgerBefore.filter((e) => e.type === 'BillingPeriodClosed').length }).toEqual(
        { name, closings: 0 },
      );
      expect(orphans.length).toBeGreaterThan(0);
      // Every invoice event of the close: one per sub-account and the parent's (empty) consolidated one.
      if (name === 'after some chunks') expect(orphans.length).toBeLessThan(SUBS + 1);
      else expect(orphans.length).toBe(SUBS + 1);

      service = await start(NEXT_PERIOD);
      const periods = expectStatus(
        await service.api.get(`/v1/parents/${parent.id}/billing-periods`, OPERATOR_TOKEN),
        200,
      );
      expect(periods.body.periods.find((p: { period: string }) => p.period === PERIOD)).toMatchObject({
        status: 'open',
      });

      const closed = expectStatus(await service.api.post(closeUrl(parent), {}, OPERATOR_TOKEN), 201);
      const repeat = expectStatus(await service.api.post(closeUrl(parent), {}, OPERATOR_TOKEN), 200);
      const invoices = closed.body.invoices as { invoiceId: string; issuedAt: string; sequence: number }[];
      expect(invoices).toHaveLength(SUBS + 1);
      expect(repeat.body.invoices).toEqual(invoices);
      // The retry's own invoices, numbered once: none of the orphans' (issued at the killed attempt's instant).
      expect(new Set(invoices.map((invoice) => invoice.issuedAt))).toEqual(new Set([closed.body.closedAt]));
      expect(invoices.map((invoice) => invoice.sequence)).toEqual(invoices.map((_, i) => i + 1));

      const ledger = await readAll(store.client, `ledger-${parent.id}`);
      const closings = ledger.filter((e) => e.type === 'BillingPeriodClosed');
      expect(closings).toHaveLength(1);
      const commit = (
        closings[0].data as { invoices: { firstRevision: number; lastRevision: number; events: number } }
      ).invoices;
      expect(commit.firstRevision).toBe(orphans.length);
      const stream = await readAll(store.client, `ledgerinvoices-${parent.id}`);
      expect(stream).toHaveLength(orphans.length + commit.events);
      expect({
        violations: recount(ledger.map((e, i) => ({ ...e, revision: BigInt(i) }))).violations,
      }).toEqual({ violations: [] });

      const replay = expectStatus(
        await getWhenCaughtUp(
          service,
          `/v1/parents/${parent.id}/billing-periods/${PERIOD}/replay`,
          OPERATOR_TOKEN,
        ),
        200,
      ).body;
      expect({ name, matches: replay.matches, issued: replay.issued.length }).toEqual({
        name,
        matches: true,
        issued: SUBS + 1,
      });
      console.log(
        `${name}: the kill left ${orphans.length} of ${SUBS + 1} invoice events and no closing; ` +
          `the retry committed revisions ${commit.firstRevision}..${commit.lastRevision}`,
      );
    }
  }, 300_000);
});

async function readAll(
  client: EventStoreDBClient,
  stream: string,
): Promise<{ type: string; data: unknown; metadata: unknown }[]> {
  const events: { type: string; data: unknown; metadata: unknown }[] = [];
  try {
    for await (const resolved of client.readStream(stream, { fromRevision: START })) {
      if (resolved.event)
        events.push({
          type: resolved.event.type,
          data: resolved.event.data,
          metadata: resolved.event.metadata,
        });
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return events;
}
