import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
import { startServiceProcess, type ServiceProcess } from '../support/service';

// Two service starts and two tool runs, each a fresh ts-node process.
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs a command-line tool as `npm run …` would, over `dataDir`; resolves with its exit code and output. */
async function tool(
  script: string,
  args: readonly string[],
  dataDir: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, SUBLEDGER_DATA_DIR: dataDir };
  delete env.EVENTSTORE_CONNECTION_STRING;
  delete env.SUBLEDGER_EVENTSTORE_MEMORY;
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
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-tools-'));
  });

  afterAll(async () => {
    await service?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('replays and rebuilds through the running store; the service adopts the rebuild at its next start', async () => {
    service = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir } });
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

    const rebuild = await tool('src/projections/rebuild.cli.ts', [], dataDir);
    expect({ code: rebuild.code, stderr: rebuild.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(rebuild.stdout).toMatch(/adopts this rebuild at its next start/);
    const staged = path.join(dataDir, 'projections.rebuilt');
    expect(readdirSync(staged).sort()).toEqual(expect.arrayContaining(['REBUILD-COMPLETE']));

    // The service still answers, on its own files.
    expectStatus(await service.api.get(`/v1/parents/${parent.id}`, parent.key), 200);
    await service.stop();
    service = undefined;

    // Break the files the stopped service saved: only an adopted rebuild can bring the next start up right.
    const live = path.join(dataDir, 'projections');
    for (const file of readdirSync(live)) writeFileSync(path.join(live, file), '{ not the saved state');

    service = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir } });
    expect(existsSync(staged)).toBe(false);
    const usage = expectStatus(
      await service.api.get(`/v1/parents/${parent.id}/usage?groupBy=subAccount`, parent.key),
      200,
    );
    expect(JSON.stringify(usage.body)).toContain('"credits":500');
    const history = expectStatus(
      await service.api.get(`/v1/parents/${parent.id}/sub-accounts/${subAccountId}/history`, parent.key),
      200,
    );
    expect(
      history.body.entries.filter((entry: { type: string }) => entry.type === 'UsageRecorded'),
    ).toHaveLength(5);
  });
});
