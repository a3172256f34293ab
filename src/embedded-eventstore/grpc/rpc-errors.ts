import { Metadata, status, StatusObject } from '@grpc/grpc-js';

/**
 * Errors shaped the way EventStoreDB sends them: the client maps them by the `exception`
 * trailer first, then reads the named trailers into the typed error's fields.
 */

export type RpcError = Partial<StatusObject> & { code: status; details: string; metadata: Metadata };

function rpcError(code: status, details: string, trailers: Record<string, string>): RpcError {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  const err = new Error(details) as Error & RpcError;
  err.code = code;
  err.details = details;
  err.metadata = metadata;
  return err;
}

export function streamDeletedError(streamName: string): RpcError {
  return rpcError(status.FAILED_PRECONDITION, `Event stream '${streamName}' is deleted.`, {
    exception: 'stream-deleted',
    'stream-name': streamName,
  });
}

export function wrongExpectedVersionError(streamName: string, expected: number, current: number): RpcError {
  return rpcError(
    status.FAILED_PRECONDITION,
    `Append failed due to WrongExpectedVersion. Stream: ${streamName}, Expected version: ${expected}, Actual version: ${current}`,
    {
      exception: 'wrong-expected-version',
      'stream-name': streamName,
      'expected-version': String(expected),
      // EventStoreDB sends an empty actual version when the stream does not exist.
      'actual-version': current < 0 ? '' : String(current),
    },
  );
}

export function maximumAppendSizeError(maxAppendSize: number): RpcError {
  return rpcError(status.INVALID_ARGUMENT, `Maximum Append Size of ${maxAppendSize} Exceeded.`, {
    exception: 'maximum-append-size-exceeded',
    'maximum-append-size': String(maxAppendSize),
  });
}

export function deadlineExceededError(): RpcError {
  return rpcError(status.DEADLINE_EXCEEDED, 'Deadline Exceeded', {});
}

export function missingMetadataError(property: string): RpcError {
  return rpcError(status.INVALID_ARGUMENT, `Required Metadata Property '${property}' is missing`, {
    exception: 'missing-required-metadata-property',
    'required-metadata-properties': property,
  });
}

export function unimplementedError(path: string): RpcError {
  return rpcError(
    status.UNIMPLEMENTED,
    `${path} is not implemented by Subledger's embedded EventStoreDB-compatible server ` +
      "(it serves Streams, ServerFeatures, Gossip and the standard projections' Enable, Disable and Statistics); " +
      'use a real EventStoreDB/KurrentDB for this feature.',
    {},
  );
}

/** As KurrentDB's projection management answers a name it does not know. */
export function projectionNotFoundError(name: string): RpcError {
  return rpcError(status.NOT_FOUND, `Projection '${name}' not found`, {});
}
