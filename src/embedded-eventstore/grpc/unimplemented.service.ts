import { ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { unimplementedError } from './rpc-errors';

interface MethodShape {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

/**
 * Answers every method of a service with UNIMPLEMENTED and a message that names the method
 * and this server, instead of grpc-js's generic "unknown service".
 */
export function unimplementedImplementation(def: ServiceDefinition): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(def as unknown as Record<string, MethodShape>)) {
    const err = () => unimplementedError(method.path);
    if (!method.responseStream) {
      impl[name] = ((_call: unknown, callback: (e: unknown) => void) => callback(err())) as UntypedHandleCall;
    } else {
      impl[name] = ((call: { emit(event: 'error', e: unknown): void }) =>
        call.emit('error', err())) as UntypedHandleCall;
    }
  }
  return impl;
}
