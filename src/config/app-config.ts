import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { isInstant } from '../invoicing';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
const MIN_OPERATOR_TOKEN_LENGTH = 16;
/**
 * Per key and second. Far above what one honest client sends (SPEC §6 drives 5,000+ requests/s from
 * one key with 64 connections), so only a runaway or hostile client ever meets it.
 */
const DEFAULT_RATE_LIMIT_PER_SECOND = 20_000;
/** Long enough to ride out a short catch-up after a restart, short enough not to hold a request hostage. */
const READ_MODEL_WAIT_MS = 2_000;

/**
 * The validated settings of one running service. An abstract class rather than an interface so
 * that it can be the injection token itself: `constructor(private readonly config: AppConfig)`.
 */
export abstract class AppConfig {
  abstract readonly production: boolean;
  abstract readonly port: number;
  abstract readonly host: string;
  abstract readonly eventStore: EventStoreSettings;
  abstract readonly operatorToken: string;
  /** True when no OPERATOR_TOKEN was configured and one was made up for this run. */
  abstract readonly operatorTokenGenerated: boolean;
  /** Where a generated token is kept across restarts (an embedded store on disk), and whether this start made it. */
  abstract readonly operatorTokenFile?: { readonly path: string; readonly created: boolean };
  /** SUBLEDGER_NOW: the instant the service clock starts from, instead of the wall clock. */
  abstract readonly clockStartsAt: Date | undefined;
  abstract readonly logLevel: LogLevel;
  abstract readonly bodyLimitBytes: number;
  /** SUBLEDGER_RATE_LIMIT_PER_SECOND: requests per second per key (or per IP without one); 0 turns it off. */
  abstract readonly rateLimitPerSecond: number;
  /** SUBLEDGER_SHUTDOWN_GRACE_MS: how long SIGTERM lets requests in flight finish before cutting them. */
  abstract readonly shutdownGraceMs: number;
  /**
   * SUBLEDGER_EXPIRY_GRACE (`48h`, `90m`, `30s`, `2d` or `0`; 48 h by default): how long after a lot's
   * expiresAt late usage that occurred before it may still use it, before what is left expires (SPEC §10).
   */
  abstract readonly expiryGraceMs: number;
  abstract readonly readModels: ReadModelSettings;
  abstract readonly database: DatabaseSettings;
}

/**
 * Where the read side lives (SPEC §9): DATABASE_URL names a PostgreSQL server shared by every
 * instance; without it the service starts an embedded PostgreSQL of its own, with its data under
 * `<SUBLEDGER_DATA_DIR>/postgres` (or in a temporary folder, removed at close, beside an in-memory
 * event store: read models must not outlive the events they were built from).
 */
export type DatabaseSettings =
  | { readonly kind: 'external'; readonly url: string }
  | { readonly kind: 'embedded'; readonly dataDir: string | undefined };

/** Where the projections keep their state, and how long a read waits for them. */
export interface ReadModelSettings {
  /** How long a read waits for a read model that is still catching up before a 503 `projection_rebuilding`. */
  readonly catchUpTimeoutMs: number;
  /** How long a read waits for the read models to reach the caller's last write before a 503 `projection_lagging`. */
  readonly readYourWritesTimeoutMs: number;
  /**
   * SUBLEDGER_PROJECTOR: where the projections run. `thread` (default): a worker thread of this process,
   * off the event loop that answers HTTP; `inline`: on that event loop; `external`: elsewhere
   * (`npm run projector`, or another instance), this process only follows the checkpoint rows.
   */
  readonly projector: ProjectorPlacement;
  /**
   * SUBLEDGER_REBUILD_PATIENCE_MS: how long `npm run rebuild` goes on without reading an event (the
   * store down or unreachable) before it gives up, commits nothing and exits 1 naming the last cause.
   */
  readonly rebuildPatienceMs: number;
}

export const PROJECTOR_PLACEMENTS = ['thread', 'inline', 'external'] as const;
export type ProjectorPlacement = (typeof PROJECTOR_PLACEMENTS)[number];

export type EventStoreSettings =
  | { readonly kind: 'external'; readonly connectionString: string }
  | { readonly kind: 'embedded'; readonly memory: true }
  | { readonly kind: 'embedded'; readonly memory: false; readonly dataDir: string };

