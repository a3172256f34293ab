import type { Decider, DomainEvent } from '../../src/event-store/command-processing';

/**
 * A bank-account-like counter with one invariant, "the balance never goes below zero", standing in
 * for any decider. Every event states the balance after it, so a fresh fold can check that no
 * decision was taken on a stale state.
 */
export type AccountCommand =
  | { readonly type: 'Deposit'; readonly opId: string; readonly amount: number }
  | { readonly type: 'Withdraw'; readonly opId: string; readonly amount: number }
  | { readonly type: 'Inspect' };

export type AccountEvent =
  | DomainEvent<'Deposited', { opId: string; amount: number; balance: number }>
  | DomainEvent<'Withdrawn', { opId: string; amount: number; balance: number }>;

export interface AccountState {
  balance: number;
  operations: number;
}

export interface AccountResult {
  readonly balance: number;
}

export class InsufficientFundsError extends Error {
  readonly code = 'insufficient_funds';
  constructor(
    readonly requested: number,
    readonly available: number,
  ) {
    super(`cannot withdraw ${requested}, only ${available} available`);
  }
}

export class InvalidAmountError extends Error {
  readonly code = 'validation_failed';
}

export const accountDecider: Decider<AccountState, AccountCommand, AccountEvent, AccountResult> = {
  initialState: () => ({ balance: 0, operations: 0 }),

  // Mutates in place, as the processor allows: the cheap way for big states.
  evolve(state, event) {
    state.balance = event.data.balance;
    state.operations += 1;
    return state;
  },

  decide(command, state) {
    switch (command.type) {
      case 'Inspect':
        return { events: [], result: { balance: state.balance } };
      case 'Deposit': {
        if (!Number.isInteger(command.amount) || command.amount <= 0) {
          throw new InvalidAmountError(`bad amount ${command.amount}`);
        }
        const balance = state.balance + command.amount;
        return {
          events: [{ type: 'Deposited', data: { opId: command.opId, amount: command.amount, balance } }],
          result: { balance },
        };
      }
      case 'Withdraw': {
        if (!Number.isInteger(command.amount) || command.amount <= 0) {
          throw new InvalidAmountError(`bad amount ${command.amount}`);
        }
        if (command.amount > state.balance) throw new InsufficientFundsError(command.amount, state.balance);
        const balance = state.balance - command.amount;
        return {
          events: [{ type: 'Withdrawn', data: { opId: command.opId, amount: command.amount, balance } }],
          result: { balance },
        };
      }
    }
  },

  toSnapshot: (state) => ({ balance: state.balance, operations: state.operations }),
  fromSnapshot: (snapshot) => {
    const { balance, operations } = snapshot as AccountState;
    return { balance, operations };
  },
};

/** The same decider, with a clone so conflicts catch up from the cached state instead of reloading. */
export const cloningAccountDecider: typeof accountDecider = {
  ...accountDecider,
  clone: (state) => ({ ...state }),
};

/** What a sequential run of the commands must give: the model the processor is checked against. */
export function modelRun(
  commands: readonly AccountCommand[],
  start = 0,
): { outcomes: Array<number | 'refused'>; balance: number } {
  let balance = start;
  const outcomes: Array<number | 'refused'> = [];
  for (const command of commands) {
    if (command.type === 'Inspect') outcomes.push(balance);
    else if (command.type === 'Deposit') outcomes.push((balance += command.amount));
    else if (command.amount > balance) outcomes.push('refused');
    else outcomes.push((balance -= command.amount));
  }
  return { outcomes, balance };
}
