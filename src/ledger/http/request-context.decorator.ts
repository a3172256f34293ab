import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { AuthenticatedRequest } from '../../auth/roles.decorator';
import type { RequestContext } from '../application/ledger.service';

const CORRELATION_ID_HEADER = 'x-correlation-id';
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Principal, request id and correlation id of the request, for the event metadata. */
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
