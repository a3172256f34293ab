import { spawn } from 'node:child_process';
import * as path from 'node:path';

export interface EmbeddedStoreProcess {
  readonly connectionString: string;
  readonly pid: number;
  /** SIGTERM: the store stops taking calls, flushes and exits; SIGKILL if it has not within `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

const READY = /^EMBEDDED_EVENTSTORE_READY (\S+)$/m;

/**
 * An embedded store's process started before the service's modules were loaded (`main.ts`), handed to
 * `EventStoreConnection.open`, which takes it instead of starting one. Its store opens its log (over a
 * second at 5,000,000 events) while this process loads its ~0.8 s of modules (decision 90).
 */
export interface StartingEmbeddedStore {
  readonly dataDir: string;
  readonly ready: Promise<EmbeddedStoreProcess>;
}

/** Starts the store's process now; a failure is the taker's to report (it is not an unhandled rejection). */
export function startEmbeddedStoreEarly(dataDir: string): StartingEmbeddedStore {
  const ready = startEmbeddedStoreProcess(dataDir);
  ready.catch(() => undefined);
  return { dataDir, ready };
}

/**
 * Starts the embedded store on `dataDir` in a child process (`embedded-store.child.ts`) and resolves
 * with its connection string once it listens. The service and its store then run on two cores; the
 * client talks to it over loopback gRPC exactly as it did in-process. The child exits when this
 * process does, however it ends (see the child).
 */
export function startEmbeddedStoreProcess(
  dataDir: string,
  readyTimeoutMs = 300_000,
): Promise<EmbeddedStoreProcess> {
  // Compiled: the .js beside this file. From sources (ts-node, jest): the .ts through ts-node.
  const fromSources = __filename.endsWith('.ts');
  const entry = path.join(__dirname, `embedded-store.child.${fromSources ? 'ts' : 'js'}`);
  // A profiled service (`node --cpu-prof`, as `npm run bench -- --cpu-prof` starts it) profiles its store too.
  const profiling = process.execArgv.filter((arg) => /^--(cpu|heap)-prof/.test(arg));
  const args = [
    ...profiling,
    ...(fromSources ? ['-r', 'ts-node/register/transpile-only'] : []),
    entry,
    '--db',
    dataDir,
  ];
  const child = spawn(process.execPath, args, {
    // stdin stays open and unused: its end is how the child learns that this process is gone.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  return new Promise<EmbeddedStoreProcess>((resolve, reject) => {
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the embedded event store did not start within ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(
        new Error(`the embedded event store exited before it was ready (code ${code}, signal ${signal})`),
      );
    };
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (ready) return;
      output += chunk;
      const match = READY.exec(output);
      if (!match) return;
      ready = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({
        connectionString: match[1],
        pid: child.pid!,
        async close(graceMs = 30_000) {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            await exited;
            clearTimeout(killer);
          }
          child.stdin!.destroy();
        },
      });
    });
  });
}
