import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { freePort } from '../support/child-process';
import { makeDataDir, testDatabaseUrl } from '../support/database';
import { spawnEmbeddedEventStore, type EventStoreProcess } from '../support/event-store';
import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { WebhookReceiver } from './webhook-receiver';

jest.setTimeout(240_000);

const INSTANCES = 3;

describe('webhook delivery with several service instances on one store and one database (SPEC §11)', () => {
  let workDir: string;
  let store: EventStoreProcess;
  let receiver: WebhookReceiver;
  const instances: ServiceProcess[] = [];

  beforeAll(async () => {
    workDir = makeDataDir('subledger-webhook-instances-');
    receiver = await WebhookReceiver.start();
    store = await spawnEmbeddedEventStore({
      viaNpm: true,
      port: await freePort(),
      dataDir: path.join(workDir, 'store'),
    });
    const databaseUrl = await testDatabaseUrl(store.connectionString);
    const operatorToken = randomBytes(24).toString('base64url');
    // One after the other: ports picked at once could collide.
    for (let index = 0; index < INSTANCES; index++) {
      instances.push(
        await startServiceProcess({
          env: {
            EVENTSTORE_CONNECTION_STRING: store.connectionString,
            DATABASE_URL: databaseUrl,
            OPERATOR_TOKEN: operatorToken,
            SUBLEDGER_DATA_DIR: path.join(workDir, `instance-${index}`),
            SUBLEDGER_WEBHOOK_ALLOW_PRIVATE: 'true',
            SUBLEDGER_WEBHOOK_TIMEOUT_MS: '1000',
          },
        }),
      );
    }
  }, 180_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await store?.stop();
    await receiver?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it('delivers each event once per endpoint, in commit order, while every instance runs the worker', async () => {
    const [first] = instances;
    const parent = await openParent(first, { credits: 100_000 });
    const subAccountId = await createSubAccount(first, parent, { quota: 50_000 });
    const endpoints = await Promise.all(
      ['/one', '/two'].map(async (hookPath) => ({
        path: hookPath,
        ...(expectStatus(
          await first.api.post(
            `/v1/parents/${parent.id}/webhook-endpoints`,
            { url: receiver.url(hookPath), eventTypes: ['UsageRecorded'] },
            parent.key,
          ),
          201,
        ).body as { id: string; secret: string }),
      })),
    );
    receiver.delayMs = 2;
    const COUNT = 90;
    // Usage through one instance (racing writers on one stream would only test the ledger's retries); the
    // outbox and the sender run in all three.
    for (let i = 0; i < COUNT; i++) {
      expectStatus(
        await first.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
          { idempotencyKey: `k-${i}`, credits: 1, meter: 'api' },
          parent.key,
        ),
        201,
      );
    }
    for (const endpoint of endpoints) {
      await pollUntil(
        async () => receiver.at(endpoint.path).length,
        (count) => count >= COUNT,
      );
    }
    // Whatever was still on its way has arrived.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (const endpoint of endpoints) {
      const webhook = new Webhook(endpoint.secret);
      const revisions = receiver.at(endpoint.path).map((request) => {
        const body = webhook.verify(request.body, {
          'webhook-id': String(request.headers['webhook-id']),
          'webhook-timestamp': String(request.headers['webhook-timestamp']),
          'webhook-signature': String(request.headers['webhook-signature']),
        }) as { data: { streamRevision: string } };
        return Number(body.data.streamRevision);
      });
      expect(revisions).toHaveLength(COUNT);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      expect(new Set(revisions).size).toBe(COUNT);
    }
  });
});
