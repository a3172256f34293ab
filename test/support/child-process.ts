import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A node process the tests or the bench started, with the tail of its output kept for error messages. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves once the process and whatever shares its output (a service's store) are gone. */
  readonly exited: Promise<void>;
  output(): string;
  running(): boolean;
  /** SIGTERM (a clean shutdown), SIGKILL if it is still running after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once, as a crash would. */
  kill(): Promise<void>;
}

export interface ChildOptions {
  readonly cwd: string;
  /** Arguments for node itself, before the script (`--cpu-prof`, `-r ts-node/register/…`). */
  readonly nodeArgs?: readonly string[];
  /** Default grace of `stop()`. */
  readonly stopGraceMs?: number;
}

const KEPT_OUTPUT_CHARS = 16_384;

/** Starts `node [nodeArgs] args…` with piped output; used by test/support/service.ts and the bench. */
export function startChild(args: readonly string[], env: NodeJS.ProcessEnv, options: ChildOptions): Child {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-KEPT_OUTPUT_CHARS);
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  let alive = true;
  child.once('exit', () => (alive = false));
  // 'close' (its output ended), not 'exit': a service's embedded store is a child of its own that
  // shares the service's stderr and, when the service is killed, still closes cleanly (writing its
  // index checkpoint into the data directory). Until the pipe closes, the data is not the caller's.
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
  });
  return {
    process: child,
    pid: child.pid ?? -1,
    exited,
    output: () => output,
    running: () => alive,
    async stop(graceMs = options.stopGraceMs ?? 10_000) {
      if (alive) child.kill('SIGTERM');
      const timer = setTimeout(() => alive && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A loopback port nobody listens on right now, for a child process (service, store) to bind a moment
 * later. Used by the tests and the bench.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
