import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { Clock } from '../../src/config/clock';
import { EVENT_STORE_CLIENT } from '../../src/event-store/event-store-client.provider';
import { startTestService } from '../support/service';

describe('restarting the in-process service over the same data', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-restart-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps what was appended through the app client, and runs the clock from the new instant', async () => {
    const first = await startTestService({ dataDir, now: '2026-10-31T23:00:00Z' });
    try {
      const client = first.app.get<EventStoreDBClient>(EVENT_STORE_CLIENT);
      await client.appendToStream('restart_probe-1', jsonEvent({ type: 'ProbeRecorded', data: { n: 1 } }));
    } finally {
      await first.close();
    }

    const second = await startTestService({ dataDir, now: '2026-12-01T00:00:00Z' });
    try {
      const client = second.app.get<EventStoreDBClient>(EVENT_STORE_CLIENT);
      const events = [];
      for await (const resolved of client.readStream('restart_probe-1')) events.push(resolved.event);
      expect(events.map((event) => [event?.type, event?.data])).toEqual([['ProbeRecorded', { n: 1 }]]);
      expect(second.app.get(Clock).now().getTime()).toBeGreaterThanOrEqual(
        Date.parse('2026-12-01T00:00:00Z'),
      );
    } finally {
      await second.close();
    }
  });
});
