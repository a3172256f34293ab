import * as fc from 'fast-check';
import {
  createSubAccount,
  expectProblem,
  issueSubAccountKey,
  openParent,
  poolOf,
  readLedger,
  uniqueId,
  type IssuedKey,
  type LedgerSource,
  type OpenedParent,
  type ServiceEndpoint,
  type StoredEvent,
} from './ledger-fixtures';
import { eventsByRequest, recount, type FiguresAt, type LedgerCount } from './ledger-recount';
import type { Api, ApiResponse } from './service';

/*
 * The property of SPEC §2 under concurrency (§7), shared by the one-instance API test and the
 * several-instances reliability test: random commands and reads on three sub-accounts of one parent,
 * each sent to one of the service instances; afterwards the parent's stream is recounted
 * independently (every rule, every stated balance), every answer is matched with what its request
 * recorded (through `metadata.requestId`), every read with a state the stream went through, and every
 * instance's balances with the recount.
 */

export const SUB_ACCOUNTS = 3;

type Command =
  | { readonly kind: 'allocate'; readonly sub: number; readonly credits: number }
  | { readonly kind: 'return'; readonly sub: number; readonly credits: number | undefined }
  | { readonly kind: 'set-quota'; readonly sub: number; readonly quota: number }
  | {
      readonly kind: 'usage';
      readonly sub: number;
      readonly key: number;
      readonly credits: number;
      /** Sent with the sub-account's own key rather than the parent's. */
      readonly ownKey: boolean;
    }
  | { readonly kind: 'close'; readonly sub: number }
  | { readonly kind: 'read-sub'; readonly sub: number }
  | { readonly kind: 'read-pool' };

/** A command or read, and the instance (index into the list of APIs) it is sent to. */
export type Op = Command & { readonly via: number };

export interface LedgerUnderTest {
  readonly parent: OpenedParent;
  readonly subs: readonly string[];
  readonly keys: readonly IssuedKey[];
}

export interface Answer {
  readonly op: Op;
  readonly requestId: string;
  readonly response: ApiResponse;
  /**
   * The client that sent it: a client sends its next request only after this answer, so its later
   * reads must show its earlier acknowledged writes, whichever instance they go to.
   */
  readonly client?: number;
}

const sub = fc.integer({ min: 0, max: SUB_ACCOUNTS - 1 });

export function opArbitrary(purchased: number, instances: number): fc.Arbitrary<Op> {
  const credits = fc.integer({ min: 1, max: Math.max(1, Math.floor(purchased / 4)) });
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('allocate' as const), sub, credits }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('return' as const),
        sub,
        credits: fc.option(credits, { nil: undefined }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('set-quota' as const),
        sub,
        quota: fc.integer({ min: 0, max: Math.floor(purchased / 2) }),
      }),
    },
    {
      weight: 8,
      arbitrary: fc
        .record({
          sub,
          // Half from a small key space, so that repeats happen often; half practically fresh.
          key: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1_000, max: 1_000_000_000 })),
          credits: fc.integer({ min: 0, max: Math.max(1, Math.floor(purchased / 20)) }),
          // A payload fixed by the key, so that a repeat is often a true repeat (200), not a conflict.
          payloadOfKey: fc.boolean(),
          ownKey: fc.boolean(),
        })
        .map(({ sub, key, credits, payloadOfKey, ownKey }): Command => ({
          kind: 'usage',
          sub,
          key,
          credits: payloadOfKey ? key % 4 : credits,
          ownKey,
        })),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), sub }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('read-sub' as const), sub }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('read-pool' as const) }) },
  );
  return fc
    .tuple(command, fc.integer({ min: 0, max: instances - 1 }))
    .map(([body, via]): Op => ({ ...body, via }));
}

/** The fixed payload of usage key k on a given amount: the same (key, credits) is a true repeat. */
const idempotencyKeyOf = (op: Extract<Op, { kind: 'usage' }>) => `key-${op.key}`;

