import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { EventStoreDBClient } from '@eventstore/db-client';
import { GossipClient } from '@eventstore/db-client/generated/gossip_grpc_pb';
import { ClusterInfo, MemberInfo } from '@eventstore/db-client/generated/gossip_pb';
import { Empty } from '@eventstore/db-client/generated/shared_pb';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { testEvents } from './conformance.helpers';

/**
 * Even a single node answers Gossip.Read: clients given `esdb+discover://` or a list of endpoints
 * ask it which member to use before anything else, and give up with "Failed to discover after 10
 * attempts" when it does not answer.
 */
describe('gossip (cluster discovery)', () => {
  let store: TestEventStore;
  let host: string;
  let port: number;
  let query: string;
  const extraClients: EventStoreDBClient[] = [];

  beforeAll(async () => {
    store = await startTestEventStore();
    const url = new URL(store.connectionString.replace(/^[a-z+]+:/, 'http:'));
    host = url.hostname;
    port = Number(url.port || 2113);
    query = url.search;
  });

  afterAll(async () => {
    await Promise.all(extraClients.map((c) => c.dispose()));
    await store?.stop();
  });

  async function roundTrip(client: EventStoreDBClient): Promise<void> {
    extraClients.push(client);
    const stream = uniqueStream('gossip');
    const events = testEvents(2, 'gossip');
    await client.appendToStream(stream, events);
    const read = await collect(client.readStream(stream));
    expect(read.map((e) => e.event!.id)).toEqual(events.map((e) => e.id));
  }

  it('answers Gossip.Read with one alive leader at its own host and port', async () => {
    const insecure = /tls=false/i.test(query);
    const gossip = new GossipClient(
      `${host}:${port}`,
      insecure ? grpcCredentials.createInsecure() : grpcCredentials.createSsl(),
    );
    try {
      const info = await new Promise<ClusterInfo>((resolve, reject) =>
        gossip.read(new Empty(), (err, resp) => (err ? reject(err) : resolve(resp))),
      );
      const members = info.getMembersList();
      expect(members.length).toBeGreaterThanOrEqual(1);
      const leaders = members.filter((m) => m.getState() === MemberInfo.VNodeState.LEADER);
      expect(leaders).toHaveLength(1);
      expect(leaders[0].getIsAlive()).toBe(true);
      if (store.embedded) {
        expect(members).toHaveLength(1);
        expect(leaders[0].getHttpEndPoint()!.getAddress()).toBe(host);
        expect(leaders[0].getHttpEndPoint()!.getPort()).toBe(port);
      }
    } finally {
      gossip.close();
    }
  });

  it('lets a client connect with an esdb+discover:// connection string', async () => {
    await roundTrip(EventStoreDBClient.connectionString(`esdb+discover://${host}:${port}${query}`));
  });

  it('lets a client connect with a list of endpoints', async () => {
    const insecure = /tls=false/i.test(query);
    await roundTrip(
      new EventStoreDBClient(
        { endpoints: [{ address: host, port }], discoveryInterval: 100, maxDiscoverAttempts: 3 },
        { insecure },
      ),
    );
  });
});
