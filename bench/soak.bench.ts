import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describeErrors, singleUsage, withService, type UsageKeys } from './http.bench';
import { memoryOf, sleep, type Runtime, type ServiceProcess } from './support/processes';
import { setUpParent } from './support/service-api';
import { fmt, round } from './support/stats';

/*
 * `npm run bench -- --soak <seconds>`: steady single-usage load on one hot parent, judged on memory and
 * latency, with a verdict and a non-zero exit when either fails (thresholds in docs/benchmarks.md).
 *
 * Memory grows by design: the ledger remembers every idempotency key for 35 days (SPEC rule 5), the
 * history index keeps 16 bytes per credit event, and the embedded store indexes every event. So the run
 * has two phases, each in 10-second slices with a fixed request rate:
 *   1. records: every request a new usage record. Heap growth per 100,000 records (heap measured after
 *      a full GC, as a least-squares slope over the slices) is what retention costs, judged against a
 *      budget, and p99 of the last third of the slices is compared with the first third.
 *   2. control: the same rate of requests repeating keys phase 1 recorded (each answered 200 with the
 *      original usage id, nothing recorded). They go through HTTP, auth, validation, the parent's queue
 *      and the decision, but retain nothing by design: heap growth here is a leak.
 */

/**
 * Heap growth allowed per 100,000 new records (phase 1). What the design retains per record, on the
 * heap: its idempotency receipt in the ledger state, 327 bytes (measured by folding 100,000
 * UsageRecorded events into a LedgerState), and, until the store has seen 100,000 events, its id in
 * the embedded store's window of recent ids (about 100 bytes). The history index and the store's own
 * index are typed arrays, outside the heap. ~430 bytes is 41 MiB per 100,000; 48 leaves room for GC
 * noise, and anything above it is memory the design does not explain.
 */
export const RETENTION_BUDGET_MIB_PER_100K = 48;
/**
 * Heap growth allowed over the control phase (phase 2), where nothing new is retained by design: the
 * noise of heap-after-GC between two probes (±1 MiB seen). At 500 req/s for 70 s (a 360 s soak) it
 * catches a leak of 60 bytes per request.
 */
export const CONTROL_GROWTH_LIMIT_MIB = 2;
/** p99 of the last third of the record slices against the first third: ≤ 1.5 × first + 2 ms. */
const P99_FACTOR = 1.5;
const P99_SLACK_MS = 2;
/** SPEC §6: resident memory with 1,000,000 events ≤ 512 MiB; a soak stores fewer, so this must hold. */
const RSS_LIMIT_MIB = 512;
const SLICE_SECONDS = 10;

/**
 * A bench-only preload for the service (never part of it): on SIGUSR2 it runs a full GC (the service
 * is started with --expose-gc) and prints one line with the heap left, so the soak judges live memory
 * rather than RSS, which keeps freed pages and allocator slack.
 */
const HEAP_PROBE = `'use strict';
let probes = 0;
process.on('SIGUSR2', () => {
  global.gc();
  const m = process.memoryUsage();
  probes += 1;
  process.stdout.write('BENCH_HEAP ' + probes + ' ' + JSON.stringify({ heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss }) + '\\n');
});
`;

interface HeapSample {
  readonly heapMiB: number;
  readonly externalMiB: number;
  readonly rssMiB: number;
}

/** Asks the service for its heap after a full GC (see HEAP_PROBE) and waits for the answer. */
async function probeHeap(service: ServiceProcess, probe: number): Promise<HeapSample> {
  service.process.kill('SIGUSR2');
  const line = new RegExp(`BENCH_HEAP ${probe} (\\{.*\\})`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = line.exec(service.output());
    if (match) {
      const m = JSON.parse(match[1]) as { heapUsed: number; external: number; rss: number };
      const mib = (bytes: number) => bytes / 1024 / 1024;
      return { heapMiB: mib(m.heapUsed), externalMiB: mib(m.external), rssMiB: mib(m.rss) };
    }
    if (!service.running()) throw new Error('the service died during the soak');
    if (Date.now() > deadline) throw new Error(`no heap probe answer ${probe} within 30 s`);
    await sleep(20);
  }
}

