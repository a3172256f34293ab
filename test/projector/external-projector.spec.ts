import * as path from 'node:path';
import { createApp, type RunningApp } from '../../src/app';
import { startChild, type Child } from '../support/child-process';
import { testDatabaseUrl } from '../support/database';
import { startTestEventStore, type TestEventStore } from '../support/event-store';
import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import { apiClient, type Api } from '../support/service';

// A service start and a projector process through ts-node.
jest.setTimeout(180_000);

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PROJECTOR_CLI = path.join(REPO_ROOT, 'src', 'projections', 'projector', 'projector.cli.ts');

/**
 * SUBLEDGER_PROJECTOR=external: the API runs no projections; `npm run projector` writes the read models
 * and notifies the checkpoint rows' moves, and the API's reads wait for those rows (read-your-writes).
 */
describe('an API instance beside `npm run projector`', () => {
  let store: TestEventStore;
  let databaseUrl: string;
  let running: RunningApp | undefined;
  let projector: Child | undefined;

  beforeAll(async () => {
    store = await startTestEventStore();
    databaseUrl = await testDatabaseUrl();
  });

  afterAll(async () => {
    await projector?.stop(10_000);
    await running?.close();
    await store.stop();
  });

  it('answers writes at once, reads only once the projector has committed them, and then shows them', async () => {
    const operatorToken = 'external-projector-test-token';
    running = await createApp({
      env: {},
      host: '127.0.0.1',
      port: 0,
      operatorToken,
      logLevel: 'silent',
      handleSignals: false,
      databaseUrl,
      eventStoreConnectionString: store.connectionString,
      projector: 'external',
    });
    const service: { api: Api; operatorToken: string } = { api: apiClient(running.url), operatorToken };
    const parent = await openParent(service, { credits: 1_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 500 });
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    expectStatus(
      await service.api.post(usagePath, { idempotencyKey: 'k1', credits: 7, meter: 'api-calls' }, parent.key),
      201,
    );

    // Nothing projects yet: the read waits for the position of the write, then gives up with a 503.
    const historyPath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/history`;
    const lagging = await service.api.get(historyPath, parent.key);
    expect(lagging.status).toBe(503);
    expect(lagging.body.code).toBe('projection_lagging');

    projector = startChild(
      [PROJECTOR_CLI],
      {
        ...process.env,
        EVENTSTORE_CONNECTION_STRING: store.connectionString,
        DATABASE_URL: databaseUrl,
        LOG_LEVEL: 'warn',
      },
      { cwd: REPO_ROOT, nodeArgs: ['-r', 'ts-node/register/transpile-only'] },
    );
    const history = await pollUntil(
      () => service.api.get(historyPath, parent.key),
      (response) => {
        if (!projector!.running()) throw new Error(`the projector exited:\n${projector!.output()}`);
        return response.status === 200;
      },
      { everyMs: 250 },
    );
    expect(history.body.entries.map((entry: { type: string }) => entry.type)).toContain('UsageRecorded');

    // A write while the projector runs: the next read waits until the rows have reached it.
    expectStatus(
      await service.api.post(usagePath, { idempotencyKey: 'k2', credits: 5, meter: 'api-calls' }, parent.key),
      201,
    );
    const after = expectStatus(await service.api.get(historyPath, parent.key), 200);
    const usage = after.body.entries.filter((entry: { type: string }) => entry.type === 'UsageRecorded');
    expect(usage).toHaveLength(2);
    expect(expectStatus(await service.api.get('/health'), 200).body).toEqual({
      status: 'ok',
      eventStore: 'up',
    });
    expect(projector.running()).toBe(true);
  });
});
