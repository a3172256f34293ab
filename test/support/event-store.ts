import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { startEmbeddedEventStore } from '../../src/embedded-eventstore';
import { pollUntil } from './poll';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CLI_PATH = path.join(REPO_ROOT, 'src', 'embedded-eventstore', 'cli.ts');
const READY_LINE = /^EMBEDDED_EVENTSTORE_READY (\S+)$/;

export interface TestEventStore {
  readonly client: EventStoreDBClient;
  readonly connectionString: string;
  /** False when the tests run against the server named by EVENTSTORE_CONNECTION_STRING. */
  readonly embedded: boolean;
  stop(): Promise<void>;
}

/**
 * The event store a test talks to: the real server named by EVENTSTORE_CONNECTION_STRING when set,
 * so the same assertions can be checked against EventStoreDB, otherwise an embedded server of its own.
 */
export async function startTestEventStore(opts: { dataDir?: string } = {}): Promise<TestEventStore> {
  const external = process.env.EVENTSTORE_CONNECTION_STRING;
  if (external) {
    const client = EventStoreDBClient.connectionString(external);
    return { client, connectionString: external, embedded: false, stop: () => client.dispose() };
  }
  const server = await startEmbeddedEventStore({
    host: '127.0.0.1',
    port: 0,
    ...(opts.dataDir ? { dataDir: opts.dataDir } : { memory: true }),
  });
  const client = EventStoreDBClient.connectionString(server.connectionString);
  return {
    client,
    connectionString: server.connectionString,
    embedded: true,
    async stop() {
      await client.dispose();
      await server.close();
    },
  };
}

export interface EventStoreProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly connectionString: string;
  /** Resolves once the server is gone (under npm: npm and the store both), however it ended. */
  readonly exited: Promise<void>;
  /** SIGKILL: the process gets no chance to flush or close anything. */
  killHard(): Promise<void>;
  /** SIGTERM, then SIGKILL if it is still alive after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnEventStoreOptions {
  /** Data directory; the server runs in memory when absent. */
  dataDir?: string;
  port?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Start it exactly as a user would, `npm run eventstore -- --port … --db …`. npm stays in between,
   * so the server gets its own process group and signals go to the whole group.
   */
  viaNpm?: boolean;
}

/**
 * Starts the embedded server's CLI as a child process and waits for its ready line.
 * Node loads ts-node in-process (instead of going through `npx`) so the pid we hold is the server
 * itself: a SIGKILL then hits the process that owns the files, not a wrapper.
 */
export async function spawnEmbeddedEventStore(opts: SpawnEventStoreOptions = {}): Promise<EventStoreProcess> {
  const cliArgs = [
    '--port',
    String(opts.port ?? 0),
    ...(opts.dataDir ? ['--db', opts.dataDir] : ['--memory']),
  ];
  const child = opts.viaNpm
    ? spawn('npm', ['run', '--silent', 'eventstore', '--', ...cliArgs], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
    : spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CLI_PATH, ...cliArgs], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  const signal = (name: NodeJS.Signals) => {
    if (!opts.viaNpm) return void child.kill(name);
    try {
      process.kill(-child.pid!, name);
    } catch {
      // The group is already gone.
    }
  };
  // 'close', not 'exit': under npm the process we hold is npm, which can exit on SIGTERM while the
  // store it started is still closing (writing its index checkpoint into the data directory). The
  // store holds our stdout pipe until it is gone, so 'close' (every stdio stream ended) is the moment
  // nothing of the server can touch its files any more.
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192);
  });

  let ready: EventStoreProcess | undefined;
  let exitedEarly: Error | undefined;
  let stdoutBuffer = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    if (ready) return;
    stdoutBuffer += chunk;
    const lines = stdoutBuffer.split('\n');
    stdoutBuffer = lines.pop() ?? '';
    for (const line of lines) {
      const match = READY_LINE.exec(line.trim());
      if (!match) continue;
      const connectionString = match[1];
      const port = Number(new URL(connectionString.replace(/^esdb(\+discover)?:/, 'http:')).port);
      ready = makeHandle(child, exited, connectionString, port, signal);
      return;
    }
  });
  child.once('exit', (code, signalName) => {
    if (ready) return;
    exitedEarly = new Error(
      `embedded event store exited before it was ready (code ${code}, signal ${signalName})\n${stderr}`,
    );
  });
  // No deadline: a store that never prints its ready line is a hang, failed by jest's timeout (the poll
  // then stops and the child is killed). One that exits first fails the wait at once, with its stderr.
  try {
    const handle = await pollUntil(
      async () => {
        if (exitedEarly) throw exitedEarly;
        return ready;
      },
      (started) => started !== undefined,
      { everyMs: 20 },
    );
    return handle!;
  } catch (error) {
    if (!exitedEarly) console.error(`embedded event store printed no ready line:\n${stderr}`);
    signal('SIGKILL');
    throw error;
  }
}

function makeHandle(
  child: ChildProcess,
  exited: Promise<void>,
  connectionString: string,
  port: number,
  signal: (name: NodeJS.Signals) => void,
): EventStoreProcess {
  let gone = false;
  void exited.then(() => (gone = true));
  const alive = () => !gone;
  return {
    child,
    port,
    connectionString,
    exited,
    async killHard() {
      if (alive()) signal('SIGKILL');
      await exited;
    },
    async stop(graceMs = 5_000) {
      if (!alive()) return;
      signal('SIGTERM');
      const timer = setTimeout(() => alive() && signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A stream id no other test or earlier run uses: a real server keeps every stream between runs. */
export function uniqueStream(prefix: string): string {
  return `${prefix}-${randomUUID().replace(/-/g, '')}`;
}

/** A prefix shared by a family of streams of one test, for prefix filters that must match only them. */
export function uniquePrefix(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** Drains a finite read (readStream / readAll) into an array. */
export async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
}