interface Slice extends HeapSample {
  readonly phase: 'records' | 'control';
  readonly t: number;
  readonly sent: number;
  readonly acknowledged: number;
  /** New records stored so far (phase 1 acknowledgements). */
  readonly records: number;
  readonly p99Ms: number;
  readonly okPerSec: number;
}

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((sum, p) => sum + p.x, 0) / n;
  const my = points.reduce((sum, p) => sum + p.y, 0) / n;
  const sxx = points.reduce((sum, p) => sum + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0);
  return sxx > 0 ? sxy / sxx : NaN;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Runs the soak and prints its figures and verdict; resolves false when any verdict failed. */
export async function runSoak(
  runtime: Runtime,
  dataDir: string,
  seconds: number,
  log: (line: string) => void,
  rate = Number(process.env.BENCH_SOAK_RATE ?? 500),
): Promise<boolean> {
  const probePath = path.join(path.dirname(dataDir), 'heap-probe.cjs');
  writeFileSync(probePath, HEAP_PROBE);
  const controlSeconds = Math.max(2, Math.round((0.2 * seconds) / SLICE_SECONDS)) * SLICE_SECONDS;
  const recordSeconds = Math.max(3 * SLICE_SECONDS, seconds - controlSeconds);
  return withService(runtime, { dataDir, nodeArgs: ['--expose-gc', '-r', probePath] }, async (service) => {
    let probes = 0;
    const heap = () => probeHeap(service, ++probes);
    const hot = await setUpParent(service.baseUrl, service.operatorToken, 'soak-hot', 64, 1_000_000_000);
    // Warm-up (JIT, connections, the parent's state in memory), not counted in any figure.
    await singleUsage(service.baseUrl, hot, 3, { overallRate: rate });
    const before = await heap();
    log(
      `soak: ${recordSeconds} s of new usage records then ${controlSeconds} s of repeats, ${fmt(rate)} req/s ` +
        `over 64 connections, in ${SLICE_SECONDS} s slices; before: heap ${fmt(before.heapMiB, 1)} MiB ` +
        `after GC, RSS ${fmt(before.rssMiB)} MiB`,
    );

    const keys: UsageKeys = { prefix: `soak-${Date.now()}`, next: 0 };
    const slices: Slice[] = [];
    const errors: Record<string, number> = {};
    let records = 0;
    const runSlice = async (phase: Slice['phase'], sliceKeys: UsageKeys, t: number) => {
      const result = await singleUsage(service.baseUrl, hot, SLICE_SECONDS, {
        overallRate: rate,
        keys: sliceKeys,
      });
      if (phase === 'records') records += result.acknowledged;
      for (const [k, v] of Object.entries(result.errors)) errors[k] = (errors[k] ?? 0) + v;
      const sample = await heap();
      const slice: Slice = {
        ...sample,
        phase,
        t,
        sent: result.sent,
        acknowledged: result.acknowledged,
        records,
        p99Ms: result.p99Ms,
        okPerSec: result.okPerSec,
      };
      slices.push(slice);
      log(
        `  ${phase} t=${t}s heap ${fmt(sample.heapMiB, 1)} MiB, RSS ${fmt(sample.rssMiB)} MiB, ` +
          `p99 ${fmt(result.p99Ms, 1)} ms, ${fmt(result.okPerSec)} ack/s, ${fmt(records)} records (${describeErrors(result.errors)})`,
      );
    };
    let t = 0;
    for (; t < recordSeconds;) await runSlice('records', keys, (t += SLICE_SECONDS));
    // Repeats of keys recorded above, same payloads: answered 200 from the ledger's memory of them.
    const repeats: UsageKeys = { prefix: keys.prefix, next: 0, repeatBelow: Math.max(1, records) };
    for (; t < recordSeconds + controlSeconds;) await runSlice('control', repeats, (t += SLICE_SECONDS));
    const after = slices[slices.length - 1];

    const recordSlices = slices.filter((slice) => slice.phase === 'records');
    const controlSlices = slices.filter((slice) => slice.phase === 'control');
    // Heap per record: the slope over the record slices, from the heap before the first one.
    const retentionMiBPer100k =
      slope([
        { x: 0, y: before.heapMiB },
        ...recordSlices.map((slice) => ({ x: slice.records, y: slice.heapMiB })),
      ]) * 100_000;
    // The same slope over each half of the record slices: the store's window of recent ids stops
    // growing at 100,000 events, so the second half shows the steady cost per record.
    const half = Math.floor(recordSlices.length / 2);
    const halfSlope = (part: readonly Slice[]) =>
      slope(part.map((slice) => ({ x: slice.records, y: slice.heapMiB }))) * 100_000;
    const retentionHalves = [halfSlope(recordSlices.slice(0, half + 1)), halfSlope(recordSlices.slice(half))];
    const controlGrowthMiB =
      controlSlices[controlSlices.length - 1].heapMiB - recordSlices[recordSlices.length - 1].heapMiB;
    const third = Math.max(1, Math.floor(recordSlices.length / 3));
    const p99First = mean(recordSlices.slice(0, third).map((slice) => slice.p99Ms));
    const p99Last = mean(recordSlices.slice(-third).map((slice) => slice.p99Ms));
    const sent = slices.reduce((sum, slice) => sum + slice.sent, 0);
    const acknowledged = slices.reduce((sum, slice) => sum + slice.acknowledged, 0);
    const rssPeak = Math.max(memoryOf(service.pid).hwmMiB, ...slices.map((slice) => slice.rssMiB));

    const verdicts = {
      retention: retentionMiBPer100k <= RETENTION_BUDGET_MIB_PER_100K,
      noLeak: controlGrowthMiB <= CONTROL_GROWTH_LIMIT_MIB,
      latencyStable: p99Last <= P99_FACTOR * p99First + P99_SLACK_MS,
      rssWithinBudget: rssPeak <= RSS_LIMIT_MIB,
      // Each slice may stop with one request per connection unanswered; anything beyond that is lost.
      noErrors: Object.keys(errors).length === 0 && sent - acknowledged <= 64 * slices.length,
    };
    const ok = Object.values(verdicts).every(Boolean);
    log(
      `soak memory: heap ${fmt(before.heapMiB, 1)} → ${fmt(after.heapMiB, 1)} MiB after GC, RSS ${fmt(before.rssMiB)} → ` +
        `${fmt(after.rssMiB)} MiB (peak ${fmt(rssPeak)}); retention ${fmt(retentionMiBPer100k, 1)} MiB per 100,000 records ` +
        `(budget ${RETENTION_BUDGET_MIB_PER_100K}; first half ${fmt(retentionHalves[0], 1)}, second half ${fmt(retentionHalves[1], 1)}) ` +
        `${verdicts.retention ? 'OK' : 'OVER BUDGET'}; ` +
        `control phase ${fmt(controlGrowthMiB, 1)} MiB over ${fmt(controlSlices.reduce((s, c) => s + c.acknowledged, 0))} repeats ` +
        `(limit ${CONTROL_GROWTH_LIMIT_MIB}) ${verdicts.noLeak ? 'FLAT' : 'LEAK'}`,
    );
    log(
      `soak latency: p99 first third ${fmt(p99First, 1)} ms → last third ${fmt(p99Last, 1)} ms ` +
        `(limit ${P99_FACTOR} × first + ${P99_SLACK_MS} ms) ${verdicts.latencyStable ? 'STABLE' : 'DEGRADED'}; ` +
        `${fmt(sent)} requests sent, ${fmt(acknowledged)} acknowledged, ${fmt(records)} records; ${describeErrors(errors)}`,
    );
    log(
      `soak verdict: ${
        ok
          ? 'PASS'
          : `FAIL (${Object.entries(verdicts)
              .filter(([, v]) => !v)
              .map(([k]) => k)
              .join(', ')})`
      }`,
    );
    log(
      JSON.stringify({
        soak: {
          seconds: recordSeconds + controlSeconds,
          rate,
          ok,
          verdicts,
          sent,
          acknowledged,
          records,
          heapBeforeMiB: round(before.heapMiB),
          heapAfterMiB: round(after.heapMiB),
          rssBeforeMiB: round(before.rssMiB),
          rssAfterMiB: round(after.rssMiB),
          rssPeakMiB: round(rssPeak),
          retentionMiBPer100k: round(retentionMiBPer100k),
          retentionHalvesMiBPer100k: retentionHalves.map(round),
          controlGrowthMiB: round(controlGrowthMiB),
          p99FirstMs: round(p99First),
          p99LastMs: round(p99Last),
          errors,
          slices: slices.map((slice) => ({
            phase: slice.phase,
            t: slice.t,
            heapMiB: round(slice.heapMiB),
            rssMiB: round(slice.rssMiB),
            p99Ms: slice.p99Ms,
            okPerSec: round(slice.okPerSec),
            records: slice.records,
          })),
        },
      }),
    );
    return ok;
  });
}
