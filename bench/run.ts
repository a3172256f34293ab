/**
 * `npm run bench` (`ts-node --transpile-only bench/run.ts`): the figures of SPEC §6, each beside its
 * reference measured in the same run, one line per figure and a JSON summary as the last line.
 *
 *   npm run bench                  full volumes (1,000,000-event ledger), ~10 minutes
 *   npm run bench -- --quick       same figures on smaller volumes, under 3 minutes
 *   npm run bench -- --soak 600    steady usage load judged on heap after GC and p99; exits 1 on a FAIL
 *   npm run bench -- --only store,http,cold   a subset of the phases
 *   npm run bench -- --scale       adds the scale phase (SPEC §6 "Scale": a 5,000,000-event store of 1,000
 *                                  parents, one with 100,000 sub-accounts; with --quick 1,000,000 events);
 *                                  `--only scale` runs it alone
 *   npm run bench -- --cpu-prof ./profiles   V8 profiles of every service process (see profile-summary.ts)
 *   npm run bench -- --projector external    where the service's projections run (SUBLEDGER_PROJECTOR;
 *                                  default thread); external starts `npm run projector` beside each service
 *   npm run bench -- --append-clients 1      the append figure through one client thread (default 2)
 *   npm run bench -- --append-client-as-shipped   appends without the service's base64 patch of the client
 *
 * Durability is never relaxed: every store runs with fsync on, as in production. Everything listens on
 * loopback, every child is killed on exit, and a watchdog ends a run that overstays its budget.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { benchColdLedger, coldFigureKeys, type ColdLedgerResult } from './cold-ledger.bench';
import { benchHttp, type HttpResult } from './http.bench';
import { benchIntegrations } from './integrations.bench';
import { benchScale, type ScaleResult } from './scale.bench';
import { runSoak } from './soak.bench';
import {
  benchAppend,
  benchReadAll,
  benchRebuild,
  type AppendResult,
  type ReadAllResult,
  type RebuildResult,
} from './store.bench';
import { killAllChildren, prepareRuntime, startStore } from './support/processes';
import { fmt, round } from './support/stats';

type Phase = 'store' | 'http' | 'cold' | 'scale' | 'integrations';
const PHASES: readonly Phase[] = ['store', 'http', 'cold', 'scale', 'integrations'];

interface Options {
  quick: boolean;
  soakSeconds: number | null;
  phases: Set<Phase>;
  /** `--scale`: the scale phase runs too (besides the phases `--only` names, or the default three). */
  scale: boolean;
  keep: boolean;
  /** Client instances, each in a worker thread, that the append figure's 16 streams are spread over. */
  appendClients: number;
  /** Encode appends as the service does (its base64 patch of the client's messages), or as shipped. */
  appendServiceEncoding: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    quick: false,
    soakSeconds: null,
    phases: new Set(['store', 'http', 'cold', 'integrations']),
    scale: false,
    keep: false,
    appendClients: 2,
    appendServiceEncoding: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        options.quick = true;
        break;
      case '--scale':
        options.scale = true;
        break;
      case '--soak': {
        const seconds = Number(value());
        if (!Number.isFinite(seconds) || seconds < 10 || seconds > 3600)
          throw new Error('--soak takes 10 to 3600 seconds');
        options.soakSeconds = seconds;
        break;
      }
      case '--only':
        options.phases = new Set(
          value()
            .split(',')
            .map((p) => {
              if (!PHASES.includes(p as Phase))
                throw new Error(`--only takes ${PHASES.join(', ')}; not ${p}`);
              return p as Phase;
            }),
        );
        break;
      case '--keep':
        options.keep = true;
        break;
      case '--append-client-as-shipped':
        options.appendServiceEncoding = false;
        break;
      case '--append-clients': {
        const clients = Number(value());
        if (!Number.isInteger(clients) || clients < 1 || clients > 16)
          throw new Error('--append-clients takes 1 to 16');
        options.appendClients = clients;
        break;
      }
      case '--projector': {
        // Read by every service the bench starts (SUBLEDGER_PROJECTOR); `external` adds `npm run projector`.
        const placement = value();
        if (!['thread', 'inline', 'external'].includes(placement))
          throw new Error('--projector takes thread, inline or external');
        process.env.SUBLEDGER_PROJECTOR = placement;
        break;
      }
      case '--cpu-prof':
        // Read by startService; summarise with bench/profile-summary.ts.
        process.env.BENCH_CPU_PROF_DIR = path.resolve(value());
        break;
      default:
        throw new Error(
          `unknown argument ${argv[i]} (expected --quick, --scale, --soak <s>, --only <phases>, --keep, --cpu-prof <dir>, --projector <thread|inline|external>, --append-clients <n>, --append-client-as-shipped)`,
        );
    }
  }
  if (options.scale) options.phases.add('scale');
  return options;
}

