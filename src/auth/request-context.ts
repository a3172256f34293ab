import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from './principal';
import type { AuthenticatedRequest } from './roles.decorator';

const CORRELATION_ID_HEADER = 'x-correlation-id';
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Who asks and under which ids: everything the event metadata needs besides the clock. */
export type RequestContext = {
  readonly principal: Principal;
  readonly requestId: string;
  /** The caller's `x-correlation-id`, else the request id: the chain this request belongs to. */
  readonly correlationId: string;
};

/**
 * The route parameter holding the request's context: the principal the auth guard set, the request
 * id and the correlation id. Every route that writes or reads for a caller takes it, the ledger's and
 * the read side's alike.
 */
export const Context = createParamDecorator((_data: unknown, context: ExecutionContext): RequestContext => {
  const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
  if (!request.principal) throw new Error('Context used on a route the auth guard did not authenticate');
  const incoming = request.headers[CORRELATION_ID_HEADER];
  return {
    principal: request.principal,
    requestId: request.id,
    // Checked like request ids, so a caller cannot write arbitrary text into every event's metadata.
    correlationId: typeof incoming === 'string' && SANE_ID.test(incoming) ? incoming : request.id,
  };
});
