import { rm } from 'node:fs/promises';
import { Webhook } from 'standardwebhooks';
import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
import { pollUntil } from '../support/poll';
import { startServiceProcess, type ServiceProcess } from '../support/service';
import { WebhookReceiver } from './webhook-receiver';
import { makeDataDir } from '../support/database';

jest.setTimeout(240_000);

const OPERATOR_TOKEN = 'webhook-crash-operator-token-0123456789';
/** Deliveries one sender claims for an endpoint at a time (RUN_LENGTH in webhook-sender.ts). */
const MOST_IN_FLIGHT = 100;

describe('webhook delivery across kill -9 of the service (SPEC §11)', () => {
  let dataDir: string;
  let receiver: WebhookReceiver;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    dataDir = makeDataDir('subledger-webhook-crash-');
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await service?.stop();
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    startServiceProcess({
      env: {
        SUBLEDGER_DATA_DIR: dataDir,
        OPERATOR_TOKEN,
        SUBLEDGER_WEBHOOK_ALLOW_PRIVATE: 'true',
        SUBLEDGER_WEBHOOK_TIMEOUT_MS: '1000',
      },
    });

  it('delivers every event after a restart, resending at most what was in flight, in commit order', async () => {
    service = await start();
    const parent = await openParent(service, { credits: 100_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 50_000 });
    const created = expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/webhook-endpoints`,
        { url: receiver.url('/crash') },
        parent.key,
      ),
      201,
    ).body as { id: string; secret: string };
    // Slow answers keep deliveries in flight when the kill comes.
    receiver.delayMs = 15;

    const running = service;
    let stopLoad = false;
    const load = (async () => {
      for (let i = 0; !stopLoad; i++) {
        const response = await running.api
          .post(
            `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
            { idempotencyKey: `k-${i}`, credits: 1, meter: 'api' },
            parent.key,
          )
          .catch(() => undefined);
        if (!response) return;
      }
    })();
    await pollUntil(
      async () => receiver.at('/crash').length,
      (count) => count >= 40,
    );
    await running.killHard();
    stopLoad = true;
    await load;
    const receivedBeforeKill = receiver.at('/crash').length;

    service = await start();
    const owed = async () => {
      const events: Array<{ eventId: string; type: string; cursor: string }> = [];
      let after: string | undefined;
      for (;;) {
        const page = expectStatus(
          await service!.api.get(
            `/v1/parents/${parent.id}/events?limit=1000${after === undefined ? '' : `&after=${after}`}`,
            OPERATOR_TOKEN,
          ),
          200,
        ).body as { events: typeof events; nextCursor?: string | null };
        events.push(...page.events);
        if (!page.nextCursor || page.events.length === 0) return events;
        after = page.nextCursor;
      }
    };
    const usage = (await owed()).filter((event) => event.type === 'UsageRecorded');
    expect(usage.length).toBeGreaterThan(0);
    const received = () =>
      new Set(receiver.at('/crash').map((request) => String(request.headers['webhook-id'])));
    await pollUntil(
      async () => received(),
      (ids) => usage.every((event) => ids.has(event.eventId)),
      { everyMs: 250 },
    );
    expect(receiver.at('/crash').length).toBeGreaterThan(receivedBeforeKill);

    const requests = receiver.at('/crash');
    const webhook = new Webhook(created.secret);
    const firstReceipts: number[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    for (const request of requests) {
      const body = webhook.verify(request.body, {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(request.headers['webhook-signature']),
      }) as { data: { eventId: string; streamRevision: string } };
      if (seen.has(body.data.eventId)) {
        duplicates++;
        continue;
      }
      seen.add(body.data.eventId);
      firstReceipts.push(Number(body.data.streamRevision));
    }
    expect(firstReceipts).toEqual([...firstReceipts].sort((a, b) => a - b));
    expect(duplicates).toBeLessThanOrEqual(MOST_IN_FLIGHT);
  });
});