/** Settings given in code (tests, tools); each wins over its environment variable. */
export interface ConfigOverrides {
  nodeEnv?: string;
  port?: number;
  host?: string;
  eventStoreConnectionString?: string;
  eventStoreMemory?: boolean;
  dataDir?: string;
  databaseUrl?: string;
  operatorToken?: string;
  now?: string | Date;
  logLevel?: LogLevel;
  bodyLimitBytes?: number;
  rateLimitPerSecond?: number;
  shutdownGraceMs?: number;
  expiryGrace?: string;
  projector?: ProjectorPlacement;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the settings from the environment (plus overrides) and checks all of them at once, so a
 * misconfigured service stops before it listens and names every problem in one message.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): AppConfig {
  const source = { ...env, ...overridesAsEnv(overrides) };
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const raw = source[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };

  const production = value('NODE_ENV') === 'production';
  const port = parseInteger('PORT', value('PORT'), 3000, 0, 65535, problems);
  const host = value('HOST') ?? '0.0.0.0';
  const bodyLimitBytes = parseInteger(
    'SUBLEDGER_BODY_LIMIT_BYTES',
    value('SUBLEDGER_BODY_LIMIT_BYTES'),
    DEFAULT_BODY_LIMIT_BYTES,
    1024,
    64 * 1024 * 1024,
    problems,
  );
  const rateLimitPerSecond = parseInteger(
    'SUBLEDGER_RATE_LIMIT_PER_SECOND',
    value('SUBLEDGER_RATE_LIMIT_PER_SECOND'),
    DEFAULT_RATE_LIMIT_PER_SECOND,
    0,
    10_000_000,
    problems,
  );

  const shutdownGraceMs = parseInteger(
    'SUBLEDGER_SHUTDOWN_GRACE_MS',
    value('SUBLEDGER_SHUTDOWN_GRACE_MS'),
    25_000,
    0,
    600_000,
    problems,
  );

  const expiryGraceMs = parseDuration('SUBLEDGER_EXPIRY_GRACE', value('SUBLEDGER_EXPIRY_GRACE'), problems);

  const logLevelRaw = (value('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevelRaw)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevelRaw}")`);
  }

  const connectionString = value('EVENTSTORE_CONNECTION_STRING');
  if (connectionString !== undefined && !/^esdb(\+discover)?:\/\/\S+$/.test(connectionString)) {
    problems.push('EVENTSTORE_CONNECTION_STRING must look like esdb://host:2113?tls=false');
  }
  const memory = parseBoolean('SUBLEDGER_EVENTSTORE_MEMORY', value('SUBLEDGER_EVENTSTORE_MEMORY'), problems);
  const dataDir = path.resolve(value('SUBLEDGER_DATA_DIR') ?? './data');
  const eventStore: EventStoreSettings = connectionString
    ? { kind: 'external', connectionString }
    : memory
      ? { kind: 'embedded', memory: true }
      : { kind: 'embedded', memory: false, dataDir };
  const projector = (value('SUBLEDGER_PROJECTOR') ?? 'thread').toLowerCase();
  if (!(PROJECTOR_PLACEMENTS as readonly string[]).includes(projector)) {
    problems.push(
      `SUBLEDGER_PROJECTOR must be one of ${PROJECTOR_PLACEMENTS.join(', ')} (got "${projector}")`,
    );
  }
  const readModels: ReadModelSettings = {
    catchUpTimeoutMs: READ_MODEL_WAIT_MS,
    readYourWritesTimeoutMs: READ_MODEL_WAIT_MS,
    projector: projector as ProjectorPlacement,
    rebuildPatienceMs: parseInteger(
      'SUBLEDGER_REBUILD_PATIENCE_MS',
      value('SUBLEDGER_REBUILD_PATIENCE_MS'),
      60_000,
      1_000,
      86_400_000,
      problems,
    ),
  };

  const databaseUrl = value('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/\S+$/.test(databaseUrl)) {
    problems.push('DATABASE_URL must look like postgres://user:password@host:5432/subledger');
  }
  const database: DatabaseSettings = databaseUrl
    ? { kind: 'external', url: databaseUrl }
    : { kind: 'embedded', dataDir: !connectionString && memory ? undefined : path.join(dataDir, 'postgres') };

  let operatorToken = value('OPERATOR_TOKEN');
  if (operatorToken !== undefined && operatorToken.length < MIN_OPERATOR_TOKEN_LENGTH) {
    problems.push(`OPERATOR_TOKEN must be at least ${MIN_OPERATOR_TOKEN_LENGTH} characters long`);
  }
  if (operatorToken !== undefined && /\s/.test(operatorToken)) {
    problems.push('OPERATOR_TOKEN must not contain whitespace (it is sent as a bearer token)');
  }
  const operatorTokenGenerated = operatorToken === undefined;

  const now = value('SUBLEDGER_NOW');
  let clockStartsAt: Date | undefined;
  if (now !== undefined) {
    // The service's one rule for an instant (the invoicing core's): the clock starts where every
    // event's recordedAt, and so its billing period, comes from.
    if (isInstant(now)) clockStartsAt = new Date(now);
    else {
      problems.push(
        `SUBLEDGER_NOW must be an ISO 8601 instant with a zone, e.g. 2026-10-31T23:00:00Z (got "${now}")`,
      );
    }
  }

  if (production) {
    // A made-up operator token or an embedded store would each be lost or unknown after a
    // restart; a fake clock would date real money movements wrongly.
    if (operatorTokenGenerated) problems.push('OPERATOR_TOKEN is required when NODE_ENV=production');
    if (!connectionString) problems.push('EVENTSTORE_CONNECTION_STRING is required when NODE_ENV=production');
    if (!databaseUrl) problems.push('DATABASE_URL is required when NODE_ENV=production');
    if (now !== undefined) problems.push('SUBLEDGER_NOW is refused when NODE_ENV=production');
  }

  if (problems.length > 0) throw new ConfigError(problems);

  if (operatorToken === undefined) operatorToken = randomBytes(32).toString('base64url');
  return {
    production,
    port,
    host,
    eventStore,
    operatorToken,
    operatorTokenGenerated,
    clockStartsAt,
    logLevel: logLevelRaw as LogLevel,
    bodyLimitBytes,
    rateLimitPerSecond,
    shutdownGraceMs,
    expiryGraceMs,
    readModels,
    database,
  };
}

const DEFAULT_EXPIRY_GRACE_MS = 48 * 3_600_000;
const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `48h`, `90m`, `30s`, `2d`, `500ms` or `0`. */
function parseDuration(name: string, raw: string | undefined, problems: string[]): number {
  if (raw === undefined) return DEFAULT_EXPIRY_GRACE_MS;
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match || (match[2] === undefined && match[1] !== '0')) {
    problems.push(`${name} must be a duration such as 48h, 90m, 30s or 2d, or 0 (got "${raw}")`);
    return DEFAULT_EXPIRY_GRACE_MS;
  }
  return Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1);
}

