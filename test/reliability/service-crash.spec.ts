import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { recount } from '../support/ledger-recount';
import { seededRandom } from '../crash/crash.helpers';
import { expectStatus, type StoredEvent } from '../support/ledger-fixtures';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { getWhenCaughtUp, openCrashParent, readFeed, type CrashParent } from './support/crashed-service';
import { makeDataDir } from '../support/database';

const ROUNDS = 3;
const USAGE_CLIENTS = 14;
const ALLOCATION_CLIENTS = 2;
const OPERATOR_TOKEN = 'crash-test-operator-token-0123456789';
/**
 * The read models commit rows and checkpoints batch by batch as events arrive; the load runs a while
 * before the random kill, so each restart resumes from committed checkpoints (the kill drops whatever
 * batch was in flight) and must not count the events after them twice.
 */
const CHECKPOINT_SAVED_AFTER_MS = 1_500;

/** One usage request as sent; `status` stays undefined when no answer came (the service died). */
interface SentUsage {
  readonly subAccountId: string;
  readonly idempotencyKey: string;
  readonly credits: number;
  status?: number;
  usageId?: string;
}

interface SentAllocation {
  readonly subAccountId: string;
  readonly credits: number;
  status?: number;
}

const usageKey = (subAccountId: string, idempotencyKey: string) => `${subAccountId}/${idempotencyKey}`;
const isAcknowledged = (status: number | undefined) => status !== undefined && status >= 200 && status < 300;

function usageBody(sent: SentUsage) {
  return { idempotencyKey: sent.idempotencyKey, credits: sent.credits, meter: 'api' };
}

/** UsageRecorded events by sub-account and idempotency key. */
function recordedUsage(events: readonly StoredEvent[]): Map<string, StoredEvent[]> {
  const byKey = new Map<string, StoredEvent[]>();
  for (const event of events) {
    if (event.type !== 'UsageRecorded') continue;
    const key = usageKey(event.data.subAccountId, event.data.idempotencyKey);
    byKey.set(key, [...(byKey.get(key) ?? []), event]);
  }
  return byKey;
}

/**
 * Clients send usage and allocations as fast as they are answered until the service dies under
 * them; a request whose connection breaks stays unanswered. Settles once every client has stopped.
 */
async function runLoad(
  service: ServiceProcess,
  parent: CrashParent,
  random: () => number,
  round: number,
  usage: SentUsage[],
  allocations: SentAllocation[],
): Promise<void> {
  const pick = () => parent.subAccounts[Math.floor(random() * parent.subAccounts.length)];
  const usageClient = async (client: number) => {
    for (let seq = 0; ; seq++) {
      const sent: SentUsage = {
        subAccountId: pick(),
        idempotencyKey: `r${round}-c${client}-${seq}`,
        credits: 1 + Math.floor(random() * 5),
      };
      usage.push(sent);
      const response = await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${sent.subAccountId}/usage`,
        usageBody(sent),
        parent.key,
      );
      sent.status = response.status;
      sent.usageId = response.body?.usageId;
    }
  };
  const allocationClient = async () => {
    for (;;) {
      const sent: SentAllocation = { subAccountId: pick(), credits: 1 + Math.floor(random() * 10) };
      allocations.push(sent);
      const response = await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${sent.subAccountId}/allocations`,
        { credits: sent.credits },
        parent.key,
      );
      sent.status = response.status;
    }
  };
  await Promise.allSettled([
    ...Array.from({ length: USAGE_CLIENTS }, (_, client) => usageClient(client)),
    ...Array.from({ length: ALLOCATION_CLIENTS }, () => allocationClient()),
  ]);
}

