/**
 * Measures the command processor against a store in another process:
 *   - cold load of one stream of 100k and 1M small events, without and with a snapshot (tail 0 and a
 *     worst-case tail of `every - 1` events);
 *   - a hot stream: 64 concurrent callers each sending one command after another, batched by the
 *     processor, against 64 callers doing raw single appends with no batching.
 *
 *   npx ts-node --transpile-only bench/command-processing.bench.ts \
 *     [--sizes 100000,1000000] [--memory] [--seconds 5]
 *
 * Uses EVENTSTORE_CONNECTION_STRING when set, otherwise spawns the embedded server (data in a temporary
 * folder, or in memory with --memory). Prints one line per figure and a JSON summary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { CommandProcessor, type Decider, type DomainEvent } from '../src/event-store/command-processing';

type CounterEvent = DomainEvent<'UsageCounted', { credits: number; used: number; key: string }>;
type CounterCommand = { readonly type: 'Count'; readonly credits: number } | { readonly type: 'Read' };
interface CounterState {
  used: number;
}

const counter: Decider<CounterState, CounterCommand, CounterEvent, number> = {
  initialState: () => ({ used: 0 }),
  evolve: (state, event) => {
    state.used = event.data.used;
    return state;
  },
  decide: (command, state) =>
    command.type === 'Read'
      ? { events: [], result: state.used }
      : {
          events: [
            {
              type: 'UsageCounted',
              data: { credits: command.credits, used: state.used + command.credits, key: randomUUID() },
            },
          ],
          result: state.used + command.credits,
        },
  toSnapshot: (state) => ({ used: state.used }),
  fromSnapshot: (snapshot) => ({ used: (snapshot as CounterState).used }),
};

const SNAPSHOT_EVERY = 5_000;
/** Tails a load may meet: up to one short of the snapshot interval. */
const TAILS = [999, 4_999];

interface Args {
  sizes: number[];
  memory: boolean;
  seconds: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { sizes: [100_000, 1_000_000], memory: false, seconds: 5 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--sizes')
      args.sizes = argv[++i]
        .split(',')
        .map(Number)
        .filter((size) => size > 0);
    else if (argv[i] === '--memory') args.memory = true;
    else if (argv[i] === '--seconds') args.seconds = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

async function spawnStore(memory: boolean): Promise<{ connectionString: string; stop(): Promise<void> }> {
  const dataDir = memory ? undefined : await mkdtemp(path.join(tmpdir(), 'command-processing-bench-'));
  const cli = path.join(__dirname, '..', 'src', 'embedded-eventstore', 'cli.ts');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      cli,
      '--port',
      '0',
      ...(dataDir ? ['--db', dataDir] : ['--memory']),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const connectionString = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      const match = /EMBEDDED_EVENTSTORE_READY (\S+)/.exec(buffer);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`embedded event store exited (${code}) before it was ready`)),
    );
  });
  return {
    connectionString,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function appendEvents(
  client: EventStoreDBClient,
  stream: string,
  from: number,
  count: number,
): Promise<void> {
  for (let done = 0; done < count; done += 1_000) {
    const events = Array.from({ length: Math.min(1_000, count - done) }, (_, i) =>
      jsonEvent({
        type: 'UsageCounted',
        data: { credits: 1, used: from + done + i + 1, key: randomUUID() },
      }),
    );
    await client.appendToStream(stream, events);
  }
}

/** Time to the first answer of a fresh processor: load (snapshot + tail) and one decision. */
async function coldLoad(client: EventStoreDBClient, stream: string, snapshots: boolean): Promise<number> {
  const processor = new CommandProcessor({
    client,
    decider: counter,
    snapshots: snapshots ? { every: SNAPSHOT_EVERY } : false,
  });
  const started = performance.now();
  await processor.execute(stream, { type: 'Read' });
  const elapsed = performance.now() - started;
  await processor.close();
  return elapsed;
}

async function writeSnapshot(client: EventStoreDBClient, stream: string): Promise<void> {
  const processor = new CommandProcessor({
    client,
    decider: counter,
    snapshots: { every: SNAPSHOT_EVERY },
    exclusiveWriter: true,
  });
  await processor.execute(stream, { type: 'Read' });
  await processor.close();
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** `callers` loops, each awaiting its previous command before sending the next, for `seconds`. */
async function closedLoop(
  callers: number,
  seconds: number,
  send: () => Promise<unknown>,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1_000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await send();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const external = process.env.EVENTSTORE_CONNECTION_STRING;
  const store = external
    ? { connectionString: external, stop: async () => undefined }
    : await spawnStore(args.memory);
  const client = EventStoreDBClient.connectionString(store.connectionString);
  const summary: Record<string, number> = {};
  const report = (name: string, value: number, unit: string) => {
    summary[name] = Math.round(value * 10) / 10;
    console.log(`${name.padEnd(48)} ${summary[name].toLocaleString('en-US').padStart(12)} ${unit}`);
  };

  try {
    for (const size of args.sizes) {
      const stream = `benchcounter-${size}-${randomUUID().replace(/-/g, '')}`;
      const appendStarted = performance.now();
      await appendEvents(client, stream, 0, size);
      report(
        `append ${size} events (batches of 1000)`,
        size / ((performance.now() - appendStarted) / 1_000),
        'events/s',
      );

      report(`cold load ${size}, no snapshot`, await coldLoad(client, stream, false), 'ms');
      await writeSnapshot(client, stream);
      report(`cold load ${size}, snapshot + tail 0`, await coldLoad(client, stream, true), 'ms');
      let tail = 0;
      for (const target of TAILS) {
        await appendEvents(client, stream, size + tail, target - tail);
        tail = target;
        report(`cold load ${size}, snapshot + tail ${tail}`, await coldLoad(client, stream, true), 'ms');
      }
    }

    // The same hot stream as the only writer (as the service on its own embedded store), then as one
    // of several instances sharing a store: each batch first reads what others may have appended.
    for (const exclusiveWriter of [true, false]) {
      const label = exclusiveWriter ? 'hot stream via processor' : 'hot stream, shared store (head check)';
      const hot = `benchcounter-hot-${randomUUID().replace(/-/g, '')}`;
      const processor = new CommandProcessor({ client, decider: counter, exclusiveWriter });
      await processor.execute(hot, { type: 'Count', credits: 1 });
      const batched = await closedLoop(64, args.seconds, () =>
        processor.execute(hot, { type: 'Count', credits: 1 }),
      );
      await processor.close();
      report(`${label}, 64 callers`, batched.perSecond, 'durable commands/s');
      report(`${label}, p50`, batched.p50, 'ms');
      report(`${label}, p99`, batched.p99, 'ms');
    }

    let used = 0;
    const rawStream = `benchcounter-raw-${randomUUID().replace(/-/g, '')}`;
    const raw = await closedLoop(64, args.seconds, () =>
      client.appendToStream(
        rawStream,
        jsonEvent({ type: 'UsageCounted', data: { credits: 1, used: ++used, key: randomUUID() } }),
      ),
    );
    report('single appends, 64 callers, no batching', raw.perSecond, 'events/s');
    report('single appends, p99', raw.p99, 'ms');
    console.log(
      JSON.stringify({
        store: external ? 'external' : args.memory ? 'embedded-memory' : 'embedded-disk',
        ...summary,
      }),
    );
  } finally {
    await client.dispose();
    await store.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
