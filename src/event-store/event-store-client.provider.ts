import { Logger, OnApplicationShutdown, Provider } from '@nestjs/common';
import { EventStoreDBClient } from '@eventstore/db-client';
import { AppConfig, EventStoreSettings } from '../config/app-config';
import { useNativeBase64ForAppends } from './append-encoding';
import { runningStoreOn } from './embedded-store.child';
import { startEmbeddedStoreProcess, type StartingEmbeddedStore } from './embedded-store.process';

/** Injection token of the application's single `EventStoreDBClient`. */
export const EVENT_STORE_CLIENT = Symbol('EVENT_STORE_CLIENT');

interface EmbeddedServer {
  readonly connectionString: string;
  close(): Promise<void>;
}

/**
 * Owns the client and, when no EVENTSTORE_CONNECTION_STRING is configured, the embedded server it
 * talks to. Both go through the same client code path; only where the server runs differs.
 */
export class EventStoreConnection implements OnApplicationShutdown {
  private static readonly logger = new Logger('EventStore');
  private closed = false;

  private constructor(
    readonly client: EventStoreDBClient,
    /** What the client connects to: a projector thread of this process opens its own client on it. */
    readonly connectionString: string,
    private readonly embedded: EmbeddedServer | undefined,
    /** True when this connection joined a store that a running service owns (tools only). */
    readonly joinedRunningStore = false,
  ) {}

  /**
   * `joinRunning` is for the command-line tools (SPEC §8: they work while the service runs): when a
   * service's embedded store already serves the data folder, connect to it through the client rather
   * than wait for its lock. The service itself never joins: it owns its store (and reads its cache
   * without re-checking the stream, `exclusiveWriter`), so a second service on one folder waits.
   * `started`: the store's process `main.ts` started on the same folder before the modules loaded.
   */
  static async open(
    settings: EventStoreSettings,
    options: { joinRunning?: boolean; started?: StartingEmbeddedStore } = {},
  ): Promise<EventStoreConnection> {
    // Same bytes on the wire, a fraction of the client's CPU per appended event (see the module).
    useNativeBase64ForAppends();
    const { started } = options;
    if (
      started &&
      (settings.kind !== 'embedded' || settings.memory || settings.dataDir !== started.dataDir)
    ) {
      throw new Error(
        `A store was started early on ${started.dataDir}, but the service's store is elsewhere`,
      );
    }
    if (settings.kind === 'external') {
      return new EventStoreConnection(
        EventStoreDBClient.connectionString(settings.connectionString),
        settings.connectionString,
        undefined,
      );
    }
    const running = !settings.memory && options.joinRunning ? runningStoreOn(settings.dataDir) : undefined;
    if (running !== undefined) {
      EventStoreConnection.logger.log(`Joined the running embedded event store at ${running}`);
      return new EventStoreConnection(EventStoreDBClient.connectionString(running), running, undefined, true);
    }
    if (!settings.memory) {
      // A store on disk runs in a child process: its own core, its own event loop (it dies with
      // this process, and holds the data folder's lock while it runs).
      const child = await (started?.ready ?? startEmbeddedStoreProcess(settings.dataDir));
      EventStoreConnection.logger.log(
        `Embedded event store (process ${child.pid}) on ${settings.dataDir} at ${child.connectionString}`,
      );
      return new EventStoreConnection(
        EventStoreDBClient.connectionString(child.connectionString),
        child.connectionString,
        child,
      );
    }
    // In memory (tests, demos) it stays in this process: its data lives and dies with it anyway.
    // Loaded only when used: a service pointed at a real EventStoreDB never loads the embedded one.
    const { startEmbeddedEventStore } = await import('../embedded-eventstore');
    const embedded: EmbeddedServer = await startEmbeddedEventStore({
      host: '127.0.0.1',
      port: 0,
      memory: true,
    });
    EventStoreConnection.logger.log(`Embedded event store in memory at ${embedded.connectionString}`);
    return new EventStoreConnection(
      EventStoreDBClient.connectionString(embedded.connectionString),
      embedded.connectionString,
      embedded,
    );
  }

  /**
   * Runs in Nest's last shutdown phase, after the HTTP server has drained and every other module's
   * `onModuleDestroy` / `beforeApplicationShutdown` (subscriptions, projections) has run, so nothing
   * still appends when the client goes away. The embedded server (or its process) flushes on close.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.dispose();
    await this.embedded?.close();
  }
}

export function eventStoreProviders(started?: StartingEmbeddedStore): Provider[] {
  return [
    {
      provide: EventStoreConnection,
      useFactory: (config: AppConfig) => EventStoreConnection.open(config.eventStore, { started }),
      inject: [AppConfig],
    },
    {
      provide: EVENT_STORE_CLIENT,
      useFactory: (connection: EventStoreConnection) => connection.client,
      inject: [EventStoreConnection],
    },
  ];
}