/** Outcomes the runs of a property must have met, so that every rule was exercised, not only the easy paths. */
export const REQUIRED_OUTCOMES = [
  'allocate 409 insufficient_pool',
  'set-quota 409 quota_below_used',
  'usage 200',
  'usage 201',
  'usage 409 idempotency_conflict',
  'usage 409 insufficient_quota',
  'usage 409 sub_account_closed',
];

/** The ledger {@link everyOutcomeOps} is written for: 1,000 credits bought, 100 allocated to each sub-account. */
export const EVERY_OUTCOME_LEDGER = { purchased: 1_000, initialQuotas: [100, 100, 100] } as const;

/**
 * Requests that, sent one after the other on {@link EVERY_OUTCOME_LEDGER}, meet every required
 * outcome, spread over the given number of instances. The properties run them as one of their
 * examples, so that their coverage check does not depend on what the random runs happened to produce
 * (a CI run once missed `set-quota 409 quota_below_used` in all twelve random multi-instance runs).
 */
export function everyOutcomeOps(instances: number): Op[] {
  const commands: Command[] = [
    { kind: 'usage', sub: 0, key: 1, credits: 10, ownKey: false }, // 201
    { kind: 'usage', sub: 0, key: 1, credits: 10, ownKey: false }, // 200, a true repeat
    { kind: 'usage', sub: 0, key: 1, credits: 11, ownKey: false }, // idempotency_conflict
    { kind: 'usage', sub: 0, key: 2, credits: 500, ownKey: false }, // insufficient_quota
    { kind: 'set-quota', sub: 0, quota: 5 }, // quota_below_used
    { kind: 'allocate', sub: 1, credits: 5_000 }, // insufficient_pool
    { kind: 'close', sub: 2 },
    { kind: 'usage', sub: 2, key: 3, credits: 1, ownKey: false }, // sub_account_closed
  ];
  return commands.map((command, index) => ({ ...command, via: index % instances }));
}

export function outcomeOf({ op, response }: Answer): string {
  return `${op.kind} ${response.status} ${response.body?.code ?? ''}`.trim();
}

export async function setUpLedger(
  service: ServiceEndpoint,
  purchased: number,
  initialQuotas: readonly number[],
): Promise<LedgerUnderTest> {
  const parent = await openParent(service, { credits: purchased });
  const subs: string[] = [];
  const keys: IssuedKey[] = [];
  for (const quota of initialQuotas) {
    const id = await createSubAccount(service, parent, { quota });
    subs.push(id);
    keys.push(await issueSubAccountKey(service, parent, id));
  }
  return { parent, subs, keys };
}

export function sendOp(api: Api, ledger: LedgerUnderTest, op: Op, requestId: string): Promise<ApiResponse> {
  const parentPath = `/v1/parents/${ledger.parent.id}`;
  const base = op.kind === 'read-pool' ? parentPath : `${parentPath}/sub-accounts/${ledger.subs[op.sub]}`;
  const headers = { 'x-request-id': requestId };
  const asParent = (method: string, path: string, body?: unknown) =>
    api.request(method, path, { body, token: ledger.parent.key, headers });
  switch (op.kind) {
    case 'allocate':
      return asParent('POST', `${base}/allocations`, { credits: op.credits });
    case 'return':
      return asParent('POST', `${base}/returns`, op.credits === undefined ? {} : { credits: op.credits });
    case 'set-quota':
      return asParent('PUT', `${base}/quota`, { quota: op.quota });
    case 'close':
      return asParent('POST', `${base}/close`);
    case 'usage':
      return api.request('POST', `${base}/usage`, {
        body: { idempotencyKey: idempotencyKeyOf(op), credits: op.credits },
        token: op.ownKey ? ledger.keys[op.sub].secret : ledger.parent.key,
        headers,
      });
    case 'read-sub':
    case 'read-pool':
      return asParent('GET', base);
  }
}

export interface AuditOptions {
  /** Where the parent's stream is read for the recount. */
  readonly source: LedgerSource;
  /** Every instance's API; `Op.via` indexes it. */
  readonly apis: readonly Api[];
  readonly ledger: LedgerUnderTest;
  readonly answers: readonly Answer[];
  /**
   * Several instances race on one stream, so a command may exhaust its bounded retries: then a 409
   * `concurrency_conflict` is a correct answer, as long as it recorded nothing.
   */
  readonly conflictsPossible: boolean;
}

