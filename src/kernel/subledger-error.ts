/**
 * What a refusal means, which is all the HTTP edge needs to choose its status: the request is
 * invalid whatever the state, its credentials are missing or wrong, the caller may not do it, the
 * thing does not exist (for this caller), the state refuses it, or something it needs is down.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  /** Well formed and allowed, but what it would record is more than the store takes. */
  | 'unprocessable'
  | 'unavailable';

/**
 * The base of every error the service raises on purpose, in any layer: a stable machine `code`
 * (SPEC §4: `insufficient_quota`, `validation_failed`…), its `kind`, and a `detail` for people
 * (also the message). It lives in this kernel, which imports nothing, so the domain, the
 * application and the event store can all raise it without an import that runs up to HTTP; the one
 * mapper in `src/http/error-problem.ts` turns it into problem+json, its status decided by `kind`.
 * `extensions` become extra members of the problem document: never put secrets there.
 */
export class SubledgerError extends Error {
  constructor(
    readonly code: string,
    readonly kind: ErrorKind,
    readonly detail: string,
    readonly extensions: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = 'SubledgerError';
  }
}