/** Resends each request with a bounded number in flight, as a client library retrying would. */
async function resend(service: ServiceProcess, parent: CrashParent, requests: SentUsage[]) {
  const answers: { sent: SentUsage; status: number; usageId?: string }[] = [];
  const queue = [...requests];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let sent = queue.shift(); sent; sent = queue.shift()) {
        const response = await service.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${sent.subAccountId}/usage`,
          usageBody(sent),
          parent.key,
        );
        answers.push({ sent, status: response.status, usageId: response.body?.usageId });
      }
    }),
  );
  return answers;
}

/** Projections (sub-account reads, balance as of now, usage analytics, draft invoice) against the recount of the log. */
async function checkProjections(
  service: ServiceProcess,
  parent: CrashParent,
  events: readonly StoredEvent[],
) {
  const { count } = recount(events);
  const asOf = new Date().toISOString();
  for (const subAccountId of parent.subAccounts) {
    const expected = count.subAccounts.get(subAccountId)!;
    const figures = { quota: expected.quota, used: expected.used, remaining: expected.quota - expected.used };
    const base = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}`;
    const read = expectStatus(await getWhenCaughtUp(service, base, parent.key), 200).body;
    expect({ subAccountId, quota: read.quota, used: read.used, remaining: read.remaining }).toEqual({
      subAccountId,
      ...figures,
    });
    const balance = expectStatus(
      await getWhenCaughtUp(service, `${base}/balance?asOf=${asOf}`, parent.key),
      200,
    ).body;
    expect({ subAccountId, quota: balance.quota, used: balance.used, remaining: balance.remaining }).toEqual({
      subAccountId,
      ...figures,
    });
  }

  const fromLog = new Map<string, { credits: number; records: number }>();
  for (const event of events) {
    if (event.type !== 'UsageRecorded') continue;
    const group = fromLog.get(event.data.subAccountId) ?? { credits: 0, records: 0 };
    group.credits += event.data.credits;
    group.records += 1;
    fromLog.set(event.data.subAccountId, group);
  }
  const report = expectStatus(
    await getWhenCaughtUp(service, `/v1/parents/${parent.id}/usage?groupBy=subAccount`, parent.key),
    200,
  ).body as {
    groups: { key: string; credits: number; records: number }[];
    total: { credits: number; records: number };
  };
  const fromAnalytics = new Map(
    report.groups.map((g) => [g.key, { credits: g.credits, records: g.records }]),
  );
  expect(Object.fromEntries(fromAnalytics)).toEqual(Object.fromEntries(fromLog));
  expect(report.total).toEqual({
    credits: [...fromLog.values()].reduce((n, g) => n + g.credits, 0),
    records: [...fromLog.values()].reduce((n, g) => n + g.records, 0),
  });

  // The live draft invoice of the open period bills exactly the usage the log holds for it.
  const listing = expectStatus(
    await service.api.get(`/v1/parents/${parent.id}/invoices`, parent.key),
    200,
  ).body;
  const draftPeriod: string = listing.draft.period;
  const logCredits = new Map<string, number>();
  for (const event of events) {
    if (event.type !== 'UsageRecorded' || !String(event.data.occurredAt).startsWith(draftPeriod)) continue;
    logCredits.set(
      event.data.subAccountId,
      (logCredits.get(event.data.subAccountId) ?? 0) + event.data.credits,
    );
  }
  const draftCredits = new Map<string, number>();
  for (const invoice of listing.draft.invoices as {
    sections: { subAccountId: string; lines: { credits: string }[] }[];
  }[]) {
    for (const section of invoice.sections) {
      const credits = section.lines.reduce((n, line) => n + Number(line.credits), 0);
      if (credits > 0)
        draftCredits.set(section.subAccountId, (draftCredits.get(section.subAccountId) ?? 0) + credits);
    }
  }
  expect({ draftPeriod, credits: Object.fromEntries(draftCredits) }).toEqual({
    draftPeriod,
    credits: Object.fromEntries(logCredits),
  });
}

/**
 * The service, and with it its embedded store, is killed with SIGKILL while sixteen clients send
 * usage and allocations, then restarted on the same data directory, three times over. A kill keeps
 * what reached the page cache, so this proves the service's write path and its projections'
 * checkpoints, not fsync.
 */
/** The read models' committed checkpoints, read from the service's embedded PostgreSQL. */
async function committedCheckpoints(dataDir: string): Promise<string[]> {
  const pgDir = path.join(dataDir, 'postgres');
  const port = Number(fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
  const password = fs.readFileSync(`${pgDir}.password`, 'utf8').trim();
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'subledger' });
  await client.connect();
  try {
    const { rows } = await client.query<{ projection: string; commit_position: string }>(
      'SELECT projection, commit_position FROM read_model_checkpoints WHERE commit_position >= 0 ORDER BY 1',
    );
    return rows.map((row) => `${row.projection}@${row.commit_position}`);
  } finally {
    await client.end();
  }
}

