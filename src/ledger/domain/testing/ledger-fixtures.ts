import { decide } from '../ledger.decider';
import type { LedgerCommand, LedgerCommandType } from '../ledger.commands';
import type { LedgerEvent } from '../ledger.events';
import { evolve, initialLedgerState } from '../ledger.state';
import { ledgerImage } from '../ledger.snapshot';
import { deciderSpecification } from './decider-specification';

/** Mid-period, so "next period" is 2026-11 and 2026-09 has ended. */
export const NOW = new Date('2026-10-15T12:00:00.000Z');
export const PARENT_ID = 'acme';

export const spec = deciderSpecification({
  initialState: initialLedgerState,
  evolve,
  decide,
  image: ledgerImage,
});

type CommandOf<Type extends LedgerCommandType> = Extract<LedgerCommand, { type: Type }>;

export function command<Type extends LedgerCommandType>(
  type: Type,
  data: CommandOf<Type>['data'],
  now: Date = NOW,
): CommandOf<Type> {
  return { type, data, metadata: { now } } as CommandOf<Type>;
}

/** Events as the decider itself would have produced them for these commands, in order. */
export function historyOf(...commands: LedgerCommand[]): LedgerEvent[] {
  const state = initialLedgerState();
  const events: LedgerEvent[] = [];
  for (const next of commands) {
    for (const event of decide(next, state)) {
      evolve(state, event);
      events.push(event);
    }
  }
  return events;
}

export function stateOf(...commands: LedgerCommand[]) {
  return historyOf(...commands).reduce(evolve, initialLedgerState());
}

export const openParent = (now: Date = NOW) =>
  command(
    'OpenParentAccount',
    {
      parentId: PARENT_ID,
      name: 'Acme Agency',
      currency: 'EUR',
      creditPrice: '0.001',
      parentKey: { keyId: 'key-parent', prefix: 'sl_p_acme', secretHash: 'hash-parent' },
    },
    now,
  );

export const purchase = (credits: number, now: Date = NOW) => command('PurchaseCredits', { credits }, now);

export const createSub = (
  subAccountId: string,
  extra: Partial<CommandOf<'CreateSubAccount'>['data']> = {},
  now: Date = NOW,
) =>
  command(
    'CreateSubAccount',
    { subAccountId, name: `Client ${subAccountId}`, billingModel: 'bill-to-parent', ...extra },
    now,
  );

export const allocate = (subAccountId: string, credits: number) =>
  command('AllocateQuota', { subAccountId, credits });

export const setQuota = (subAccountId: string, quota: number) => command('SetQuota', { subAccountId, quota });

export const returnCredits = (subAccountId: string, credits?: number) =>
  command('ReturnCredits', credits === undefined ? { subAccountId } : { subAccountId, credits });

export const useCredits = (
  subAccountId: string,
  idempotencyKey: string,
  credits: number,
  extra: Partial<CommandOf<'RecordUsage'>['data']> = {},
  now: Date = NOW,
) =>
  command(
    'RecordUsage',
    { subAccountId, usageId: `usage-${idempotencyKey}`, idempotencyKey, credits, ...extra },
    now,
  );

export const closeSub = (subAccountId: string, now: Date = NOW) =>
  command('CloseSubAccount', { subAccountId }, now);

export const issueKey = (keyId: string, subAccountId: string | null) =>
  command('IssueApiKey', { keyId, subAccountId, prefix: `sl_${keyId}`, secretHash: `hash-${keyId}` });

export const closePeriod = (period: string, now: Date) => command('CloseBillingPeriod', { period }, now);
