import type { PoolClient } from 'pg';
import type { RecordedDomainEvent } from '../event-store/command-processing/event-envelope';
import { LEDGER_CATEGORY } from '../ledger/domain';
import { LEDGER_EVENT_TYPES, type LedgerEvent } from '../ledger/domain/ledger.events';

/**
 * A ledger event as read back from its `ledger-` stream: the ledger's own typed event, so a `switch`
 * on `type` narrows `data`, with the envelope helper's metadata, id, streamName and revision.
 */
export type StoredLedgerEvent = LedgerEvent & Omit<RecordedDomainEvent, 'type' | 'data'>;

/** An event as a projection sees it: a stored ledger event with a position that is always known, since it comes from `$all`. */
export type RecordedEnvelope = StoredLedgerEvent & {
  readonly commitPosition: bigint;
  readonly preparePosition: bigint;
  /**
   * Business time: `metadata.recordedAt` (the service clock, which SUBLEDGER_NOW may move), never the
   * store's own timestamp; parsed once per event for every projection. NaN when the event has none.
   */
  readonly recordedAtMs: number;
};

const KNOWN_TYPES: ReadonlySet<string> = new Set(LEDGER_EVENT_TYPES);

/**
 * True for an event of a type this build knows. Only the ledger's decider appends to `ledger-`
 * streams, so the type names the shape of the data (docs/events.md): this is the one place where the
 * read side takes the store's JSON at its word. An event of another type (a newer writer's) is no
 * projection's business.
 */
export function isLedgerEvent(event: RecordedDomainEvent): event is StoredLedgerEvent {
  return KNOWN_TYPES.has(event.type);
}

/**
 * The envelope the runner hands to `evolve`; undefined for an event of a type this build does not know.
 * Built field by field: an object made by spreading `event` folds about twice as slowly
 * (bench/projections-fold.bench.ts), and TypeScript cannot follow that `type` and `data` copied side by
 * side still belong to one event, hence the cast. Its metadata is `projectedMetadata`'s.
 */
export function recordedEnvelopeOf(
  event: RecordedDomainEvent,
  position: LogPosition,
): RecordedEnvelope | undefined {
  if (!isLedgerEvent(event)) return undefined;
  return {
    type: event.type,
    data: event.data,
    metadata: projectedMetadata(event.metadata),
    id: event.id,
    streamName: event.streamName,
    revision: event.revision,
    created: event.created,
    commitPosition: position.commit,
    preparePosition: position.prepare,
    recordedAtMs: recordedAtMsOf(event.metadata, event.data),
  } as RecordedEnvelope;
}

/**
 * The metadata fields projections read: `recordedAt` (business time) and, for the history entries,
 * the actor and the correlation and causation ids. An envelope carries only these, on every path (the
 * live subscription, a catch-up, the rebuild's reader thread), so no projection can come to depend on
 * a field one path keeps and another drops; one that needs another field adds it here. The rest (the
 * audit chain's two hashes, the request id, the schema version) is over half of an event's metadata,
 * and in a rebuild every envelope is cloned from the reader thread to the folding one (decision 85).
 * Fields the event lacks stay undefined, so every envelope's metadata has one shape.
 */
export function projectedMetadata(metadata: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return {
    recordedAt: metadata.recordedAt,
    actor: metadata.actor,
    $correlationId: metadata.$correlationId,
    $causationId: metadata.$causationId,
  };
}

export function recordedAtMsOf(metadata: Readonly<Record<string, unknown>>, data: unknown): number {
  const fromMetadata = metadata.recordedAt;
  if (typeof fromMetadata === 'string') return Date.parse(fromMetadata);
  const fromData = typeof data === 'object' && data !== null && 'recordedAt' in data ? data.recordedAt : NaN;
  return typeof fromData === 'string' ? Date.parse(fromData) : NaN;
}

/**
 * The `default` of a projection's switch on `event.type`. It compiles only where every ledger event
 * type has a case, so a new event type is a compile error in each projection until it says what it
 * does with it. The runner hands over only known types, so it is never reached.
 */
export function unhandledEvent(event: { readonly type: never }): never {
  throw new Error(`No case for the ledger event type ${String(event.type)}`);
}

/**
 * The ledger event types that move no credits: no balance, pool or usage figure changes with them, so
 * none of the credit read models (balance as of, history, usage analytics) reads them. One list
 * instead of one per projection: a projection returns early on these, and its switch still has to
 * name every other type (`unhandledEvent`). A new type goes here only if it moves no credits.
 */
const CREDIT_NEUTRAL_EVENT_TYPES = [
  'ParentAccountOpened',
  'ParentAccountRenamed',
  'SubAccountRenamed',
  'BillingModelChanged',
  'CreditPriceChanged',
  'ApiKeyIssued',
  'ApiKeyRevoked',
  'BillingPeriodClosed',
  'InvoiceIssued',
  'RecurringAllocationSet',
  'RecurringAllocationFailed',
  'AlertThresholdsChanged',
  'QuotaThresholdReached',
  'PoolBalanceLow',
] as const satisfies readonly LedgerEvent['type'][];

type CreditNeutralEventType = (typeof CREDIT_NEUTRAL_EVENT_TYPES)[number];
const CREDIT_NEUTRAL: ReadonlySet<string> = new Set(CREDIT_NEUTRAL_EVENT_TYPES);

export function movesNoCredits<Event extends { readonly type: LedgerEvent['type'] }>(
  event: Event,
): event is Extract<Event, { readonly type: CreditNeutralEventType }> {
  return CREDIT_NEUTRAL.has(event.type);
}

/** Where in `$all` an event sits; compared commit first, then prepare (events of one append may share a commit). */
export interface LogPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/**
 * A read model kept in PostgreSQL. `write` turns a batch of events (in log order, every one after the
 * projection's checkpoint) into rows, inside the runner's transaction, which also moves the checkpoint:
 * it must not commit, and must write the same rows for the same events (a rebuild from the log is then
 * a valid replacement for the tables). `version` names the tables' shape (`…_v<version>`): a new
 * version gets new tables from a migration and is folded from the start of the log into them, while
 * the old version's keep serving instances that still run it.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  /** Its tables, emptied by the rebuild tool before it folds the log into them again. */
  readonly tables: readonly string[];
  /**
   * Stable names for people and tools (view → the table of this version, `…_v<n>`): once caught up, the
   * runner points each view at its table, unless the view already shows a newer version's.
   */
  readonly views?: Readonly<Record<string, string>>;
  write(client: PoolClient, events: readonly RecordedEnvelope[]): Promise<void>;
}

export type AnyProjection = Projection;

/** The write side's one stream per parent (`ledgerStreamName`); snapshot streams (`ledgersnapshot-…`) do not match. */
export const LEDGER_STREAM_PREFIX = `${LEDGER_CATEGORY}-`;

export function parentIdOfStream(streamName: string): string {
  return streamName.slice(LEDGER_STREAM_PREFIX.length);
}

export interface ProjectionReadOptions {
  /** How long a read waits for a rebuilding projection before `ProjectionRebuildingError` (503). */
  readonly readTimeoutMs: number;
}
