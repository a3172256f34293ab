import * as path from 'node:path';
import { AppConfig, ConfigError, loadConfig } from '../../src/config/app-config';
import { Clock } from '../../src/config/clock';
import { createApp } from '../../src/app';
import { startTestService } from '../support/service';

const PRODUCTION_READY = {
  NODE_ENV: 'production',
  OPERATOR_TOKEN: 'a-long-enough-operator-token-0123456789',
  EVENTSTORE_CONNECTION_STRING: 'esdb://eventstore:2113?tls=false',
  DATABASE_URL: 'postgres://subledger:secret@postgres:5432/subledger',
};

function problemsOf(load: () => AppConfig): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration', () => {
  it('starts from documented defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      port: 3000,
      host: '0.0.0.0',
      logLevel: 'info',
      bodyLimitBytes: 1024 * 1024,
      clockStartsAt: undefined,
      eventStore: { kind: 'embedded', memory: false, dataDir: path.resolve('data') },
      operatorTokenGenerated: true,
      readModels: { rebuildPatienceMs: 60_000 },
    });
    // A generated token is strong and new on every start.
    expect(config.operatorToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(loadConfig({}).operatorToken).not.toBe(config.operatorToken);
  });

  it('reads every setting from the environment, overrides winning', () => {
    const config = loadConfig(
      {
        PORT: '8080',
        HOST: '127.0.0.1',
        SUBLEDGER_DATA_DIR: '/var/lib/subledger',
        OPERATOR_TOKEN: 'op-token-from-env-0123456789',
        LOG_LEVEL: 'WARN',
        SUBLEDGER_NOW: '2026-10-31T23:00:00Z',
        SUBLEDGER_BODY_LIMIT_BYTES: '2097152',
        SUBLEDGER_REBUILD_PATIENCE_MS: '5000',
      },
      { port: 0 },
    );
    expect(config).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      eventStore: { kind: 'embedded', memory: false, dataDir: '/var/lib/subledger' },
      operatorToken: 'op-token-from-env-0123456789',
      operatorTokenGenerated: false,
      logLevel: 'warn',
      bodyLimitBytes: 2 * 1024 * 1024,
      readModels: { rebuildPatienceMs: 5_000 },
    });
    expect(config.clockStartsAt?.toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect(loadConfig({ SUBLEDGER_EVENTSTORE_MEMORY: 'true' }).eventStore).toEqual({
      kind: 'embedded',
      memory: true,
    });
    expect(loadConfig({ EVENTSTORE_CONNECTION_STRING: 'esdb://db:2113?tls=false' }).eventStore).toEqual({
      kind: 'external',
      connectionString: 'esdb://db:2113?tls=false',
    });
  });

  it('accepts production with an operator token and a real event store', () => {
    const config = loadConfig(PRODUCTION_READY);
    expect(config.production).toBe(true);
    expect(config.operatorTokenGenerated).toBe(false);
  });

  it('refuses production without OPERATOR_TOKEN', () => {
    const { OPERATOR_TOKEN: _token, ...env } = PRODUCTION_READY;
    expect(problemsOf(() => loadConfig(env))).toEqual([
      'OPERATOR_TOKEN is required when NODE_ENV=production',
    ]);
  });

  it('refuses production without EVENTSTORE_CONNECTION_STRING, even with an in-memory store asked for', () => {
    const { EVENTSTORE_CONNECTION_STRING: _cs, ...env } = PRODUCTION_READY;
    expect(problemsOf(() => loadConfig({ ...env, SUBLEDGER_EVENTSTORE_MEMORY: 'true' }))).toEqual([
      'EVENTSTORE_CONNECTION_STRING is required when NODE_ENV=production',
    ]);
  });

  it('refuses production without DATABASE_URL: an embedded PostgreSQL would not be shared by the instances', () => {
    const { DATABASE_URL: _url, ...env } = PRODUCTION_READY;
    expect(problemsOf(() => loadConfig(env))).toEqual(['DATABASE_URL is required when NODE_ENV=production']);
  });

  it('takes DATABASE_URL as the read side’s server, and without it an embedded one in the data folder', () => {
    expect(loadConfig(PRODUCTION_READY).database).toEqual({
      kind: 'external',
      url: PRODUCTION_READY.DATABASE_URL,
    });
    expect(loadConfig({ SUBLEDGER_DATA_DIR: '/var/lib/subledger' }).database).toEqual({
      kind: 'embedded',
      dataDir: '/var/lib/subledger/postgres',
    });
    // Beside an in-memory store the cluster is temporary: read models must not outlive their events.
    expect(loadConfig({ SUBLEDGER_EVENTSTORE_MEMORY: 'true' }).database).toEqual({
      kind: 'embedded',
      dataDir: undefined,
    });
    expect(problemsOf(() => loadConfig({ DATABASE_URL: 'mysql://db/subledger' }))).toEqual([
      'DATABASE_URL must look like postgres://user:password@host:5432/subledger',
    ]);
  });

  it('refuses SUBLEDGER_NOW in production', () => {
    expect(
      problemsOf(() => loadConfig({ ...PRODUCTION_READY, SUBLEDGER_NOW: '2026-10-31T23:00:00Z' })),
    ).toEqual(['SUBLEDGER_NOW is refused when NODE_ENV=production']);
  });

  it('names every problem at once', () => {
    const problems = problemsOf(() =>
      loadConfig({
        NODE_ENV: 'production',
        PORT: '70000',
        LOG_LEVEL: 'loud',
        SUBLEDGER_NOW: '2026-10-31 23:00',
        SUBLEDGER_EVENTSTORE_MEMORY: 'maybe',
        SUBLEDGER_REBUILD_PATIENCE_MS: '10',
      }),
    );
    expect(problems).toHaveLength(9);
    expect(problems.join('\n')).toMatch(/SUBLEDGER_REBUILD_PATIENCE_MS must be an integer from 1000/);
    expect(problems.join('\n')).toMatch(/PORT.*70000/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/SUBLEDGER_NOW must be an ISO 8601 instant with a zone/);
    expect(problems.join('\n')).toMatch(/SUBLEDGER_EVENTSTORE_MEMORY/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL is required/);
  });

  it('reads SUBLEDGER_NOW by the same rule as every other instant the service takes (isInstant)', () => {
    expect(loadConfig({ SUBLEDGER_NOW: '2026-10-31T23:00:00.5+01:00' }).clockStartsAt).toEqual(
      new Date('2026-10-31T22:00:00.500Z'),
    );
    for (const instant of ['2026-02-30T00:00:00Z', '2026-10-31T24:00:00Z', '2026-10-31T23:00:00']) {
      expect(problemsOf(() => loadConfig({ SUBLEDGER_NOW: instant }))).toEqual([
        `SUBLEDGER_NOW must be an ISO 8601 instant with a zone, e.g. 2026-10-31T23:00:00Z (got "${instant}")`,
      ]);
    }
  });

  it('refuses a short operator token and a connection string that is not esdb://', () => {
    expect(problemsOf(() => loadConfig({ OPERATOR_TOKEN: 'short' }))).toEqual([
      'OPERATOR_TOKEN must be at least 16 characters long',
    ]);
    expect(problemsOf(() => loadConfig({ EVENTSTORE_CONNECTION_STRING: 'http://db:2113' }))).toHaveLength(1);
  });

  it('makes createApp refuse to start in production without OPERATOR_TOKEN, before anything listens', async () => {
    await expect(
      createApp({
        env: {
          NODE_ENV: 'production',
          EVENTSTORE_CONNECTION_STRING: PRODUCTION_READY.EVENTSTORE_CONNECTION_STRING,
        },
        port: 0,
        handleSignals: false,
      }),
    ).rejects.toThrow(ConfigError);
    await expect(
      createApp({
        env: { ...PRODUCTION_READY, SUBLEDGER_NOW: '2026-10-31T23:00:00Z' },
        port: 0,
        handleSignals: false,
      }),
    ).rejects.toThrow(/SUBLEDGER_NOW is refused/);
  });
});

