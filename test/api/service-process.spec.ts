import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startServiceProcess } from '../support/service';

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

  it('refuses to start in production without EVENTSTORE_CONNECTION_STRING, saying why', async () => {
    await expect(startServiceProcess({ env: { NODE_ENV: 'production' } })).rejects.toThrow(
      /exited before it was ready \(code 1[\s\S]*EVENTSTORE_CONNECTION_STRING is required when NODE_ENV=production/,
    );
  });
});
