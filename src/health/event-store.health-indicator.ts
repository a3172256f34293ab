import { Inject, Injectable } from '@nestjs/common';
import { BACKWARDS, END, EventStoreDBClient } from '@eventstore/db-client';
import { EVENT_STORE_CLIENT } from '../event-store/event-store-client.provider';

const PROBE_TIMEOUT_MS = 2_000;

/**
 * Asks the event store the cheapest real question there is: the last event of `$all`. The client
 * gives reads no deadline of their own, so the probe cancels the read itself after a short wait;
 * a store that hangs then counts as down instead of hanging the health check.
 */
@Injectable()
export class EventStoreHealthIndicator {
  constructor(@Inject(EVENT_STORE_CLIENT) private readonly client: EventStoreDBClient) {}

  async isUp(): Promise<boolean> {
    const read = this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    });
    const answered = (async () => {
      for await (const _event of read) {
        // Reaching the end of the read, with or without an event, is the answer.
      }
      return true;
    })().catch(() => false);
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
      void read.cancel().catch(() => undefined);
    }
  }
}