/** Every check of the property; throws with every mismatch found. */
export async function auditLedger(options: AuditOptions): Promise<void> {
  const { source, apis, ledger, answers } = options;
  const events = await readLedger(source, ledger.parent.id);
  const { count, violations, timeline } = recount(events);
  const problems = [
    ...violations,
    ...matchAnswers(ledger, answers, events, options.conflictsPossible),
    ...matchReads(ledger, answers, events, timeline),
  ];
  // After every answer arrived, every instance must show the whole history, not its own part of it.
  for (const [index, api] of apis.entries()) {
    const mismatches = await compareWithApi(api, ledger, count);
    problems.push(...mismatches.map((problem) => `instance ${index}: ${problem}`));
  }
  problems.push(...(await closedAcceptNothing(source, apis[apis.length - 1], ledger, count)));
  if (problems.length > 0) throw new Error(problems.slice(0, 20).join('\n'));
}

const ALERT_TYPES: ReadonlySet<string> = new Set(['QuotaThresholdReached', 'PoolBalanceLow']);

function matchAnswers(
  ledger: LedgerUnderTest,
  answers: readonly Answer[],
  events: readonly StoredEvent[],
  conflictsPossible: boolean,
): string[] {
  const problems: string[] = [];
  const byRequest = eventsByRequest(events);
  const usageByKey = new Map<string, StoredEvent>();
  for (const event of events) {
    if (event.type === 'UsageRecorded')
      usageByKey.set(`${event.data.subAccountId}/${event.data.idempotencyKey}`, event);
  }
  for (const { op, requestId, response } of answers) {
    // Alerts (SPEC §11) follow the movement that crossed them in its append; the movement is what the
    // request recorded.
    const recorded = (byRequest.get(requestId) ?? []).filter((event) => !ALERT_TYPES.has(event.type));
    const types = recorded.map((event) => event.type);
    const say = (message: string) =>
      problems.push(
        `${JSON.stringify(op)} → ${response.status} ${JSON.stringify(response.body)}: ${message}`,
      );
    if (recorded.length > 0 && (op.kind === 'read-sub' || op.kind === 'read-pool'))
      say(`a read recorded ${types.join(', ')}`);
    if (response.status >= 300) {
      if (recorded.length > 0) say(`a refused command recorded ${types.join(', ')}`);
      const allowed = refusalsAllowed(op, conflictsPossible);
      if (!allowed.includes(`${response.status} ${response.body?.code}`))
        say(`not one of ${allowed.join(', ')}`);
      const shape = problemShapeError(response);
      if (shape) say(shape);
      continue;
    }
    const subId = op.kind === 'read-pool' ? '' : ledger.subs[op.sub];
    switch (op.kind) {
      case 'allocate':
        if (types.join() !== 'QuotaAllocated' || recorded[0].data.credits !== op.credits)
          say(`recorded ${types}`);
        break;
      case 'return':
        // "Return all unused" with nothing unused moves nothing and records nothing.
        if (op.credits === undefined && recorded.length === 0) break;
        if (types.join() !== 'CreditsReturned') say(`recorded ${types}`);
        else if (op.credits !== undefined && recorded[0].data.credits !== op.credits)
          say('returned another amount');
        else if (op.credits === undefined && recorded[0].data.balancesAfter.subAccount.remaining !== 0) {
          say('returning all unused left some');
        }
        break;
      case 'set-quota': {
        const quotaAfter = recorded[0]?.data.balancesAfter.subAccount.quota;
        const oneMovement = types.join() === 'QuotaAllocated' || types.join() === 'CreditsReturned';
        if (recorded.length > 0 && (!oneMovement || quotaAfter !== op.quota))
          say(`recorded ${types}, quota ${quotaAfter}`);
        break;
      }
      case 'usage': {
        const original = usageByKey.get(`${subId}/${idempotencyKeyOf(op)}`);
        if (response.status === 201) {
          if (types.join() !== 'UsageRecorded') say(`201 but recorded ${types}`);
          else if (recorded[0].data.usageId !== response.body.usageId) say('usage id differs from the event');
        } else if (response.status === 200) {
          if (recorded.length > 0) say(`a repeat recorded ${types}`);
          if (!original || original.data.usageId !== response.body.usageId)
            say('a repeat without its original usage id');
          else if (original.data.credits !== op.credits)
            say(`a repeat of ${original.data.credits} credits answered 200`);
        } else say('usage answered neither 201 nor 200');
        break;
      }
      case 'close':
        // Closing a closed sub-account is a repeat: 200 with the closed sub-account, nothing recorded.
        if (recorded.length === 0) {
          if (response.body.status !== 'closed')
            say(`a repeated close answered status ${response.body.status}`);
        } else if (
          types[0] !== 'SubAccountClosed' ||
          types.slice(1).some((type) => type !== 'ApiKeyRevoked')
        ) {
          say(`recorded ${types}`);
        }
        break;
      case 'read-sub':
      case 'read-pool':
        if (response.status !== 200) say('a read answered neither an error nor 200');
        break;
    }
  }
  return problems;
}

