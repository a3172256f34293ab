import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { batchUsage, singleUsage } from './http.bench';
import { CHAIN_GENESIS } from '../src/event-store/command-processing/audit-chain';
import { toChainedEventData, toEventData } from '../src/event-store/command-processing/event-envelope';
import { processCpuSeconds, startService, type Runtime, type ServiceProcess } from './support/processes';
import { expectCall, setUpParent } from './support/service-api';
import { fmt, percentile, round } from './support/stats';

/**
 * The integrations of SPEC §11, measured (`integrations` in the bench's JSON summary):
 *
 * - the audit chain's cost per usage record: the same single-usage and batch runs on a service with the
 *   chain and on one started with `SUBLEDGER_BENCH_AUDIT_CHAIN=off` (a switch for this comparison only;
 *   the service refuses it in production), each on a fresh store, alternated twice and averaged;
 * - webhook delivery at 1,000 usage records/s: a loopback receiver in this process takes every
 *   `UsageRecorded` of the parent's one endpoint; lag = receipt − the event's recorded time (the
 *   body's `timestamp`, set by the store at the append), throughput = deliveries per second over the run.
 */
export interface IntegrationsResult {
  readonly chain: {
    readonly singleRecordsPerSec: { readonly with: number; readonly without: number; readonly ratio: number };
    readonly batchRecordsPerSec: { readonly with: number; readonly without: number; readonly ratio: number };
    /**
     * In this process, no I/O: turning one usage event into the client's event data, as the command
     * processor does, with its chain link (canonical JSON + SHA-256) and without; the least noisy figure
     * on a shared machine.
     */
    readonly encodeUsPerEvent: { readonly with: number; readonly without: number };
    /** Service CPU per record over the single run; `extra` = with − without. */
    readonly cpuUsPerRecord: { readonly with: number; readonly without: number; readonly extra: number };
  };
  readonly webhooks: {
    readonly targetRecordsPerSec: number;
    readonly recordedPerSec: number;
    readonly delivered: number;
    readonly recorded: number;
    readonly deliveredPerSec: number;
    readonly lagP50Ms: number;
    readonly lagP99Ms: number;
    readonly lagMaxMs: number;
    /** Deliveries received more than once (at least once: none expected without a crash). */
    readonly duplicates: number;
  };
}

const SUB_ACCOUNTS = 20;

/** µs per event to encode a typical `UsageRecorded` with its command's envelope, best of 5 rounds. */
function encodeUsPerEvent(chained: boolean): number {
  const envelope = {
    $correlationId: 'b6f0c1de-0d7e-4d0c-9a53-5d2b8f0c1a11',
    $causationId: 'b6f0c1de-0d7e-4d0c-9a53-5d2b8f0c1a11',
    actor: { type: 'parent', id: 'acme' },
    requestId: 'b6f0c1de-0d7e-4d0c-9a53-5d2b8f0c1a11',
    schemaVersion: 1,
    recordedAt: '2026-10-20T12:00:00.000Z',
  };
  const event = {
    type: 'UsageRecorded',
    data: {
      usageId: 'u-0123456789abcdef',
      subAccountId: 'sub-0001',
      idempotencyKey: 'run-1-000001',
      fingerprint: 'f3a1c9e0b2d44c6f',
      credits: 1,
      meter: 'api-calls',
      occurredAt: '2026-10-20T12:00:00.000Z',
      period: '2026-10',
      late: false,
      balancesAfter: { quota: 100_000, used: 1_234, remaining: 98_766 },
      lots: [{ lotId: 'lot-1', credits: 1 }],
    },
  };
  const count = 20_000;
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let prev = CHAIN_GENESIS;
    const started = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      if (chained) prev = toChainedEventData(event, envelope, prev).hash;
      else toEventData(event, envelope);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1_000 / count);
  }
  return best;
}
const QUOTA = 100_000_000;

async function chainRun(
  runtime: Runtime,
  dataDir: string,
  seconds: number,
  chain: boolean,
): Promise<{ single: number; batch: number; cpuUsPerRecord: number }> {
  const service = await startService(runtime, {
    dataDir,
    env: chain ? {} : { SUBLEDGER_BENCH_AUDIT_CHAIN: 'off' },
  });
  try {
    const parent = await setUpParent(service.baseUrl, service.operatorToken, 'chain', SUB_ACCOUNTS, QUOTA);
    // Warm-up: JIT, caches, the first snapshot.
    await singleUsage(service.baseUrl, parent, 2);
    const cpuBefore = processCpuSeconds(service.pid);
    const single = await singleUsage(service.baseUrl, parent, seconds);
    const cpuUs = ((processCpuSeconds(service.pid) - cpuBefore) * 1e6) / Math.max(1, single.acknowledged);
    // Batches of 100 records on 4 connections, records recorded per second.
    const batch = (await batchUsage(service.baseUrl, parent, seconds, 100, 4)).okPerSec;
    return { single: single.okPerSec, batch, cpuUsPerRecord: cpuUs };
  } finally {
    await service.stop();
  }
}

interface Receipt {
  readonly id: string;
  readonly lagMs: number;
  readonly at: number;
}

