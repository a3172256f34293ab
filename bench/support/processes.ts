import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, startChild as startSharedChild, type Child } from '../../test/support/child-process';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The bench compiles the service into a folder of its own instead of `dist/`, which `npm start` and
 * other people's work in the same checkout own; node still finds the project's node_modules from there.
 * It sits in the checkout rather than under node_modules/.cache so that several git worktrees sharing
 * one node_modules (a symlink) never overwrite each other's build.
 */
const BUILD_DIR = path.join(REPO_ROOT, '.bench-build', 'dist');

/** How to start one of the project's entry points (`main`, `embedded-eventstore/cli`, …). */
export interface Runtime {
  readonly description: string;
  args(entry: string): string[];
}

/** Path, size and mtime of every source file: a build is reused only for exactly these sources. */
function sourceStamp(dir: string, hash = createHash('sha256')): string {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceStamp(full, hash);
    else if (entry.name.endsWith('.ts')) {
      const stat = statSync(full);
      hash.update(`${full}\0${stat.size}\0${stat.mtimeMs}\n`);
    }
  }
  return hash.copy().digest('hex');
}

/**
 * Compiled JavaScript when `tsc` builds the sources (rebuilt only when a source is newer than the last
 * build), otherwise ts-node: a half-finished file of another engineer must not stop the bench, and
 * transpiled code runs at the same speed once loaded.
 */
export function prepareRuntime(log: (line: string) => void): Runtime {
  const srcDir = path.join(REPO_ROOT, 'src');
  const stampFile = path.join(BUILD_DIR, '.source-stamp');
  const stamp = sourceStamp(srcDir);
  const fresh = existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
  if (!fresh) {
    log(`building the service into ${path.relative(REPO_ROOT, BUILD_DIR)} …`);
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = spawnSync(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR, '--noEmitOnError', 'true'],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 },
    );
    if (result.status !== 0) {
      log(
        `tsc failed, falling back to ts-node --transpile-only:\n${(result.stdout + result.stderr).slice(0, 600)}`,
      );
      return {
        description: 'ts-node --transpile-only (build failed)',
        args: (entry) => ['-r', 'ts-node/register/transpile-only', path.join(srcDir, `${entry}.ts`)],
      };
    }
    writeFileSync(stampFile, stamp);
  }
  // The build sits one folder down, as dist/ does, so `require('../../package.json')` finds this copy.
  copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(BUILD_DIR, '..', 'package.json'));
  return {
    description: `compiled (${path.relative(REPO_ROOT, BUILD_DIR)})`,
    args: (entry) => [path.join(BUILD_DIR, `${entry}.js`)],
  };
}

/** Every child the bench starts, so that an exit of any kind can kill what is left. */
const children = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export type { Child } from '../../test/support/child-process';

/** A child of the bench: registered so that every one is killed when the bench ends, however it ends. */
export function startChild(args: string[], env: NodeJS.ProcessEnv, extraNodeArgs: string[] = []): Child {
  const child = startSharedChild(args, env, { cwd: REPO_ROOT, nodeArgs: extraNodeArgs, stopGraceMs: 30_000 });
  children.add(child.process);
  void child.exited.then(() => children.delete(child.process));
  return child;
}

export interface StoreProcess extends Child {
  readonly connectionString: string;
}

