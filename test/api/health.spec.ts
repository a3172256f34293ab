import { startEmbeddedEventStore } from '../../src/embedded-eventstore';
import { createApp } from '../../src/http/create-app';
import { startTestService, type TestService } from '../support/service';

describe('GET /health', () => {
  it('answers 200 with the event store up', async () => {
    const service = await startTestService();
    try {
      const response = await service.api.get('/health');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok', eventStore: 'up' });
    } finally {
      await service.close();
    }
  });

  it('answers 503 problem+json once the event store is closed under the service, while /health/live stays 200', async () => {
    const store = await startEmbeddedEventStore({ host: '127.0.0.1', port: 0, memory: true });
    let service: TestService | undefined;
    try {
      service = await startTestService({ eventStoreConnectionString: store.connectionString });
      expect((await service.api.get('/health')).status).toBe(200);

      await store.close();

      const response = await service.api.get('/health');
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({
        status: 503,
        code: 'event_store_unavailable',
        type: 'https://subledger.dev/problems/event_store_unavailable',
        instance: '/health',
        eventStore: 'down',
      });
      expect((await service.api.get('/health/live')).status).toBe(200);
    } finally {
      await service?.close();
      await store.close();
    }
  });

  it('answers 503 when the configured event store was never there', async () => {
    const probe = await startEmbeddedEventStore({ host: '127.0.0.1', port: 0, memory: true });
    // A port that was just free and is now closed again: nothing answers there.
    const deadConnectionString = probe.connectionString;
    await probe.close();
    const service = await startTestService({ eventStoreConnectionString: deadConnectionString });
    try {
      const response = await service.api.get('/health');
      expect(response.status).toBe(503);
      expect(response.body.code).toBe('event_store_unavailable');
    } finally {
      await service.close();
    }
  });
});

describe('start-up', () => {
  it('rejects, instead of exiting the process, when its port is taken', async () => {
    const first = await startTestService();
    try {
      const port = Number(new URL(first.baseUrl).port);
      await expect(
        createApp({
          env: {},
          host: '127.0.0.1',
          port,
          eventStoreMemory: true,
          logLevel: 'silent',
          handleSignals: false,
        }),
      ).rejects.toThrow(/EADDRINUSE/);
      expect((await first.api.get('/health')).status).toBe(200);
    } finally {
      await first.close();
    }
  });
});
