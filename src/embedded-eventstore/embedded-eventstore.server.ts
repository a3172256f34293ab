import { randomUUID } from 'node:crypto';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { GossipService } from '@eventstore/db-client/generated/gossip_grpc_pb';
import { MonitoringService } from '@eventstore/db-client/generated/monitoring_grpc_pb';
import { OperationsService } from '@eventstore/db-client/generated/operations_grpc_pb';
import { PersistentSubscriptionsService } from '@eventstore/db-client/generated/persistent_grpc_pb';
import { ProjectionsService } from '@eventstore/db-client/generated/projections_grpc_pb';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { UsersService } from '@eventstore/db-client/generated/users_grpc_pb';
import { EventStoreEngine } from './engine/event-store.engine';
import { gossipImplementation } from './grpc/gossip.service';
import { projectionsImplementation } from './grpc/projections.service';
import { serverFeaturesImplementation } from './grpc/server-features.service';
import { StreamsHandlers, streamsServiceDefinition } from './grpc/streams.service';
import { unimplementedImplementation } from './grpc/unimplemented.service';

export interface EmbeddedEventStoreOptions {
  host?: string;
  port?: number;
  /**
   * The address Gossip.Read gives clients for this node (a real node's `--advertise-host-to-client-as`);
   * defaults to `host`, or 127.0.0.1 when `host` is a wildcard address.
   */
  advertiseHost?: string;
  /** The port Gossip.Read gives clients; defaults to the bound port. */
  advertisePort?: number;
  dataDir?: string;
  memory?: boolean;
  /** An engine opened by the caller (e.g. one with a fault injected); dataDir and memory are then ignored. */
  engine?: EventStoreEngine;
  /**
   * Whether `$by_category`, `$by_event_type`, `$streams` and `$stream_by_category` run from the first
   * start of a log (KurrentDB's `--run-projections=All --start-standard-projections=true`). Default
   * true; later starts keep the state the log records (Projections Enable/Disable).
   */
  startStandardProjections?: boolean;
  /**
   * What to do when a log opened from its index checkpoint turns out to hold a damaged record
   * (EngineOptions.onLogDamaged); by default it is written to stderr, and appends are refused.
   */
  onLogDamaged?: (error: Error) => void;
}

export interface EmbeddedEventStore {
  readonly port: number;
  readonly connectionString: string;
  close(): Promise<void>;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** Large enough for a full 3 MiB BatchAppend chunk plus framing. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** HTTP/2 receive window the server grants each connection and each stream (see below). */
export const RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024;

interface Http2SessionLike {
  setLocalWindowSize(size: number): void;
  settings(settings: { initialWindowSize: number }): void;
}

/**
 * A record of the log found damaged after the store opened from its checkpoint: the process ends, as a
 * real node terminates when a chunk fails its hash. Appends were refused from that moment; the next
 * start, without the checkpoint, scans the whole log.
 */
export function exitOnDamagedLog(error: Error): void {
  process.stderr.write(`embedded event store: ${error.message}; terminating\n`);
  process.exit(1);
}

/**
 * Node's HTTP/2 default receive window is 64 KiB per stream and per connection, and grpc-js offers
 * no server option for it. A client's appends all share one BatchAppend stream, and a batch of 100
 * ledger events is ~95 KB: with 64 KiB the client stalls mid-append until the server's event loop
 * has read what came and sent a WINDOW_UPDATE back. A larger window lets every append in flight
 * reach the server at once (measured: 30% more appends/s with two client threads on a loaded
 * machine). Relies on grpc-js 1.x internals (`http2Servers`); without them it does nothing and the
 * defaults stay, which test/embedded-eventstore/flow-control.spec.ts would notice.
 */
function widenReceiveWindows(server: Server, bytes: number): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<NodeJS.EventEmitter, unknown> })
    .http2Servers;
  if (!(http2Servers instanceof Map)) return;
  for (const http2Server of http2Servers.keys()) {
    http2Server.on('session', (session: Http2SessionLike) => {
      try {
        session.setLocalWindowSize(bytes);
        session.settings({ initialWindowSize: bytes });
      } catch {
        // A session closing as it opens; nothing to widen.
      }
    });
  }
}

export async function startEmbeddedEventStore(opts: EmbeddedEventStoreOptions): Promise<EmbeddedEventStore> {
  const host = opts.host ?? '127.0.0.1';
  const engine =
    opts.engine ??
    new EventStoreEngine({
      dataDir: opts.dataDir,
      memory: opts.memory,
      onLogDamaged:
        opts.onLogDamaged ?? ((error) => process.stderr.write(`embedded event store: ${error.message}\n`)),
    });
  void engine.verification.then((result) => {
    if (result.kind === 'failed') {
      process.stderr.write(`embedded event store: the log's checksums were not verified: ${result.reason}\n`);
    }
  });
  const instanceId = randomUUID();
  try {
    await engine.start({ startStandardProjections: opts.startStandardProjections ?? true, instanceId });
  } catch (err) {
    await engine.close();
    throw err;
  }
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(streamsServiceDefinition(), new StreamsHandlers(engine).implementation());
  server.addService(ServerFeaturesService, serverFeaturesImplementation());
  let port = 0;
  const advertiseHost = opts.advertiseHost ?? (WILDCARD_HOSTS.has(host) ? '127.0.0.1' : host);
  server.addService(
    GossipService,
    gossipImplementation(() => ({ host: advertiseHost, port: opts.advertisePort ?? port }), instanceId),
  );
  server.addService(ProjectionsService, projectionsImplementation(engine));
  for (const def of [PersistentSubscriptionsService, UsersService, OperationsService, MonitoringService]) {
    server.addService(def, unimplementedImplementation(def));
  }
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${opts.port ?? 2113}`, ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
  } catch (err) {
    await engine.close();
    throw err;
  }
  widenReceiveWindows(server, RECEIVE_WINDOW_BYTES);
  let closing: Promise<void> | null = null;
  return {
    port,
    connectionString: `esdb://127.0.0.1:${port}?tls=false`,
    close: () => {
      closing ??= (async () => {
        // Stop taking calls, let queued appends reach the disk and their answers go out, then
        // cut what is still open (subscriptions never end on their own).
        const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
        await engine.close();
        await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 200))]);
        server.forceShutdown();
      })();
      return closing;
    },
  };
}