/** The embedded store alone (its CLI) on a data folder, fsync on as always; resolves at its ready line. */
export async function startStore(
  runtime: Runtime,
  dataDir: string,
  timeoutMs = 120_000,
): Promise<StoreProcess> {
  const child = startChild([...runtime.args('embedded-eventstore/cli'), '--port', '0', '--db', dataDir], {
    ...process.env,
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /EMBEDDED_EVENTSTORE_READY (\S+)/.exec(child.output());
    if (match) return { ...child, connectionString: match[1] };
    if (!child.running())
      throw new Error(`the embedded store exited before it was ready:\n${child.output()}`);
    if (Date.now() > deadline) {
      await child.stop(0);
      throw new Error(`the embedded store was not ready within ${timeoutMs} ms:\n${child.output()}`);
    }
    await sleep(20);
  }
}

export interface ServiceProcess extends Child {
  readonly baseUrl: string;
  readonly operatorToken: string;
  /** With SUBLEDGER_PROJECTOR=external: the `npm run projector` process started beside the service. */
  readonly projectorPid?: number;
  /** ms from spawn until GET /health first answered 200. */
  readonly readyMs: number;
}

export interface ServiceOptions {
  readonly dataDir: string;
  readonly operatorToken?: string;
  readonly nodeArgs?: string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
}

/** The service on its embedded store (in its own process, as `npm start` runs it), loopback only. */
export async function startService(runtime: Runtime, opts: ServiceOptions): Promise<ServiceProcess> {
  const port = await freePort();
  const operatorToken = opts.operatorToken ?? randomBytes(24).toString('base64url');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.EVENTSTORE_CONNECTION_STRING;
  delete env.SUBLEDGER_EVENTSTORE_MEMORY;
  delete env.NODE_ENV;
  Object.assign(env, {
    LOG_LEVEL: 'warn',
    ...opts.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    OPERATOR_TOKEN: operatorToken,
    SUBLEDGER_DATA_DIR: opts.dataDir,
  });
  const started = performance.now();
  // `--cpu-prof <dir>` of the bench: each service process writes a V8 profile there when it stops.
  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const nodeArgs = [
    ...(opts.nodeArgs ?? []),
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ];
  const child = startChild(runtime.args('main'), env, nodeArgs);
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 180_000);
  // SUBLEDGER_PROJECTOR=external: `npm run projector` beside it, started once the service answers at
  // all (its embedded store and PostgreSQL are up, so the projector joins them instead of starting its own).
  const external = env.SUBLEDGER_PROJECTOR === 'external';
  let projector: Child | undefined;
  const stopBoth = async (graceMs?: number) => {
    await projector?.stop(graceMs);
    await child.stop(graceMs);
  };
  while (child.running()) {
    const status = await fetch(`${baseUrl}/health`)
      .then((response) => response.status)
      .catch(() => 0);
    if (external && !projector && status !== 0) {
      projector = startChild(runtime.args('projections/projector/projector.cli'), env, nodeArgs);
    }
    if (status === 200) {
      return {
        ...child,
        baseUrl,
        operatorToken,
        readyMs: performance.now() - started,
        projectorPid: projector?.pid,
        stop: stopBoth,
        output: () => child.output() + (projector ? `\nprojector:\n${projector.output()}` : ''),
      };
    }
    if (Date.now() > deadline) {
      await stopBoth(0);
      throw new Error(`the service was not ready on ${baseUrl}:\n${child.output()}`);
    }
    await sleep(25);
  }
  await projector?.stop(0);
  throw new Error(`the service exited before it was ready:\n${child.output()}`);
}

/** Resident and peak resident memory of a process, in MiB, from /proc (Linux only; NaN elsewhere). */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number; anonMiB: number; fileMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    // RssAnon is the process's own memory (heaps, buffers, stacks); RssFile is mapped files (the node
    // binary's code, shared libraries), which the kernel can drop and reload.
    return {
      rssMiB: kib('VmRSS') / 1024,
      hwmMiB: kib('VmHWM') / 1024,
      anonMiB: kib('RssAnon') / 1024,
      fileMiB: kib('RssFile') / 1024,
    };
  } catch {
    return { rssMiB: NaN, hwmMiB: NaN, anonMiB: NaN, fileMiB: NaN };
  }
}

/** User + system CPU seconds a process has used so far (Linux `/proc/<pid>/stat`; NaN elsewhere). */
export function processCpuSeconds(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces, hence the split on ") "): utime is the 12th
    // and stime the 13th, in clock ticks of 1/100 s on Linux.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