/** Volumes and durations of a full and a quick run. */
function volumes(quick: boolean) {
  return quick
    ? { appendEvents: 50_000, ledgerEvents: 100_000, subAccounts: 200, usageSeconds: 8, batchSeconds: 8 }
    : {
        appendEvents: 500_000,
        ledgerEvents: 1_000_000,
        subAccounts: 1_000,
        usageSeconds: 20,
        batchSeconds: 20,
      };
}

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Phases that failed, by name; the summary still comes, with their figures null. */
const failures: Record<string, string> = {};

/** Runs one phase; a failure is printed and recorded so the other phases and the summary still run. */
async function phase<T>(name: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (error) {
    // Some errors (a gRPC status without details, say) have an empty message: then their name.
    const message = error instanceof Error ? error.message || error.name : String(error);
    failures[name] = message.split('\n')[0].slice(0, 300);
    log(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? message) : message}`);
    return undefined;
  }
}
/** What the run is doing right now, on stderr so that stdout keeps one line per figure. */
const progress = (line: string) => process.stderr.write(`… ${line}\n`);

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const budgetMs =
    (options.soakSeconds !== null
      ? (options.soakSeconds + 180) * 1000
      : options.quick
        ? 600_000
        : 1_800_000) +
    // The scale phase seeds and projects a store of 1M (quick) or 5M events on top of the rest.
    (options.phases.has('scale') && options.soakSeconds === null
      ? options.quick
        ? 1_500_000
        : 5_400_000
      : 0);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: over its ${budgetMs / 1000} s budget; killing everything\n`);
    process.exit(2);
  }, budgetMs);
  watchdog.unref();

  const startedAt = performance.now();
  const v = volumes(options.quick);
  log(
    `Subledger bench (${options.quick ? 'quick' : options.soakSeconds !== null ? 'soak' : 'full'}) on ${cpus().length} × ${cpus()[0]?.model.trim()}, ` +
      `node ${process.version}, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  const runtime = prepareRuntime(log);
  log(`service and store run ${runtime.description}`);
  const workDir = mkdtempSync(path.join(tmpdir(), 'subledger-bench-'));
  // As root the embedded PostgreSQL runs as the postgres user, which must be able to enter it.
  chmodSync(workDir, 0o755);
  if (!options.keep) workDirs.add(workDir);
  try {
    if (options.soakSeconds !== null) {
      // A soak that fails its verdict (docs/benchmarks.md) must fail the command, not only print it.
      if (!(await runSoak(runtime, path.join(workDir, 'soak'), options.soakSeconds, log)))
        process.exitCode = 1;
      return;
    }
    let append: AppendResult | undefined;
    let readAll: ReadAllResult | undefined;
    let rebuild: RebuildResult | undefined;
    let http: HttpResult | undefined;
    let cold: ColdLedgerResult | undefined;
    let scale: ScaleResult | undefined;

    if (options.phases.has('store')) {
      await phase('store', async () => {
        const store = await startStore(runtime, path.join(workDir, 'store'));
        const client = EventStoreDBClient.connectionString(store.connectionString);
        try {
          progress(`appending ${fmt(v.appendEvents)} ledger events in batches of 100 to the store alone`);
          append = await benchAppend(store.connectionString, {
            events: v.appendEvents,
            streams: 16,
            batch: 100,
            clients: options.appendClients,
            storePid: store.pid,
            serviceEncoding: options.appendServiceEncoding,
          });
          log(
            `appendBatch100: ${fmt(append.eventsPerSec)} events/s (${fmt(append.events)} events, 16 streams in flight ` +
              `over ${append.clients} client thread${append.clients === 1 ? '' : 's'}` +
              `${options.appendServiceEncoding ? '' : ' (client as shipped, no base64 patch)'}, ` +
              `append p50 ${fmt(append.appendP50Ms, 1)} ms p99 ${fmt(append.appendP99Ms, 1)} ms; ` +
              `CPU µs/event: client ${fmt(append.cpu.clientUs, 1)}, store ${fmt(append.cpu.storeUs, 1)}) — target ≥ 50,000`,
          );
          progress('reading $all, rebuilding every projection, reading $all again');
          const readBefore = await benchReadAll(client, store.pid);
          rebuild = await benchRebuild(
            runtime,
            store.connectionString,
            path.join(workDir, 'rebuild'),
            600_000,
          );
          const readAfter = await benchReadAll(client, store.pid);
          // The reference is the mean of a read just before and just after the rebuild, so a load spike
          // from other work on the machine weighs on both sides of the ratio alike.
          readAll = {
            events: readAfter.events,
            eventsPerSec: (readBefore.eventsPerSec + readAfter.eventsPerSec) / 2,
            cpu: {
              clientUs: (readBefore.cpu.clientUs + readAfter.cpu.clientUs) / 2,
              storeUs: (readBefore.cpu.storeUs + readAfter.cpu.storeUs) / 2,
            },
          };
          log(
            `readAll: ${fmt(readAll.eventsPerSec)} events/s (${fmt(readAll.events)} events; ` +
              `${fmt(readBefore.eventsPerSec)} before and ${fmt(readAfter.eventsPerSec)} after the rebuild; ` +
              `CPU µs/event: client ${fmt(readAll.cpu.clientUs, 1)}, store ${fmt(readAll.cpu.storeUs, 1)}) — target ≥ 60,000`,
          );
          log(
            `rebuild: ${fmt(rebuild.eventsPerSec)} events/s (${fmt(rebuild.events)} ledger events, every projection; ` +
              `saving took ${fmt(rebuild.saveSeconds, 2)} s more) = ${fmt((100 * rebuild.eventsPerSec) / readAll.eventsPerSec)}% of readAll — target ≥ 90%`,
          );
        } finally {
          await client.dispose().catch(() => undefined);
          await store.stop();
        }
      });
    }

    if (options.phases.has('http')) {
      progress('starting the service for the HTTP figures');
      http = await phase('http', () =>
        benchHttp(runtime, path.join(workDir, 'http'), {
          usageSeconds: v.usageSeconds,
          batchSeconds: v.batchSeconds,
          log,
        }),
      );
    }

    if (options.phases.has('cold')) {
      progress(`building a ledger of ${fmt(v.ledgerEvents)} events, then starting the service on it twice`);
      cold = await phase('cold', () =>
        benchColdLedger(runtime, path.join(workDir, 'cold'), {
          events: v.ledgerEvents,
          subAccounts: v.subAccounts,
          log,
        }),
      );
    }

    if (options.phases.has('scale')) {
      progress(`scale: a store of ${options.quick ? '1,000,000' : '5,000,000'} events over 1,000 parents`);
      scale = await phase('scale', () =>
        benchScale(runtime, path.join(workDir, 'scale'), { quick: options.quick, log, progress }),
      );
    }

    const batchToAppend = (http?.usageBatch.recordsPerSec ?? NaN) / (append?.eventsPerSec ?? NaN);
    if (Number.isFinite(batchToAppend)) {
      log(
        `usageBatch vs appendBatch100: ${fmt(http!.usageBatch.recordsPerSec)} records/s against ` +
          `${fmt(append!.eventsPerSec)} events/s = ${fmt(100 * batchToAppend)}% — target ≥ 75%`,
      );
    }

    // The contract's cold keys hold figures of a 1,000,000-event ledger only; a quick run's come under
    // keys that name their size (coldBalanceMs100k, rssMiB100k) and leave the contract's null.
    const coldKeys = coldFigureKeys(v.ledgerEvents);
    const coldFigures: Record<string, number> = {
      coldBalanceMs: NaN,
      rssMiB1M: NaN,
      [coldKeys.balance]: round(cold?.firstBalanceMs ?? NaN),
      [coldKeys.rss]: round(cold?.rssMiB ?? NaN),
    };
    const summary = {
      // SPEC §11: the audit chain's cost and webhook delivery at 1,000 records/s (bench/integrations.bench.ts).
      integrations: options.phases.has('integrations')
        ? ((await phase('integrations', () =>
            benchIntegrations(runtime, path.join(workDir, 'integrations'), {
              seconds: v.usageSeconds,
              log,
              progress,
            }),
          )) ?? null)
        : null,
      usageSingle: {
        recordsPerSec: round(http?.usageSingle.recordsPerSec ?? NaN),
        p50Ms: round(http?.usageSingle.p50Ms ?? NaN),
        p99Ms: round(http?.usageSingle.p99Ms ?? NaN),
        noopRatio: round(http?.usageSingle.noopRatio ?? NaN),
        noopRequestsPerSec: round(http?.usageSingle.noopRequestsPerSec ?? NaN),
        cpuUsPerRecord: round(http?.usageSingle.cpuUsPerRecord ?? NaN),
        errors: http?.usageSingle.errors ?? null,
      },
      usageBatch: {
        recordsPerSec: round(http?.usageBatch.recordsPerSec ?? NaN),
        // SPEC §6: batch usage against the store's own raw append rate in the same run (≥ 75%).
        ratioToAppendBatch100: round(batchToAppend),
        p99Ms: round(http?.usageBatch.p99Ms ?? NaN),
        errors: http?.usageBatch.errors ?? null,
      },
      appendBatch100: { eventsPerSec: round(append?.eventsPerSec ?? NaN) },
      readAll: { eventsPerSec: round(readAll?.eventsPerSec ?? NaN), events: readAll?.events ?? null },
      rebuild: {
        eventsPerSec: round(rebuild?.eventsPerSec ?? NaN),
        ratioToReadAll: round(rebuild && readAll ? rebuild.eventsPerSec / readAll.eventsPerSec : NaN),
      },
      ...coldFigures,
      // SPEC §6 "Scale"; null when the phase did not run (or a figure was not taken: rssMiB5M with --quick).
      scale: options.phases.has('scale')
        ? {
            events: scale?.events ?? null,
            rssMiB1M: round(scale?.rssMiB1M ?? NaN),
            rssMiB5M: round(scale?.rssMiB5M ?? NaN),
            restartReadyMs: round(scale?.restartReadyMs ?? NaN),
            balanceAsOfP99Ms: round(scale?.balanceAsOfP99Ms ?? NaN),
            historyP99Ms: round(scale?.historyP99Ms ?? NaN),
            analyticsP99Ms: round(scale?.analyticsP99Ms ?? NaN),
            bigParent: {
              subAccounts: scale?.bigParent.subAccounts ?? null,
              closeMs: round(scale?.bigParent.closeMs ?? NaN),
              invoiceBytes: scale?.bigParent.invoiceBytes ?? null,
              replayMatches: scale?.bigParent.replayMatches ?? null,
            },
            rebuildRatioToReadAll: round(scale?.rebuildRatioToReadAll ?? NaN),
          }
        : null,
      // Context for the figures above; the keys before this one are the contract of SPEC §6.
      details: {
        quick: options.quick,
        ledgerEvents: cold?.events ?? null,
        coldBalanceMedianMs: round(cold?.medianBalanceMs ?? NaN),
        coldBalanceAsOfMs: round(cold?.firstAsOfMs ?? NaN),
        coldFirstWriteMs: round(cold?.firstWriteMs ?? NaN),
        rssFreshMiB: round(cold?.rssFreshMiB ?? NaN),
        storeRssFreshMiB: round(cold?.storeRssFreshMiB ?? NaN),
        storeRssRestartMiB: round(cold?.storeRssRestartMiB ?? NaN),
        rssRestartMiB: round(cold?.rssRestartMiB ?? NaN),
        rssAfterWriteMiB: round(cold?.rssAfterWriteMiB ?? NaN),
        appendP99Ms: round(append?.appendP99Ms ?? NaN),
        appendClients: append?.clients ?? null,
        appendServiceEncoding: options.appendServiceEncoding,
        appendCpuUsPerEvent: append
          ? { client: round(append.cpu.clientUs), store: round(append.cpu.storeUs) }
          : null,
        readAllCpuUsPerEvent: readAll
          ? { client: round(readAll.cpu.clientUs), store: round(readAll.cpu.storeUs) }
          : null,
        runtime: runtime.description,
        projector: process.env.SUBLEDGER_PROJECTOR ?? 'thread',
        projectorCpuUsPerRecord: round(http?.usageSingle.projectorCpuUsPerRecord ?? NaN),
        httpServiceRssMiB: http
          ? {
              afterSingle: round(http.serviceRssMiB.afterSingle),
              afterBatch: round(http.serviceRssMiB.afterBatch),
            }
          : null,
        seconds: Math.round((performance.now() - startedAt) / 1000),
        scale: scale?.details ?? null,
        loadAverage: loadavg().map((l) => round(l)),
        failures,
      },
    };
    // JSON has no NaN: a figure that was not measured is null.
    log(
      JSON.stringify(summary, (_key, value: unknown) =>
        typeof value === 'number' && !Number.isFinite(value) ? null : value,
      ),
    );
  } finally {
    killAllChildren();
    if (options.keep) log(`kept ${workDir}`);
    removeWorkDirs();
    clearTimeout(watchdog);
  }
}

/** Temporary data folders to remove however the run ends. */
const workDirs = new Set<string>();
function removeWorkDirs(): void {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  workDirs.clear();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}; stopping every child\n`);
    process.exit(130);
  });
}
// Runs on every exit, process.exit included: children first, since they hold files in the folders.
process.on('exit', () => {
  killAllChildren();
  removeWorkDirs();
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    killAllChildren();
    process.exit(1);
  },
);
