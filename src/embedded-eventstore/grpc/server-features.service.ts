import { handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { Empty } from '@eventstore/db-client/generated/shared_pb';
import { SupportedMethod, SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb';

/** What a 23.10 server reports for the methods we serve; listing BatchAppend makes the client use it. */
export const SERVER_VERSION = '23.10.0';
const METHODS: [service: string, method: string, features: string[]][] = [
  ['event_store.client.streams.streams', 'read', ['position', 'events']],
  ['event_store.client.streams.streams', 'append', []],
  ['event_store.client.streams.streams', 'batchappend', []],
  ['event_store.client.streams.streams', 'delete', []],
  ['event_store.client.streams.streams', 'tombstone', []],
  ['event_store.client.server_features.serverfeatures', 'getsupportedmethods', []],
];

export function serverFeaturesImplementation(): UntypedServiceImplementation {
  const getSupportedMethods: handleUnaryCall<Empty, SupportedMethods> = (_call, callback) => {
    const resp = new SupportedMethods();
    resp.setEventStoreServerVersion(SERVER_VERSION);
    resp.setMethodsList(
      METHODS.map(([service, method, features]) => {
        const m = new SupportedMethod();
        m.setServiceName(service);
        m.setMethodName(method);
        m.setFeaturesList(features);
        return m;
      }),
    );
    callback(null, resp);
  };
  return { getSupportedMethods };
}
