import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import {
  memoryOf,
  processCpuSeconds,
  startService,
  type Runtime,
  type ServiceOptions,
  type ServiceProcess,
} from './support/processes';
import { setUpParent, type HotParent } from './support/service-api';
import { fmt } from './support/stats';

export interface HttpResult {
  readonly usageSingle: {
    readonly recordsPerSec: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly noopRatio: number;
    readonly noopRequestsPerSec: number;
    /**
     * CPU time of the service process (every thread of it: HTTP, the projector thread, GC) over the
     * single-usage run, per record acknowledged.
     */
    readonly cpuUsPerRecord: number;
    /** The same of the `npm run projector` process beside it (`--projector external`); NaN without one. */
    readonly projectorCpuUsPerRecord: number;
    readonly errors: Record<string, number>;
  };
  readonly usageBatch: {
    readonly recordsPerSec: number;
    readonly p99Ms: number;
    readonly errors: Record<string, number>;
  };
  /** The service process's RSS (MiB) right after the single-usage run and after the batch run. */
  readonly serviceRssMiB: { readonly afterSingle: number; readonly afterBatch: number };
}

interface LoadResult {
  /** 2xx answers per second (for the batch: records recorded per second). */
  readonly okPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Non-2xx answers by status, connection errors and timeouts. */
  readonly errors: Record<string, number>;
}

function errorsOf(result: autocannon.Result): Record<string, number> {
  const errors: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    if (!status.startsWith('2') && stats.count) errors[status] = stats.count;
  }
  if (result.errors) errors.connectionErrors = result.errors;
  if (result.timeouts) errors.timeouts = result.timeouts;
  return errors;
}

function run(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** The no-op reference: the same server's cheapest route, same connections and duration. */
async function noop(baseUrl: string, seconds: number): Promise<LoadResult> {
  const result = await run({
    url: `${baseUrl}/health/live`,
    connections: 64,
    duration: seconds,
    timeout: 10,
  });
  return {
    okPerSec: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: errorsOf(result),
  };
}

/** Where a run of single usage records takes its idempotency keys: `${prefix}-${i}` for i = next, next + 1, … */
export interface UsageKeys {
  readonly prefix: string;
  next: number;
  /** Wrap around below this index: every request then repeats a key an earlier run recorded (200, nothing new). */
  readonly repeatBelow?: number;
}

export interface UsageLoadResult extends LoadResult {
  /**
   * Requests built and sent (counted here: autocannon's own `requests.sent` adds a rate's worth of
   * phantom requests per connection when a rate is set), and how many got a 2xx. At most one per
   * connection is still unanswered when the run stops.
   */
  readonly sent: number;
  readonly acknowledged: number;
}

/**
 * Single usage records of 1 credit, round-robin over the sub-accounts by key index, so a repeat of key
 * i carries exactly the payload of its first use. By default each request uses a key no other request
 * of the run uses.
 */
export async function singleUsage(
  baseUrl: string,
  parent: HotParent,
  seconds: number,
  opts: { connections?: number; overallRate?: number; keys?: UsageKeys } = {},
): Promise<UsageLoadResult> {
  const keys = opts.keys ?? { prefix: randomUUID().slice(0, 8), next: 0 };
  const first = keys.next;
  const result = await run({
    url: baseUrl,
    connections: opts.connections ?? 64,
    duration: seconds,
    timeout: 10,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    requests: [
      {
        method: 'POST',
        headers: { authorization: `Bearer ${parent.secret}`, 'content-type': 'application/json' },
        setupRequest: (request) => {
          const n = keys.next++;
          const i = keys.repeatBelow ? n % keys.repeatBelow : n;
          const sub = parent.subAccountIds[i % parent.subAccountIds.length];
          return {
            ...request,
            path: `/v1/parents/${parent.parentId}/sub-accounts/${sub}/usage`,
            body: JSON.stringify({ idempotencyKey: `${keys.prefix}-${i}`, credits: 1, meter: 'api-calls' }),
          };
        },
      },
    ],
  });
  return {
    okPerSec: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: errorsOf(result),
    sent: keys.next - first,
    acknowledged: result['2xx'],
  };
}

/**
 * Batches of `size` records on a few connections. A 200 answers per record, so every answer is read
 * and only the records it reports as recorded are counted.
 */
export async function batchUsage(
  baseUrl: string,
  parent: HotParent,
  seconds: number,
  size: number,
  connections: number,
): Promise<LoadResult> {
  const run_ = randomUUID().slice(0, 8);
  let n = 0;
  let recorded = 0;
  const refused: Record<string, number> = {};
  const result = await run({
    url: baseUrl,
    connections,
    duration: seconds,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: `/v1/parents/${parent.parentId}/usage/batch`,
        headers: { authorization: `Bearer ${parent.secret}`, 'content-type': 'application/json' },
        setupRequest: (request) => {
          const records = [];
          for (let r = 0; r < size; r++) {
            const i = n++;
            records.push({
              subAccountId: parent.subAccountIds[i % parent.subAccountIds.length],
              idempotencyKey: `${run_}-${i}`,
              credits: 1,
              meter: 'api-calls',
            });
          }
          return { ...request, body: JSON.stringify({ records }) };
        },
        onResponse: (status, body) => {
          if (status < 200 || status >= 300) return;
          for (const outcome of recordOutcomes(body)) {
            if (outcome === 'ok') recorded++;
            else refused[outcome] = (refused[outcome] ?? 0) + 1;
          }
        },
      },
    ],
  });
  const errors = errorsOf(result);
  for (const [code, count] of Object.entries(refused)) errors[`record:${code}`] = count;
  return {
    okPerSec: recorded / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors,
  };
}