/** kill -9 of the embedded PostgreSQL on `dataDir`: its backends first, then the postmaster. */
function killPostgres(dataDir: string): void {
  const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const postmaster = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    execFileSync('pkill', ['-KILL', '-P', String(postmaster)]);
  } catch {
    // no children left
  }
  try {
    process.kill(postmaster, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('kill -9 of the service under load, then restart on the same data directory', () => {
  let dataDir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dataDir = makeDataDir('subledger-service-crash-');
  });

  afterEach(async () => {
    await service?.killHard();
    service = undefined;
    killPostgres(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    startServiceProcess({
      // The service's own embedded PostgreSQL, as `npm start` runs it: killing the service leaves it
      // running (the restart adopts it), and some rounds kill it too.
      env: { SUBLEDGER_DATA_DIR: dataDir, OPERATOR_TOKEN, LOG_LEVEL: 'warn', DATABASE_URL: '' },
    });

  it(`loses no acknowledged usage and counts each idempotency key once through ${ROUNDS} kills`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    service = await start();
    const parent = await openCrashParent(service, { credits: 100_000_000, subAccounts: 4, quota: 1_000_000 });
    const allUsage: SentUsage[] = [];
    const allAllocations: SentAllocation[] = [];
    const setupEvents = (await readFeed(service, parent.id, parent.key)).length;

    for (let round = 1; round <= ROUNDS; round++) {
      const context = `round ${round} (CRASH_SEED=${seed})`;
      const usage: SentUsage[] = [];
      const allocations: SentAllocation[] = [];
      const running = service;
      const load = runLoad(running, parent, random, round, usage, allocations);
      const killAfterMs = CHECKPOINT_SAVED_AFTER_MS + 500 + Math.floor(random() * 1_500);
      await new Promise((resolve) => setTimeout(resolve, killAfterMs));
      await running.killHard();
      await load;
      allUsage.push(...usage);
      allAllocations.push(...allocations);

      // The read models committed rows with their checkpoints before the kill, so the restart resumes
      // from those rows rather than rebuilding: that is where a double count would come from.
      const checkpoints = await committedCheckpoints(dataDir);
      // Every other round the database dies too (kill -9 of its server and backends): it recovers from
      // its own log on the restart, with rows and checkpoints as they were committed.
      const databaseKilled = round % 2 === 0;
      if (databaseKilled) killPostgres(dataDir);
      service = await start();
      const events = await readFeed(service, parent.id, parent.key);
      const recorded = recordedUsage(events);

      // (a) every acknowledged usage is in the log exactly once, under the usage id it was answered with.
      const acknowledged = usage.filter((sent) => isAcknowledged(sent.status));
      const lost = acknowledged.filter(
        (sent) => recorded.get(usageKey(sent.subAccountId, sent.idempotencyKey))?.length !== 1,
      );
      const renamed = acknowledged.filter(
        (sent) =>
          recorded.get(usageKey(sent.subAccountId, sent.idempotencyKey))?.[0]?.data.usageId !== sent.usageId,
      );
      const duplicated = [...recorded].filter(([, found]) => found.length > 1).map(([key]) => key);
      const unanswered = usage.filter((sent) => !isAcknowledged(sent.status));
      const recordedUnanswered = unanswered.filter((sent) =>
        recorded.has(usageKey(sent.subAccountId, sent.idempotencyKey)),
      );
      console.log(
        `${context}: killed after ${killAfterMs} ms; usage sent ${usage.length}, acknowledged ${acknowledged.length}, ` +
          `found ${acknowledged.length - lost.length}, lost ${lost.length}; unanswered ${unanswered.length} ` +
          `(of which in the log ${recordedUnanswered.length}); allocations sent ${allocations.length}, ` +
          `acknowledged ${allocations.filter((a) => isAcknowledged(a.status)).length}; ` +
          `checkpoints at the kill: ${checkpoints.join(', ')}; database killed too: ${databaseKilled}`,
      );
      expect(checkpoints.length).toBeGreaterThan(0);
      expect({ context, lost, renamed, duplicated }).toEqual({
        context,
        lost: [],
        renamed: [],
        duplicated: [],
      });
      // Every answer that came was a success: the load stays within quota and pool.
      expect(usage.filter((sent) => sent.status !== undefined && !isAcknowledged(sent.status))).toEqual([]);

      // (b) resending what was unanswered, same key and payload: recorded now (201) or answered as
      // the first time (200, same usage id) when the first attempt had reached the log.
      const answers = await resend(service, parent, unanswered);
      const wrongAnswers = answers
        .filter(({ sent, status, usageId }) => {
          const before = recorded.get(usageKey(sent.subAccountId, sent.idempotencyKey));
          return before ? status !== 200 || usageId !== before[0].data.usageId : status !== 201;
        })
        .map(({ sent, status }) => ({ key: sent.idempotencyKey, status }));
      expect({ context, wrongAnswers }).toEqual({ context, wrongAnswers: [] });

      const after = await readFeed(service, parent.id, parent.key);
      const recordedAfter = recordedUsage(after);
      const notOnce = allUsage
        .map((sent) => usageKey(sent.subAccountId, sent.idempotencyKey))
        .filter((key) => recordedAfter.get(key)?.length !== 1);
      expect({ context, notOnce, keys: recordedAfter.size }).toEqual({
        context,
        notOnce: [],
        keys: allUsage.length,
      });

      // Allocations are not idempotent: each acknowledged one is in the log, and none appears twice.
      const allocated = after.slice(setupEvents).filter((event) => event.type === 'QuotaAllocated').length;
      expect(allocated).toBeGreaterThanOrEqual(allAllocations.filter((a) => isAcknowledged(a.status)).length);
      expect(allocated).toBeLessThanOrEqual(allAllocations.length);

      // (c) every rule of §2 holds over the whole history, and each event states the recount.
      expect({ context, violations: recount(after).violations }).toEqual({ context, violations: [] });

      // (d) read models resumed from their checkpoints agree with the log: nothing counted twice.
      await checkProjections(service, parent, after);
    }
  }, 300_000);
});