/**
 * Every read must show a state the stream actually went through (figures of some revision), and one no
 * older than the last write its client had acknowledged before sending it: a client that wrote through
 * one instance and reads through another sees its own write.
 */
function matchReads(
  ledger: LedgerUnderTest,
  answers: readonly Answer[],
  events: readonly StoredEvent[],
  timeline: readonly FiguresAt[],
): string[] {
  const problems: string[] = [];
  const byRequest = eventsByRequest(events);
  /** Per client, the revision of its last acknowledged write's last event. */
  const floors = new Map<number | undefined, bigint>();
  for (const { op, requestId, response, client } of answers) {
    const floor = client === undefined ? -1n : (floors.get(client) ?? -1n);
    const recorded = byRequest.get(requestId);
    if (recorded && response.status < 300) floors.set(client, recorded[recorded.length - 1].revision);
    if ((op.kind !== 'read-sub' && op.kind !== 'read-pool') || response.status !== 200) continue;
    const shown = figuresShown(op, response.body);
    const matching = timeline.filter((at) => sameFigures(figuresExpected(op, ledger, at), shown));
    if (matching.length === 0) {
      problems.push(
        `read ${JSON.stringify(op)} showed ${JSON.stringify(shown)}, a state the stream never had`,
      );
    } else if (matching[matching.length - 1].revision < floor) {
      const last = matching[matching.length - 1].revision;
      problems.push(
        `read ${JSON.stringify(op)} on instance ${op.via} showed ${JSON.stringify(shown)}, the state of revision ${last}, ` +
          `after its client's write at revision ${floor} was acknowledged: a stale read`,
      );
    }
  }
  return problems;
}

type Figures = Record<string, number | string | boolean>;

function figuresShown(op: Extract<Op, { kind: 'read-sub' | 'read-pool' }>, body: any): Figures {
  if (op.kind === 'read-pool') {
    const { purchased, allocated, available, used } = poolOf(body);
    return { purchased, allocated, available, used };
  }
  return { quota: body.quota, used: body.used, remaining: body.remaining, closed: body.status === 'closed' };
}

function figuresExpected(
  op: Extract<Op, { kind: 'read-sub' | 'read-pool' }>,
  ledger: LedgerUnderTest,
  at: FiguresAt,
): Figures | undefined {
  if (op.kind === 'read-pool') return { ...at.pool };
  const sub = at.subAccounts.get(ledger.subs[op.sub]);
  return sub && { quota: sub.quota, used: sub.used, remaining: sub.quota - sub.used, closed: sub.closed };
}

function sameFigures(expected: Figures | undefined, shown: Figures): boolean {
  return expected !== undefined && Object.keys(shown).every((key) => expected[key] === shown[key]);
}