describe('Clock', () => {
  it('starts at the configured instant and runs on with the wall clock', () => {
    let wall = Date.parse('2030-01-01T00:00:00Z');
    const clock = new Clock(new Date('2026-10-31T23:00:00Z'), () => wall);
    expect(clock.now().toISOString()).toBe('2026-10-31T23:00:00.000Z');
    wall += 90_000;
    expect(clock.now().toISOString()).toBe('2026-10-31T23:01:30.000Z');
  });

  it('is the wall clock when no instant is configured', () => {
    const clock = new Clock(undefined, () => Date.parse('2027-02-03T04:05:06Z'));
    expect(clock.now().toISOString()).toBe('2027-02-03T04:05:06.000Z');
  });

  it('is the clock the service injects, started at SUBLEDGER_NOW', async () => {
    const wallBefore = Date.now();
    const service = await startTestService({ now: '2026-10-31T23:00:00Z' });
    try {
      const now = service.app.get(Clock).now().getTime();
      const wallElapsed = Date.now() - wallBefore;
      const start = Date.parse('2026-10-31T23:00:00Z');
      // The clock was set to the instant during the start and has run since at the wall clock's pace: it
      // is past the instant by at most the time this test has taken, however slow the start was (and
      // nowhere near today, which a clock that ignored SUBLEDGER_NOW would show).
      expect(now).toBeGreaterThanOrEqual(start);
      expect(now - start).toBeLessThanOrEqual(wallElapsed);
    } finally {
      await service.close();
    }
  });
});