async function webhookRun(
  runtime: Runtime,
  dataDir: string,
  seconds: number,
  ratePerSec: number,
  progress: (line: string) => void,
): Promise<IntegrationsResult['webhooks']> {
  const receipts: Receipt[] = [];
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const at = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { timestamp: string };
      receipts.push({
        id: String(request.headers['webhook-id']),
        lagMs: at - Date.parse(body.timestamp),
        at,
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  let service: ServiceProcess | undefined;
  try {
    service = await startService(runtime, { dataDir, env: { SUBLEDGER_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    const parent = await setUpParent(service.baseUrl, service.operatorToken, 'hooks', SUB_ACCOUNTS, QUOTA);
    await expectCall(
      201,
      service.baseUrl,
      'POST',
      `/v1/parents/${parent.parentId}/webhook-endpoints`,
      parent.secret,
      { url: `http://127.0.0.1:${port}/hook`, eventTypes: ['UsageRecorded'] },
    );
    const load = await singleUsage(service.baseUrl, parent, seconds, {
      connections: 32,
      overallRate: ratePerSec,
    });
    progress(`webhooks: ${fmt(load.acknowledged)} usage records sent; waiting for their deliveries`);
    const drainDeadline = Date.now() + 60_000;
    while (new Set(receipts.map((r) => r.id)).size < load.acknowledged && Date.now() < drainDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const unique = new Set(receipts.map((r) => r.id));
    const lags = receipts.map((r) => r.lagMs);
    const span = receipts.length > 1 ? (receipts[receipts.length - 1].at - receipts[0].at) / 1000 : NaN;
    return {
      targetRecordsPerSec: ratePerSec,
      recordedPerSec: load.okPerSec,
      recorded: load.acknowledged,
      delivered: unique.size,
      deliveredPerSec: unique.size / span,
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      lagMaxMs: Math.max(...lags),
      duplicates: receipts.length - unique.size,
    };
  } finally {
    await service?.stop();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
}

export async function benchIntegrations(
  runtime: Runtime,
  workDir: string,
  opts: { seconds: number; log: (line: string) => void; progress: (line: string) => void },
): Promise<IntegrationsResult> {
  const { seconds, log, progress } = opts;
  // Alternated, twice each, and averaged: the machine's load drifts, and it then weighs on both sides.
  const runs: Record<'on' | 'off', Array<Awaited<ReturnType<typeof chainRun>>>> = { on: [], off: [] };
  for (const round of [1, 2]) {
    for (const side of ['on', 'off'] as const) {
      progress(`audit chain ${side} (round ${round} of 2): single and batch usage for ${seconds} s each`);
      runs[side].push(await chainRun(runtime, `${workDir}/chain-${side}-${round}`, seconds, side === 'on'));
    }
  }
  const mean = (side: 'on' | 'off', figure: 'single' | 'batch' | 'cpuUsPerRecord') =>
    runs[side].reduce((sum, run) => sum + run[figure], 0) / runs[side].length;
  const withChain = {
    single: mean('on', 'single'),
    batch: mean('on', 'batch'),
    cpuUsPerRecord: mean('on', 'cpuUsPerRecord'),
  };
  const without = {
    single: mean('off', 'single'),
    batch: mean('off', 'batch'),
    cpuUsPerRecord: mean('off', 'cpuUsPerRecord'),
  };
  const chain = {
    encodeUsPerEvent: { with: encodeUsPerEvent(true), without: encodeUsPerEvent(false) },
    singleRecordsPerSec: {
      with: withChain.single,
      without: without.single,
      ratio: withChain.single / without.single,
    },
    batchRecordsPerSec: {
      with: withChain.batch,
      without: without.batch,
      ratio: withChain.batch / without.batch,
    },
    cpuUsPerRecord: {
      with: withChain.cpuUsPerRecord,
      without: without.cpuUsPerRecord,
      extra: withChain.cpuUsPerRecord - without.cpuUsPerRecord,
    },
  };
  log(
    `auditChain: single ${fmt(chain.singleRecordsPerSec.with)} records/s with, ${fmt(chain.singleRecordsPerSec.without)} without ` +
      `(${fmt(100 * chain.singleRecordsPerSec.ratio)}%); batch ${fmt(chain.batchRecordsPerSec.with)} with, ` +
      `${fmt(chain.batchRecordsPerSec.without)} without (${fmt(100 * chain.batchRecordsPerSec.ratio)}%); ` +
      `service CPU µs/record ${fmt(chain.cpuUsPerRecord.with, 1)} with, ${fmt(chain.cpuUsPerRecord.without, 1)} without; ` +
      `encoding one usage event in process ${fmt(chain.encodeUsPerEvent.with, 1)} µs with, ${fmt(chain.encodeUsPerEvent.without, 1)} µs without`,
  );
  progress(`webhooks: usage at 1,000 records/s for ${seconds} s, delivered to a loopback receiver`);
  const webhooks = await webhookRun(runtime, `${workDir}/webhooks`, seconds, 1_000, progress);
  log(
    `webhooks: ${fmt(webhooks.delivered)} of ${fmt(webhooks.recorded)} usage events delivered at ${fmt(webhooks.deliveredPerSec)}/s ` +
      `(usage recorded at ${fmt(webhooks.recordedPerSec)}/s, target 1,000); lag append→receipt p50 ${fmt(webhooks.lagP50Ms)} ms, ` +
      `p99 ${fmt(webhooks.lagP99Ms)} ms, max ${fmt(webhooks.lagMaxMs)} ms; ${webhooks.duplicates} duplicates`,
  );
  return roundedFigures({ chain, webhooks });
}

/** Every figure rounded as the rest of the summary is (`round`), for the JSON line. */
function roundedFigures<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (_key, figure: unknown) => (typeof figure === 'number' ? round(figure) : figure)),
  ) as T;
}
