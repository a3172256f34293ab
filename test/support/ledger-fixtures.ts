import { randomUUID } from 'node:crypto';
import { EventStoreDBClient, StreamNotFoundError } from '@eventstore/db-client';
import { EVENT_STORE_CLIENT } from '../../src/event-store/event-store-client.provider';
import type { Api, ApiResponse, TestService } from './service';

/*
 * Shared set-up of the ledger's API tests: everything goes through real HTTP, and what was recorded
 * is read back from the service's own event store with the real client, so "nothing recorded" means
 * the stream's revision did not move.
 */

/**
 * What the set-up helpers need of a service: its HTTP client and operator token. Both an in-process
 * `TestService` and a child-process `ServiceProcess` have them.
 */
export interface ServiceEndpoint {
  readonly api: Api;
  readonly operatorToken: string;
}

/** Where a ledger stream is read from: a service in this process (its own client) or any client. */
export type LedgerSource = TestService | EventStoreDBClient;

export interface OpenedParent {
  readonly id: string;
  /** The parent's API key secret, shown once by POST /v1/parents. */
  readonly key: string;
  readonly keyId: string;
}

export interface IssuedKey {
  readonly id: string;
  readonly secret: string;
  readonly prefix: string;
}

/** Ids no other test uses (parents are never deleted, and a file may open many). */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

/** Fails with the whole response when the status is not the expected one, so a broken route reads clearly. */
export function expectStatus<T>(response: ApiResponse<T>, ...statuses: number[]): ApiResponse<T> {
  if (!statuses.includes(response.status)) {
    throw new Error(
      `expected HTTP ${statuses.join(' or ')}, got ${response.status}: ${JSON.stringify(response.body)}`,
    );
  }
  return response;
}

export async function openParent(
  service: ServiceEndpoint,
  opts: { id?: string; credits?: number; currency?: string; creditPrice?: string; name?: string } = {},
): Promise<OpenedParent> {
  const id = opts.id ?? uniqueId('p');
  const opened = expectStatus(
    await service.api.post(
      '/v1/parents',
      {
        id,
        name: opts.name ?? `Parent ${id}`,
        currency: opts.currency ?? 'EUR',
        creditPrice: opts.creditPrice ?? '0.001',
      },
      service.operatorToken,
    ),
    201,
  );
  const apiKey = opened.body.apiKey as { id: string; secret: string };
  if (opts.credits) await buyCredits(service, id, opts.credits);
  return { id, key: apiKey.secret, keyId: apiKey.id };
}

export async function buyCredits(service: ServiceEndpoint, parentId: string, credits: number): Promise<void> {
  expectStatus(
    await service.api.post(`/v1/parents/${parentId}/credits`, { credits }, service.operatorToken),
    200,
    201,
  );
}

export async function createSubAccount(
  service: ServiceEndpoint,
  parent: OpenedParent,
  opts: { id?: string; quota?: number; billingModel?: string; name?: string } = {},
): Promise<string> {
  const id = opts.id ?? uniqueId('s');
  expectStatus(
    await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts`,
      {
        id,
        name: opts.name ?? `Sub ${id}`,
        billingModel: opts.billingModel ?? 'bill-to-parent',
        ...(opts.quota === undefined ? {} : { quota: opts.quota }),
      },
      parent.key,
    ),
    201,
  );
  return id;
}

export async function issueSubAccountKey(
  service: ServiceEndpoint,
  parent: OpenedParent,
  subAccountId: string,
): Promise<IssuedKey> {
  const issued = expectStatus(
    await service.api.post(`/v1/parents/${parent.id}/sub-accounts/${subAccountId}/api-keys`, {}, parent.key),
    201,
  );
  return issued.body as IssuedKey;
}

export function eventStoreClientOf(service: TestService): EventStoreDBClient {
  return service.app.get<EventStoreDBClient>(EVENT_STORE_CLIENT);
}

export interface StoredEvent {
  readonly revision: bigint;
  readonly type: string;
  readonly data: any;
  readonly metadata: any;
}

export function ledgerStream(parentId: string): string {
  return `ledger-${parentId}`;
}

/*
 * Reads are always drained to their end: an iteration left early keeps its gRPC call open, and the
 * service's client then waits on it when the service closes.
 */

/** Every event of a parent's ledger stream, in order; empty when the stream does not exist. */
export async function readLedger(service: LedgerSource, parentId: string): Promise<StoredEvent[]> {
  return readEvents(service, parentId, {});
}

/** The revision of the ledger's last event, -1 when it has none: what "nothing recorded" compares. */
export async function ledgerRevision(service: LedgerSource, parentId: string): Promise<bigint> {
  const last = await readEvents(service, parentId, {
    direction: 'backwards',
    fromRevision: 'end',
    maxCount: 1,
  });
  return last[0]?.revision ?? -1n;
}

async function readEvents(
  source: LedgerSource,
  parentId: string,
  options: { direction?: 'backwards'; fromRevision?: 'end'; maxCount?: number },
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  try {
    const client = source instanceof EventStoreDBClient ? source : eventStoreClientOf(source);
    for await (const resolved of client.readStream(ledgerStream(parentId), options)) {
      const event = resolved.event;
      if (event) {
        events.push({
          revision: event.revision,
          type: event.type,
          data: event.data,
          metadata: event.metadata,
        });
      }
    }
  } catch (error) {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  }
  return events;
}

/** The revisions of several parents' ledgers, to compare before and after a refused call. */
export async function ledgerRevisions(
  service: LedgerSource,
  parentIds: readonly string[],
): Promise<bigint[]> {
  return Promise.all(parentIds.map((id) => ledgerRevision(service, id)));
}

/** Asserts the response is an RFC 9457 problem with the given status and code. */
export function expectProblem(response: ApiResponse, status: number, code?: string): void {
  const summary = `${response.status} ${JSON.stringify(response.body)}`;
  if (response.status !== status) throw new Error(`expected a ${status} problem, got ${summary}`);
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('application/problem+json')) {
    throw new Error(`expected application/problem+json, got "${contentType}": ${summary}`);
  }
  const body = response.body as Record<string, unknown>;
  for (const member of ['type', 'title', 'status', 'detail', 'code']) {
    if (body[member] === undefined) throw new Error(`problem without "${member}": ${summary}`);
  }
  if (body.status !== status) throw new Error(`problem status member differs from HTTP status: ${summary}`);
  if (code !== undefined && body.code !== code) throw new Error(`expected code "${code}", got ${summary}`);
}

/** Every key of a JSON value, however deep, for "this caller never sees prices" checks. */
export function deepKeys(value: unknown, keys: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const item of value) deepKeys(item, keys);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      keys.add(key);
      deepKeys(item, keys);
    }
  }
  return keys;
}

export interface Pool {
  readonly purchased: number;
  readonly allocated: number;
  readonly available: number;
  readonly used: number;
}

/** The pool of GET /v1/parents/{p}: `{purchased, allocated, available, used}`, under `pool` or at the top. */
export function poolOf(body: any): Pool {
  return body.pool ?? body;
}