async function compareWithApi(api: Api, ledger: LedgerUnderTest, count: LedgerCount): Promise<string[]> {
  const problems: string[] = [];
  const parent = await api.get(`/v1/parents/${ledger.parent.id}`, ledger.parent.key);
  const pool = poolOf(parent.body);
  const expected = {
    purchased: count.purchased,
    allocated: count.allocated,
    available: count.purchased - count.allocated - count.expired,
    used: count.used,
    expired: count.expired,
  };
  for (const [figure, value] of Object.entries(expected)) {
    if ((pool as any)[figure] !== value)
      problems.push(`API pool.${figure} ${(pool as any)[figure]} ≠ recount ${value}`);
  }
  for (const subId of ledger.subs) {
    const sub = count.subAccounts.get(subId)!;
    const answer = await api.get(`/v1/parents/${ledger.parent.id}/sub-accounts/${subId}`, ledger.parent.key);
    const { quota, used, remaining } = answer.body;
    if (quota !== sub.quota || used !== sub.used || remaining !== sub.quota - sub.used) {
      problems.push(
        `API ${subId} ${JSON.stringify({ quota, used, remaining })} ≠ recount ${JSON.stringify(sub)}`,
      );
    }
    if (sub.closed && (remaining !== 0 || answer.body.status !== 'closed')) {
      problems.push(`closed ${subId} answers status ${answer.body.status}, remaining ${remaining}`);
    }
  }
  return problems;
}

async function closedAcceptNothing(
  source: LedgerSource,
  api: Api,
  ledger: LedgerUnderTest,
  count: LedgerCount,
): Promise<string[]> {
  const problems: string[] = [];
  for (const [index, subId] of ledger.subs.entries()) {
    if (!count.subAccounts.get(subId)!.closed) continue;
    const base = `/v1/parents/${ledger.parent.id}/sub-accounts/${subId}`;
    const before = (await readLedger(source, ledger.parent.id)).length;
    const tries = await Promise.all([
      api.post(`${base}/usage`, { idempotencyKey: uniqueId('after-close'), credits: 0 }, ledger.parent.key),
      api.post(`${base}/allocations`, { credits: 1 }, ledger.parent.key),
      api.put(`${base}/quota`, { quota: count.subAccounts.get(subId)!.used + 1 }, ledger.parent.key),
      api.post(
        `${base}/usage`,
        { idempotencyKey: uniqueId('after-close'), credits: 0 },
        ledger.keys[index].secret,
      ),
    ]);
    const statuses = tries.map((answer) => `${answer.status} ${answer.body?.code}`);
    const expected = [
      '409 sub_account_closed',
      '409 sub_account_closed',
      '409 sub_account_closed',
      '401 unauthorized',
    ];
    if (statuses.join() !== expected.join()) problems.push(`closed ${subId} answered ${statuses.join(', ')}`);
    if ((await readLedger(source, ledger.parent.id)).length !== before)
      problems.push(`closed ${subId} recorded something`);
  }
  return problems;
}

function refusalsAllowed(op: Op, conflictsPossible: boolean): string[] {
  const closed = '409 sub_account_closed';
  const conflict = conflictsPossible ? ['409 concurrency_conflict'] : [];
  switch (op.kind) {
    case 'allocate':
      return ['409 insufficient_pool', closed, ...conflict];
    case 'return':
      return ['409 quota_below_used', closed, ...conflict];
    case 'set-quota':
      return ['409 insufficient_pool', '409 quota_below_used', closed, ...conflict];
    case 'usage':
      // After a closing, the sub-account's own key stops working (rule 10).
      return [
        '409 insufficient_quota',
        '409 idempotency_conflict',
        closed,
        ...conflict,
        ...(op.ownKey ? ['401 unauthorized'] : []),
      ];
    case 'close':
      return [closed, ...conflict];
    case 'read-sub':
    case 'read-pool':
      return [];
  }
}

/** Why the refusal is not a clean RFC 9457 problem, or undefined when it is one. */
function problemShapeError(response: ApiResponse): string | undefined {
  try {
    expectProblem(response, response.status);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
