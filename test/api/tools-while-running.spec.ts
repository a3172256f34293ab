import { jsonEvent } from '@eventstore/db-client';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { makeDataDir } from '../support/database';
import { startTestEventStore } from '../support/event-store';

// Two service starts and two tool runs, each a fresh ts-node process.
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs a command-line tool as `npm run …` would, over `dataDir`; resolves with its exit code and output. */
async function tool(
  script: string,
  args: readonly string[],
  dataDir: string,
  overrides: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, SUBLEDGER_DATA_DIR: dataDir };
  delete env.EVENTSTORE_CONNECTION_STRING;
  delete env.DATABASE_URL;
  delete env.SUBLEDGER_EVENTSTORE_MEMORY;
  Object.assign(env, overrides);
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', script, ...args],
      { cwd: ROOT, env, timeout: 120_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('npm run replay and npm run rebuild while the service runs (SPEC §8)', () => {
  let dataDir: string;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    dataDir = makeDataDir('subledger-tools-');
  });

  afterAll(async () => {
    await service?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('replays and rebuilds through the running store and its embedded PostgreSQL; the service serves the rebuild at once', async () => {
    service = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir, DATABASE_URL: '' } });
    const parent = await openParent(service, { credits: 10_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 5_000 });
    for (let i = 0; i < 5; i++) {
      expectStatus(
        await service.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
          { idempotencyKey: `k-${i}`, credits: 100, meter: 'images' },
          parent.key,
        ),
        201,
      );
    }
    const period = new Date().toISOString().slice(0, 7);

    const replay = await tool(
      'src/billing/replay.cli.ts',
      ['--parent', parent.id, '--period', period],
      dataDir,
    );
    expect(replay.stderr).not.toMatch(/lock is held/);
    expect(replay.code).toBe(0);
    const report = JSON.parse(replay.stdout);
    expect(report).toMatchObject({ period, status: 'open', matches: true });

    // The tool joins the service's embedded PostgreSQL (the service started it: it is not the tool's to stop).
    const rebuild = await tool('src/projections/rebuild.cli.ts', [], dataDir);
    expect({ code: rebuild.code, stderr: rebuild.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(rebuild.stdout).toMatch(/Rebuilt credit-entries v2, usage-analytics v1/);

    // The service answers from the rebuilt tables, and goes on after them: a record made now counts once.
    const usageTotal = async () =>
      expectStatus(
        await service!.api.get(`/v1/parents/${parent.id}/usage?groupBy=subAccount`, parent.key),
        200,
      ).body.total;
    expect(await usageTotal()).toEqual({ credits: 500, records: 5 });
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
        { idempotencyKey: 'k-after', credits: 100, meter: 'images' },
        parent.key,
      ),
      201,
    );
    expect(await usageTotal()).toEqual({ credits: 600, records: 6 });
    await service.stop();
    service = undefined;

    // The embedded server stopped with the service that started it, and the next start finds every row.
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    service = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir, DATABASE_URL: '' } });
    expect(await usageTotal()).toEqual({ credits: 600, records: 6 });
    const history = expectStatus(
      await service.api.get(`/v1/parents/${parent.id}/sub-accounts/${subAccountId}/history`, parent.key),
      200,
    );
    expect(
      history.body.entries.filter((entry: { type: string }) => entry.type === 'UsageRecorded'),
    ).toHaveLength(6);
  });

  it('gives a rebuild up when the store does not answer for SUBLEDGER_REBUILD_PATIENCE_MS: exits 1 naming the cause, commits nothing', async () => {
    const rebuildDir = makeDataDir('subledger-tools-unreachable-');
    try {
      const started = Date.now();
      // Nothing listens on port 1: every connection is refused.
      const rebuild = await tool('src/projections/rebuild.cli.ts', [], rebuildDir, {
        EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:1?tls=false',
        SUBLEDGER_REBUILD_PATIENCE_MS: '2000',
      });
      expect(rebuild.code).toBe(1);
      expect(rebuild.stderr).toMatch(
        /Rebuild failed: no event read for \d+ s \(SUBLEDGER_REBUILD_PATIENCE_MS\) after 0 events; nothing was committed\. Last: The event store did not answer \(14 UNAVAILABLE.*ECONNREFUSED 127\.0\.0\.1:1/,
      );
      expect(rebuild.stdout).not.toMatch(/Rebuilt/);
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      await rm(rebuildDir, { recursive: true, force: true });
    }
  });

  it('fails a rebuild that meets an event its projections cannot take: exits with the projection and the place, reads no further', async () => {
    const store = await startTestEventStore();
    const rebuildDir = makeDataDir('subledger-tools-broken-');
    try {
      const parentId = `broken-${randomUUID().slice(0, 8)}`;
      const metadata = { recordedAt: '2026-10-02T10:00:00.000Z', schemaVersion: 1 };
      const opened = {
        parentId,
        name: 'Broken log',
        currency: 'EUR',
        creditPrice: '0.001',
        openedAt: metadata.recordedAt,
      };
      // A usage record without the balances every writer of this build puts on it: the fold cannot take it.
      const malformed = { subAccountId: 's1', credits: 1, meter: 'images', usageId: randomUUID() };
      await store.client.appendToStream(`ledger-${parentId}`, [
        jsonEvent({ type: 'ParentAccountOpened', data: opened, metadata }),
        jsonEvent({ type: 'UsageRecorded', data: malformed, metadata }),
      ]);
      const started = Date.now();
      const rebuild = await tool('src/projections/rebuild.cli.ts', [], rebuildDir, {
        EVENTSTORE_CONNECTION_STRING: store.connectionString,
      });
      expect(rebuild.code).toBe(1);
      expect(rebuild.stderr).toMatch(
        /Rebuild failed: the [a-z-]+ v\d+ projection could not write the events at commit positions \d+–\d+: /,
      );
      // Said once, not once per event read after it, and not as if it would be retried.
      expect(rebuild.stderr.match(/failed for good/g)).toHaveLength(1);
      expect(rebuild.stderr).not.toMatch(/retrying/);
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      await store.stop();
      await rm(rebuildDir, { recursive: true, force: true });
    }
  });
});
