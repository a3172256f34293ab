import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream } from 'pino';
import type { LogLevel } from '../../src/config/app-config';
import { freePort, startChild } from './child-process';
import { testDatabaseUrl } from './database';
import { pollUntil } from './poll';
import { createApp } from '../../src/app';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const MAIN_PATH = path.join(REPO_ROOT, 'src', 'main.ts');

export interface ApiResponse<T = any> {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the response is JSON (including problem+json), the text otherwise. */
  readonly body: T;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** A bearer token; no Authorization header when absent. */
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

/** A small client over Node's global fetch, so tests read like the HTTP they send. */
export interface Api {
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  get<T = any>(path: string, token?: string): Promise<ApiResponse<T>>;
  post<T = any>(path: string, body?: unknown, token?: string): Promise<ApiResponse<T>>;
  put<T = any>(path: string, body?: unknown, token?: string): Promise<ApiResponse<T>>;
  patch<T = any>(path: string, body?: unknown, token?: string): Promise<ApiResponse<T>>;
  delete<T = any>(path: string, token?: string): Promise<ApiResponse<T>>;
}

export function apiClient(baseUrl: string): Api {
  const request = async <T>(method: string, urlPath: string, options: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${baseUrl}${urlPath}`, { method, headers, body });
    const text = await response.text();
    const isJson = /json/.test(response.headers.get('content-type') ?? '');
    return {
      status: response.status,
      headers: response.headers,
      body: (isJson && text ? JSON.parse(text) : text) as T,
    };
  };
  return {
    request,
    get: (urlPath, token) => request('GET', urlPath, { token }),
    post: (urlPath, body, token) => request('POST', urlPath, { body, token }),
    put: (urlPath, body, token) => request('PUT', urlPath, { body, token }),
    patch: (urlPath, body, token) => request('PATCH', urlPath, { body, token }),
    delete: (urlPath, token) => request('DELETE', urlPath, { token }),
  };
}

export interface TestServiceOptions {
  /** Keep the event store in this folder (so a later start can reopen it); in memory when absent. */
  readonly dataDir?: string;
  /** Use this event store instead of an embedded one. */
  readonly eventStoreConnectionString?: string;
  /** SUBLEDGER_NOW: where the service clock starts. */
  readonly now?: string | Date;
  readonly operatorToken?: string;
  /** `error` unless given, so a failing test shows unexpected errors and little else. */
  readonly logLevel?: LogLevel;
  readonly logDestination?: DestinationStream;
  readonly bodyLimitBytes?: number;
  /** Requests per second per key; the service's default (SUBLEDGER_RATE_LIMIT_PER_SECOND's) when absent. */
  readonly rateLimitPerSecond?: number;
  /** The read side's database; by default one of its own, shared with a restart over the same data or store. */
  readonly databaseUrl?: string;
}

export interface TestService {
  readonly baseUrl: string;
  readonly operatorToken: string;
  readonly app: NestFastifyApplication;
  readonly api: Api;
  /** Stops the service and closes (flushes) its embedded store. */
  close(): Promise<void>;
}

/**
 * The real service, in this process, on an ephemeral port with an embedded store of its own. The
 * process environment is not read, so a developer's shell settings cannot leak into a test.
 */
export async function startTestService(opts: TestServiceOptions = {}): Promise<TestService> {
  const operatorToken = opts.operatorToken ?? randomBytes(24).toString('base64url');
  const running = await createApp({
    env: {},
    host: '127.0.0.1',
    port: 0,
    operatorToken,
    logLevel: opts.logLevel ?? 'error',
    logDestination: opts.logDestination,
    handleSignals: false,
    databaseUrl: opts.databaseUrl ?? (await testDatabaseUrl(opts.dataDir ?? opts.eventStoreConnectionString)),
    now: opts.now,
    bodyLimitBytes: opts.bodyLimitBytes,
    ...(opts.rateLimitPerSecond === undefined ? {} : { rateLimitPerSecond: opts.rateLimitPerSecond }),
    ...(opts.eventStoreConnectionString
      ? { eventStoreConnectionString: opts.eventStoreConnectionString }
      : opts.dataDir
        ? { dataDir: opts.dataDir }
        : { eventStoreMemory: true }),
  });
  return {
    baseUrl: running.url,
    operatorToken,
    app: running.app,
    api: apiClient(running.url),
    close: () => running.close(),
  };
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly operatorToken: string;
  readonly api: Api;
  /** Resolves once the process is gone, however it ended. */
  readonly exited: Promise<void>;
  /** The last few KiB the process wrote, for failure messages. */
  output(): string;
  /** SIGKILL: no chance to flush or close anything. */
  killHard(): Promise<void>;
  /** SIGTERM (a clean shutdown), then SIGKILL if it is still alive after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnServiceOptions {
  /** Settings for the child, over a copy of this process's environment minus the event store's. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts `src/main.ts` as a child process (through ts-node, so no build is needed) and waits until
 * its /health answers 200. For crash and restart tests: the pid held is the service itself.
 * Without SUBLEDGER_DATA_DIR or EVENTSTORE_CONNECTION_STRING in `env`, its store is in memory.
 *
 * The wait has no deadline: a start that never becomes ready is a hang, failed by jest's timeout, and
 * the child is killed once the test that started it is over. A child that exits first fails the wait
 * at once, with its exit code and output.
 */
export async function startServiceProcess(opts: SpawnServiceOptions = {}): Promise<ServiceProcess> {
  // The port is free when picked and bound by the child a second later: another process of the run
  // (a store, a PostgreSQL, another worker's service) may take it in between. The child then exits at
  // once with EADDRINUSE, and it is started again on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServiceOnce(opts, await freePort());
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}

const PORT_ATTEMPTS = 5;

class PortTakenError extends Error {}

async function startServiceOnce(opts: SpawnServiceOptions, port: number): Promise<ServiceProcess> {
  const operatorToken = opts.env?.OPERATOR_TOKEN ?? randomBytes(24).toString('base64url');
  const inherited = { ...process.env };
  delete inherited.EVENTSTORE_CONNECTION_STRING;
  delete inherited.NODE_ENV;
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    LOG_LEVEL: 'warn',
    ...(opts.env?.SUBLEDGER_DATA_DIR || opts.env?.EVENTSTORE_CONNECTION_STRING
      ? {}
      : { SUBLEDGER_EVENTSTORE_MEMORY: 'true' }),
    ...opts.env,
    // A database of its own on the run's server, shared by restarts over the same data; '' leaves it
    // unset, so the service starts its embedded PostgreSQL as `npm start` does.
    DATABASE_URL:
      opts.env?.DATABASE_URL ??
      (await testDatabaseUrl(opts.env?.SUBLEDGER_DATA_DIR ?? opts.env?.EVENTSTORE_CONNECTION_STRING)),
    HOST: '127.0.0.1',
    PORT: String(port),
    OPERATOR_TOKEN: operatorToken,
  };
  const child = startChild([MAIN_PATH], env, {
    cwd: REPO_ROOT,
    nodeArgs: ['-r', 'ts-node/register/transpile-only'],
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const api = apiClient(baseUrl);
  const handle: ServiceProcess = {
    child: child.process,
    baseUrl,
    operatorToken,
    api,
    exited: child.exited,
    output: child.output,
    killHard: child.kill,
    stop: (graceMs = 10_000) => child.stop(graceMs),
  };

  try {
    await pollUntil(
      async () => {
        if (!child.running()) {
          const message = `service exited before it was ready (code ${child.process.exitCode}, signal ${child.process.signalCode})\n${child.output()}`;
          if (!child.output().includes(`EADDRINUSE: address already in use 127.0.0.1:${port}`))
            throw new Error(message);
          // Gone for good (its store child too) before the next attempt opens the same data.
          await child.exited;
          throw new PortTakenError(message);
        }
        return api
          .get('/health')
          .then((response) => response.status)
          .catch(() => 0);
      },
      (status) => status === 200,
    );
  } catch (error) {
    // Abandoned by a test that timed out: its failure says only "timeout", so say what the child wrote.
    if (child.running()) console.error(`service on ${baseUrl} never became ready:\n${child.output()}`);
    await handle.killHard();
    throw error;
  }
  return handle;
}
