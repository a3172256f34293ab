/**
 * Every conformance suite again, unchanged, through `@kurrent/kurrentdb-client` 1.3.1, the maintained
 * successor of `@eventstore/db-client` (same v1 protocol): the suites' imports of `@eventstore/db-client`
 * (and of the generated gRPC definitions they use) are mocked with the successor's, connection strings
 * become `kurrentdb://`, and the embedded server runs in a child process (see child-server.ts for why).
 * The application itself stays on `@eventstore/db-client`.
 */
const V1 = '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1';
jest.mock('@eventstore/db-client', () => jest.requireActual('./as-eventstore-db-client'));
jest.mock('@eventstore/db-client/generated/streams_grpc_pb', () =>
  jest.requireActual('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb'),
);
jest.mock('@eventstore/db-client/generated/gossip_grpc_pb', () =>
  jest.requireActual('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/gossip_grpc_pb'),
);
jest.mock('@eventstore/db-client/generated/gossip_pb', () =>
  jest.requireActual('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/gossip_pb'),
);
jest.mock('@eventstore/db-client/generated/shared_pb', () =>
  jest.requireActual('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb'),
);
jest.mock('../../../src/embedded-eventstore', () => jest.requireActual('./child-server'));

import { KurrentDBClient } from '@kurrent/kurrentdb-client';
import { EventStoreDBClient } from '@eventstore/db-client';
import { convertedConnectionStrings } from './as-eventstore-db-client';
import { stopSharedServer } from './child-server';

const SUITES = [
  'append',
  'delete-stream',
  'event-size',
  'gossip',
  'link-events',
  'projection-management',
  'read-all',
  'read-stream',
  'stream-metadata',
  'subscriptions',
  'system-projections',
];

describe('with @kurrent/kurrentdb-client 1.3.1', () => {
  afterAll(() => stopSharedServer());

  it('runs the suites through the successor client, over kurrentdb:// connection strings', () => {
    expect(EventStoreDBClient.connectionString('esdb://127.0.0.1:2113?tls=false')).toBeInstanceOf(
      KurrentDBClient,
    );
    expect(convertedConnectionStrings.pop()).toBe('kurrentdb://127.0.0.1:2113?tls=false');
    expect(require.resolve(V1 + '/streams_pb')).toContain('@kurrent');
  });

  for (const suite of SUITES) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(`../${suite}.spec`);
  }
});