/**
 * 'ok' or the refusal code of each record of a batch answer. The answer's exact shape is the ledger's;
 * a record counts as recorded when it carries a usageId and no error.
 */
function recordOutcomes(body: string): string[] {
  let parsed: any;
  try {
    parsed = JSON.parse(body);
  } catch {
    return ['unparseable-answer'];
  }
  const results: unknown[] = Array.isArray(parsed) ? parsed : (parsed?.results ?? parsed?.records ?? []);
  return results.map((result: any) => {
    if (result && typeof result.usageId === 'string' && !result.error) return 'ok';
    return String(result?.error?.code ?? result?.code ?? result?.status ?? 'unknown');
  });
}

export function describeErrors(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? 'no errors' : `ERRORS ${entries.map(([k, v]) => `${k}×${v}`).join(', ')}`;
}

export async function withService<T>(
  runtime: Runtime,
  options: ServiceOptions,
  body: (service: ServiceProcess) => Promise<T>,
): Promise<T> {
  const service = await startService(runtime, options);
  try {
    return await body(service);
  } catch (error) {
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\nservice output:\n${service.output().slice(-4000)}`,
      { cause: error },
    );
  } finally {
    await service.stop();
  }
}

export async function benchHttp(
  runtime: Runtime,
  dataDir: string,
  opts: { usageSeconds: number; batchSeconds: number; log: (line: string) => void },
): Promise<HttpResult> {
  return withService(runtime, { dataDir }, async (service) => {
    const hot = await setUpParent(service.baseUrl, service.operatorToken, 'bench-hot', 64, 1_000_000_000);
    // Warm-up: JIT, connection pools, the hot parent's state in memory.
    await singleUsage(service.baseUrl, hot, 2);
    await noop(service.baseUrl, 1);
    // The reference is taken before and after the usage run, so drift on the shared machine weighs on both.
    const noopBefore = await noop(service.baseUrl, opts.usageSeconds / 2);
    const cpuBefore = processCpuSeconds(service.pid);
    const projectorCpuBefore = service.projectorPid ? processCpuSeconds(service.projectorPid) : NaN;
    const usage = await singleUsage(service.baseUrl, hot, opts.usageSeconds);
    const cpuUsPerRecord = ((processCpuSeconds(service.pid) - cpuBefore) * 1e6) / usage.acknowledged;
    const rssAfterSingle = memoryOf(service.pid).rssMiB;
    const projectorCpuUsPerRecord = service.projectorPid
      ? ((processCpuSeconds(service.projectorPid) - projectorCpuBefore) * 1e6) / usage.acknowledged
      : NaN;
    const noopAfter = await noop(service.baseUrl, opts.usageSeconds / 2);
    const noopPerSec = (noopBefore.okPerSec + noopAfter.okPerSec) / 2;
    opts.log(
      `usageSingle: ${fmt(usage.okPerSec)} records/s, p50 ${fmt(usage.p50Ms, 1)} ms, p99 ${fmt(usage.p99Ms, 1)} ms ` +
        `(64 connections, ${opts.usageSeconds} s, one hot parent, 64 sub-accounts; ${describeErrors(usage.errors)}); ` +
        `no-op GET /health/live ${fmt(noopPerSec)} req/s (p99 ${fmt(Math.max(noopBefore.p99Ms, noopAfter.p99Ms), 1)} ms) → ` +
        `${fmt((100 * usage.okPerSec) / noopPerSec)}% — targets ≥ 5,000/s, p99 ≤ 25 ms, ≥ 40%; ` +
        `service CPU ${fmt(cpuUsPerRecord)} µs per record, RSS ${fmt(rssAfterSingle)} MiB after the run` +
        (service.projectorPid ? ` (and the projector process ${fmt(projectorCpuUsPerRecord)} µs)` : ''),
    );

    const batchParent = await setUpParent(
      service.baseUrl,
      service.operatorToken,
      'bench-batch',
      64,
      1_000_000_000,
    );
    await batchUsage(service.baseUrl, batchParent, 2, 1000, 4);
    const batch = await batchUsage(service.baseUrl, batchParent, opts.batchSeconds, 1000, 4);
    const rssAfterBatch = memoryOf(service.pid).rssMiB;
    opts.log(
      `usageBatch: ${fmt(batch.okPerSec)} records/s (1,000 per request, 4 connections, ${opts.batchSeconds} s, ` +
        `request p99 ${fmt(batch.p99Ms)} ms; ${describeErrors(batch.errors)}; service RSS ${fmt(rssAfterBatch)} MiB after it) — target ≥ 50,000`,
    );
    return {
      usageSingle: {
        recordsPerSec: usage.okPerSec,
        p50Ms: usage.p50Ms,
        p99Ms: usage.p99Ms,
        noopRatio: usage.okPerSec / noopPerSec,
        noopRequestsPerSec: noopPerSec,
        cpuUsPerRecord,
        projectorCpuUsPerRecord,
        errors: usage.errors,
      },
      usageBatch: { recordsPerSec: batch.okPerSec, p99Ms: batch.p99Ms, errors: batch.errors },
      serviceRssMiB: { afterSingle: rssAfterSingle, afterBatch: rssAfterBatch },
    };
  });
}
