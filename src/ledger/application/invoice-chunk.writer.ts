import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  BACKWARDS,
  END,
  jsonEvent,
  NO_STREAM,
  StreamNotFoundError,
  type AppendExpectedRevision,
  type EventStoreDBClient,
  type JSONType,
} from '@eventstore/db-client';
import type { EventMetadata } from '../../event-store/command-processing';
import { EVENT_STORE_CLIENT } from '../../event-store/event-store-client.provider';
import { invoiceStreamName, type CloseBillingPeriod, type InvoiceChunk } from '../domain';

export type WrittenInvoices = NonNullable<CloseBillingPeriod['data']['invoices']>;

/**
 * Writes the chunks of a close too big for one append to `ledgerinvoices-<parentId>`, one append per
 * chunk, each at the exact revision the previous one ended on, so the chunks sit back to back and a
 * writer racing on the same parent makes this one fail (WrongExpectedVersionError) instead of
 * interleaving. Nothing refers to them until the closing commits them; chunks of an attempt that
 * never got its closing (a crash, a lost race, usage that changed the invoices) stay unreferenced
 * and are ignored for ever.
 *
 * Event ids are derived from the chunk's digest and the event's place in it, so an append the
 * client sends again after a lost acknowledgement is recognised by the store as the same events.
 */
@Injectable()
export class InvoiceChunkWriter {
  constructor(@Inject(EVENT_STORE_CLIENT) private readonly client: EventStoreDBClient) {}

  async write(
    parentId: string,
    chunks: readonly InvoiceChunk[],
    metadata: EventMetadata,
  ): Promise<WrittenInvoices> {
    const stream = invoiceStreamName(parentId);
    let expected: AppendExpectedRevision = await this.head(stream);
    const written: WrittenInvoices['chunks'] = [];
    for (const chunk of chunks) {
      const events = chunk.records.map((entry, index) =>
        jsonEvent({
          id: eventIdOf(stream, chunk.digest, index),
          type: entry.event.type,
          data: entry.event.data as unknown as JSONType,
          metadata: metadata as JSONType,
        }),
      );
      const result = await this.client.appendToStream(stream, events, { expectedRevision: expected });
      const last = Number(result.nextExpectedRevision);
      written.push({ firstRevision: last - events.length + 1, lastRevision: last, digest: chunk.digest });
      expected = result.nextExpectedRevision;
    }
    return {
      stream,
      firstRevision: written[0].firstRevision,
      lastRevision: written[written.length - 1].lastRevision,
      chunks: written,
    };
  }

  private async head(stream: string): Promise<AppendExpectedRevision> {
    let head: AppendExpectedRevision = NO_STREAM;
    try {
      // Drained, never left early: a read broken off keeps its gRPC call open.
      for await (const resolved of this.client.readStream(stream, {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      })) {
        if (resolved.event) head = resolved.event.revision;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return head;
  }
}

/** A UUID (version 5 layout) from the stream, the chunk's digest and the event's index in it. */
function eventIdOf(stream: string, chunkDigest: string, index: number): string {
  const hex = createHash('sha256').update(`${stream}\n${chunkDigest}\n${index}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