function overridesAsEnv(overrides: ConfigOverrides): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) env[name] = String(value);
  };
  set('NODE_ENV', overrides.nodeEnv);
  set('PORT', overrides.port);
  set('HOST', overrides.host);
  set('EVENTSTORE_CONNECTION_STRING', overrides.eventStoreConnectionString);
  set('SUBLEDGER_EVENTSTORE_MEMORY', overrides.eventStoreMemory);
  set('SUBLEDGER_DATA_DIR', overrides.dataDir);
  set('DATABASE_URL', overrides.databaseUrl);
  set('OPERATOR_TOKEN', overrides.operatorToken);
  set('SUBLEDGER_NOW', overrides.now instanceof Date ? overrides.now.toISOString() : overrides.now);
  set('LOG_LEVEL', overrides.logLevel);
  set('SUBLEDGER_BODY_LIMIT_BYTES', overrides.bodyLimitBytes);
  set('SUBLEDGER_RATE_LIMIT_PER_SECOND', overrides.rateLimitPerSecond);
  set('SUBLEDGER_SHUTDOWN_GRACE_MS', overrides.shutdownGraceMs);
  set('SUBLEDGER_EXPIRY_GRACE', overrides.expiryGrace);
  set('SUBLEDGER_PROJECTOR', overrides.projector);
  return env;
}

function parseInteger(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (raw === undefined) return fallback;
  const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }
  return parsed;
}

function parseBoolean(name: string, raw: string | undefined, problems: string[]): boolean {
  if (raw === undefined) return false;
  const normalized = raw.toLowerCase();
  if (['true', '1', 'yes'].includes(normalized)) return true;
  if (['false', '0', 'no'].includes(normalized)) return false;
  problems.push(`${name} must be true or false (got "${raw}")`);
  return false;
}
