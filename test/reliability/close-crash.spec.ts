import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recount } from '../support/ledger-recount';
import { expectStatus, type StoredEvent } from '../support/ledger-fixtures';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { getWhenCaughtUp, openCrashParent, readFeed, type CrashParent } from './support/crashed-service';

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
