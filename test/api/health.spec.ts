import { startEmbeddedEventStore } from '../../src/embedded-eventstore';
import { EventStoreHealthIndicator } from '../../src/health/event-store.health-indicator';
import { HealthController } from '../../src/health/health.controller';
import { createApp } from '../../src/app';
import { ApplicationError } from '../../src/http/problem';
import { PROJECTIONS, ProjectionRunner } from '../../src/projections';
import { startTestEventStore } from '../support/event-store';
import { openTestDatabase, testDatabaseUrl } from '../support/database';
import { pollUntil } from '../support/poll';
import { startTestService, type TestService } from '../support/service';

/**
 * `/health` once the service is ready: readiness waits for the projections to catch up with the log,
 * which is never empty (the store writes its start-up event), so the first answer may still be 503.
 */
const readyHealth = (service: TestService) =>
  pollUntil(
    () => service.api.get('/health'),
    (response) => response.status !== 503 || response.body.code !== 'projection_rebuilding',
  );

describe('GET /health', () => {
  it('answers 200 with the event store up', async () => {
    const service = await startTestService();
    try {
      const response = await readyHealth(service);
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
      expect((await readyHealth(service)).status).toBe(200);

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

describe('readiness and the projections', () => {
  it('is not ready (projection_rebuilding, store up) until the projections caught up with the log since the start', async () => {
    const store = await startTestEventStore();
    const database = await openTestDatabase();
    const runner = new ProjectionRunner({ client: store.client, projections: PROJECTIONS, database });
    // The controller as the service builds it, on a real store and a real runner not yet caught up.
    const health = new HealthController(new EventStoreHealthIndicator(store.client), runner);
    try {
      const early = await health.ready().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(early).toBeInstanceOf(ApplicationError);
      expect(early).toMatchObject({
        code: 'projection_rebuilding',
        extensions: { eventStore: 'up', projections: 'catching_up' },
      });

      await runner.start();
      await runner.whenCaughtUp(15_000);
      await expect(health.ready()).resolves.toEqual({ status: 'ok', eventStore: 'up' });
    } finally {
      await runner.stop({ commit: false });
      await database.close();
      await store.stop();
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
          databaseUrl: await testDatabaseUrl(),
          logLevel: 'silent',
          handleSignals: false,
        }),
      ).rejects.toThrow(/EADDRINUSE/);
      expect((await readyHealth(first)).status).toBe(200);
    } finally {
      await first.close();
    }
  });
});
