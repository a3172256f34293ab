import { START, StreamNotFoundError, type EventStoreDBClient } from '@eventstore/db-client';
import {
  CHAIN_GENESIS,
  canonicalJson,
  chainHash,
  chainLinkOf,
  metadataWithoutChain,
} from '../event-store/command-processing/audit-chain';
import { fromResolvedEvent } from '../event-store/command-processing/event-envelope';

/** Where the recomputed chain first disagrees with what the log holds. */
export interface ChainBreak {
  /** Stream revision of the first event whose stored link is not the one recomputed. */
  readonly revision: number;
  /** The hash this event must carry, recomputed from its content and its predecessor's hash. */
  readonly expected: string;
  /** The hash it carries (null when its link is missing). */
  readonly found: string | null;
}

export interface ChainVerification {
  /** True when every chained event in the range carries the link recomputed from the log. */
  readonly verified: boolean;
  readonly streamName: string;
  /** Chained events checked (up to and including the first break). */
  readonly events: number;
  /** Events before the chain's first link (history written before the chain existed); never hashed. */
  readonly unchained: number;
  /** The hash of the last event that checked out: the chain's head when `verified`. */
  readonly head: string | null;
  /** Revision of the last event checked out (null when none). */
  readonly headRevision: number | null;
  readonly firstBreak?: ChainBreak;
}

export interface ChainRange {
  /** First revision to check (default 0); a later start trusts the stored `prev` of its first event. */
  readonly from?: number;
  /** Last revision to check, inclusive (default: the stream's last). */
  readonly to?: number;
}

/**
 * Recomputes a stream's audit chain from the log (docs/audit-chain.md). From revision 0, events
 * before the first that carries a link are history from before the chain and are counted as
 * `unchained`; that first link must start from the genesis, and every event after it must carry the
 * link recomputed from its own type, data and metadata and its predecessor's recomputed hash. From a
 * later revision the first chained event's stored `prev` is taken as the anchor. Stops at the first
 * break. Undefined when the stream does not exist.
 */
export async function verifyChain(
  client: EventStoreDBClient,
  streamName: string,
  range: ChainRange = {},
): Promise<ChainVerification | undefined> {
  const from = range.from ?? 0;
  let prev: string | undefined;
  let events = 0;
  let unchained = 0;
  let head: string | null = null;
  let headRevision: number | null = null;
  let firstBreak: ChainBreak | undefined;
  try {
    const read = client.readStream(streamName, { fromRevision: from === 0 ? START : BigInt(from) });
    for await (const resolved of read) {
      // Drained to the end rather than left early: an abandoned read keeps the client from disposing.
      if (firstBreak) continue;
      const event = fromResolvedEvent(resolved);
      if (!event) continue;
      const revision = Number(event.revision);
      if (range.to !== undefined && revision > range.to) continue;
      const link = chainLinkOf(event.metadata);
      if (!link && prev === undefined) {
        unchained++;
        continue;
      }
      const expectedPrev = prev ?? (from === 0 ? CHAIN_GENESIS : (link?.prev ?? CHAIN_GENESIS));
      const expected = chainHash(
        expectedPrev,
        event.type,
        event.data,
        canonicalJson(metadataWithoutChain(event.metadata)),
      );
      events++;
      if (!link || link.hash !== expected || link.prev !== expectedPrev) {
        firstBreak = { revision, expected, found: link?.hash ?? null };
        continue;
      }
      prev = expected;
      head = expected;
      headRevision = revision;
    }
  } catch (error) {
    if (error instanceof StreamNotFoundError) return undefined;
    throw error;
  }
  return {
    verified: firstBreak === undefined,
    streamName,
    events,
    unchained,
    head,
    headRevision,
    ...(firstBreak ? { firstBreak } : {}),
  };
}
