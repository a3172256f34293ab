import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { acquireLock, LOCK_FILE } from '../../src/event-store/embedded-store.child';
import { expectStatus } from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import { startServiceProcess } from '../support/service';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Each start compiles src/main.ts through ts-node in a fresh process: slow on a busy 2-core machine.
jest.setTimeout(180_000);

describe('the service as a process (src/main.ts)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-process-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts on its data folder, stops cleanly on SIGTERM and starts again over the same data', async () => {
    const first = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir } });
    try {
      expect((await first.api.get('/health')).body).toEqual({ status: 'ok', eventStore: 'up' });
    } finally {
      await first.stop();
    }
    expect(first.child.signalCode ?? first.child.exitCode).not.toBe('SIGKILL');

    const second = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir } });
    try {
      expect((await second.api.get('/health')).status).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it('runs its store in a child process that dies with it, even on kill -9, and keeps what was acknowledged', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'subledger-child-'));
    try {
      const first = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: folder } });
      let storePid: number;
      let parentId: string;
      try {
        storePid = Number(readFileSync(path.join(folder, LOCK_FILE), 'utf8'));
        expect(storePid).not.toBe(first.child.pid);
        expect(isAlive(storePid)).toBe(true);
        parentId = 'p-before-kill';
        const opened = await first.api.post(
          '/v1/parents',
          { id: parentId, name: 'Acknowledged before the kill', currency: 'EUR', creditPrice: '0.001' },
          first.operatorToken,
        );
        expectStatus(opened, 201);
      } finally {
        await first.killHard();
      }
      // The store process goes once it sees the end of its stdin; a store that never does is a hang.
      await pollUntil(
        async () => isAlive(storePid),
        (alive) => !alive,
        { everyMs: 50 },
      );
      expect(existsSync(path.join(folder, LOCK_FILE))).toBe(false);

      const second = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: folder } });
      try {
        expectStatus(await second.api.get(`/v1/parents/${parentId}`, second.operatorToken), 200);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('starts its store before loading its modules, so the store opens its log while they load', async () => {
    // The store's spawn instant, from its process's start (clock ticks since boot, as /proc/uptime),
    // against the instant the service began building its modules (Nest's first log line): when Nest
    // started the store, it came after that line; main.ts starts it before the modules load (~0.8 s
    // compiled, seconds through ts-node), so it comes well before (decision 90).
    const folder = await mkdtemp(path.join(tmpdir(), 'subledger-early-'));
    try {
      const service = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: folder, LOG_LEVEL: 'info' } });
      try {
        const storePid = Number(readFileSync(path.join(folder, LOCK_FILE), 'utf8'));
        const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
        const startTicks = (pid: number) =>
          Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19]);
        const bootEpochMs = Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
        const spawnedAtMs = (pid: number) => bootEpochMs + (startTicks(pid) / ticksPerSecond) * 1000;
        const nestLine = service
          .output()
          .split('\n')
          .find((line) => line.includes('Starting Nest application'));
        expect(nestLine).toBeDefined();
        const nestStartedAtMs = (JSON.parse(nestLine!) as { time: number }).time;
        expect(spawnedAtMs(service.child.pid!)).toBeLessThan(spawnedAtMs(storePid));
        expect(nestStartedAtMs - spawnedAtMs(storePid)).toBeGreaterThan(300);
      } finally {
        await service.stop();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('lets one store at a time use a data folder: a newcomer waits for a live holder, takes over a dead one', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'subledger-lock-'));
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      writeFileSync(path.join(folder, LOCK_FILE), String(holder.pid));
      let acquired = false;
      const waiting = acquireLock(folder, 60_000).then((release) => {
        acquired = true;
        return release;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(acquired).toBe(false);
      holder.kill('SIGKILL');
      const release = await waiting;
      expect(readFileSync(path.join(folder, LOCK_FILE), 'utf8')).toBe(String(process.pid));
      release();
      expect(existsSync(path.join(folder, LOCK_FILE))).toBe(false);
      // A lock left by a process that no longer exists is taken at once.
      writeFileSync(path.join(folder, LOCK_FILE), String(holder.pid));
      (await acquireLock(folder, 0))();
    } finally {
      holder.kill('SIGKILL');
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses to start in production without EVENTSTORE_CONNECTION_STRING, saying why', async () => {
    await expect(startServiceProcess({ env: { NODE_ENV: 'production' } })).rejects.toThrow(
      /exited before it was ready \(code 1[\s\S]*EVENTSTORE_CONNECTION_STRING is required when NODE_ENV=production/,
    );
  });
});
