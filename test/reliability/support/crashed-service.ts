import { randomUUID } from 'node:crypto';
import { expectStatus, type StoredEvent } from '../../support/ledger-fixtures';
import { pollUntil } from '../../support/poll';
import type { ApiResponse, ServiceProcess } from '../../support/service';

/*
 * Shared set-up of the service crash tests. The child service runs its event store in its own
 * process and does not publish the store's address, so what was recorded is read back through the
 * parent's event feed (`GET /v1/parents/{p}/events`): a plain page of the `ledger-<p>` stream with
 * the revision as cursor, no projection in between.
 */

export interface CrashParent {
  readonly id: string;
  readonly key: string;
  readonly subAccounts: string[];
}

/** A parent with purchased credits and sub-accounts that each hold `quota`. */
export async function openCrashParent(
  service: ServiceProcess,
  opts: { credits: number; subAccounts: number; quota: number; billingModel?: string },
): Promise<CrashParent> {
  const id = `p-${randomUUID().slice(0, 8)}`;
  const opened = expectStatus(
    await service.api.post(
      '/v1/parents',
      { id, name: `Crash ${id}`, currency: 'EUR', creditPrice: '0.001' },
      service.operatorToken,
    ),
    201,
  );
  const key = (opened.body.apiKey as { secret: string }).secret;
  expectStatus(
    await service.api.post(`/v1/parents/${id}/credits`, { credits: opts.credits }, service.operatorToken),
    200,
    201,
  );
  const subAccounts: string[] = [];
  for (let i = 0; i < opts.subAccounts; i++) {
    const subId = `s${i}`;
    expectStatus(
      await service.api.post(
        `/v1/parents/${id}/sub-accounts`,
        {
          id: subId,
          name: `Sub ${i}`,
          billingModel: opts.billingModel ?? 'bill-to-parent',
          quota: opts.quota,
        },
        key,
      ),
      201,
    );
    subAccounts.push(subId);
  }
  return { id, key, subAccounts };
}

/** Every event of the parent's ledger stream, in order, paged through the feed. */
export async function readFeed(
  service: ServiceProcess,
  parentId: string,
  token: string,
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  let after: string | null = null;
  for (;;) {
    const query: string = after === null ? '?limit=1000' : `?limit=1000&after=${after}`;
    const page = expectStatus(
      await service.api.get(`/v1/parents/${parentId}/events${query}`, token),
      200,
    ).body;
    for (const event of page.events as { cursor: string; type: string; data: any; metadata: any }[]) {
      const revision = BigInt(event.cursor);
      if (revision !== BigInt(events.length)) {
        throw new Error(`feed gave revision ${revision} at index ${events.length}: a gap or a repeat`);
      }
      events.push({ revision, type: event.type, data: event.data, metadata: event.metadata });
    }
    if (page.events.length === 0) return events;
    after = page.nextCursor;
  }
}

/**
 * A GET that a restarted service may answer 503 while its read models catch up with the log (they
 * wait a bounded time for it): asked again until it answers something else, which is then returned.
 * Read models that never catch up are a hang, failed by jest's timeout, not by a clock here.
 */
export function getWhenCaughtUp(
  service: ServiceProcess,
  urlPath: string,
  token: string,
): Promise<ApiResponse> {
  return pollUntil(
    () => service.api.get(urlPath, token),
    (response) => response.status !== 503,
    { everyMs: 200 },
  );
}
