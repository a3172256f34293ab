import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { OPERATOR_TOKEN_FILE } from '../../src/config/operator-token';
import { createApp, type RunningApp } from '../../src/app';
import { testDatabaseUrl } from '../support/database';
import { expectStatus } from '../support/ledger-fixtures';
import { apiClient } from '../support/service';

jest.setTimeout(120_000);

/** The service in this process on `dataDir`, reading no environment, OPERATOR_TOKEN only when given. */
async function start(dataDir: string, operatorToken?: string): Promise<RunningApp> {
  return createApp({
    env: {},
    host: '127.0.0.1',
    port: 0,
    logLevel: 'error',
    handleSignals: false,
    dataDir,
    databaseUrl: await testDatabaseUrl(dataDir),
    ...(operatorToken === undefined ? {} : { operatorToken }),
  });
}

describe('a generated OPERATOR_TOKEN outlives a restart (the README flow: restart with a later SUBLEDGER_NOW, close as operator)', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-operator-token-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is kept owner-only in the data folder and works again after the restart', async () => {
    const first = await start(dataDir);
    let token: string;
    try {
      token = first.config.operatorToken;
      expect(first.config.operatorTokenFile).toEqual({
        path: path.join(dataDir, OPERATOR_TOKEN_FILE),
        created: true,
      });
      const file = path.join(dataDir, OPERATOR_TOKEN_FILE);
      expect(readFileSync(file, 'utf8').trim()).toBe(token);
      expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
      expectStatus(
        await apiClient(first.url).post(
          '/v1/parents',
          { id: 'p-token', name: 'Kept token', currency: 'EUR', creditPrice: '0.001' },
          token,
        ),
        201,
      );
    } finally {
      await first.close();
    }

    const second = await start(dataDir);
    try {
      expect(second.config.operatorToken).toBe(token);
      expect(second.config.operatorTokenFile?.created).toBe(false);
      expectStatus(await apiClient(second.url).get('/v1/parents/p-token', token), 200);
    } finally {
      await second.close();
    }
  });

  it('gives way to OPERATOR_TOKEN from the environment, and is never written then', async () => {
    const running = await start(dataDir, 'operator-token-from-the-environment');
    try {
      expect(running.config.operatorToken).toBe('operator-token-from-the-environment');
      expect(running.config.operatorTokenFile).toBeUndefined();
      expect(existsSync(path.join(dataDir, OPERATOR_TOKEN_FILE))).toBe(false);
    } finally {
      await running.close();
    }
  });

  it('refuses to start on a kept token that others can read', async () => {
    await (await start(dataDir)).close();
    const file = path.join(dataDir, OPERATOR_TOKEN_FILE);
    chmodSync(file, 0o644);
    await expect(start(dataDir)).rejects.toThrow(/operator-token is readable by others \(mode 644\)/);
  });

  it('keeps nothing for a store in memory', async () => {
    const running = await createApp({
      env: {},
      host: '127.0.0.1',
      port: 0,
      logLevel: 'error',
      handleSignals: false,
      eventStoreMemory: true,
      databaseUrl: await testDatabaseUrl(),
    });
    try {
      expect(running.config.operatorTokenGenerated).toBe(true);
      expect(running.config.operatorTokenFile).toBeUndefined();
    } finally {
      await running.close();
    }
  });
});
