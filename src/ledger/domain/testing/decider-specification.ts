import assert from 'node:assert/strict';
import { isDomainError, type DomainErrorCode } from '../domain-error';

/*
 * given(events).when(command).then(events | error), in the manner of Emmett's
 * DeciderSpecification. It uses node:assert rather than jest's expect so that it compiles
 * without test-runner types; any failed assertion fails the calling test.
 */

type Decider<State, Command, Event> = {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Event[];
  /** A faithful image of the state, used to prove that decide never changes it. */
  image: (state: State) => unknown;
};

export type ThenClause<Event> = {
  then(expected: Event[]): void;
  thenNothingHappens(): void;
  thenFails(code: DomainErrorCode, detail?: RegExp): void;
};

export function deciderSpecification<State, Command, Event>(decider: Decider<State, Command, Event>) {
  return {
    given(history: readonly Event[]) {
      return {
        when(command: Command): ThenClause<Event> {
          const decideOnHistory = (): Event[] => {
            const state = history.reduce(decider.evolve, decider.initialState());
            const before = decider.image(state);
            try {
              return decider.decide(command, state);
            } finally {
              assert.deepStrictEqual(decider.image(state), before, 'decide changed the state it was given');
            }
          };
          return {
            then(expected) {
              assert.deepStrictEqual(decideOnHistory(), expected);
            },
            thenNothingHappens() {
              assert.deepStrictEqual(decideOnHistory(), []);
            },
            thenFails(code, detail) {
              let events: Event[];
              try {
                events = decideOnHistory();
              } catch (error) {
                if (!isDomainError(error)) throw error;
                assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.reason}`);
                if (detail) assert.match(error.reason, detail);
                return;
              }
              assert.fail(`expected ${code}, but decide returned ${JSON.stringify(events)}`);
            },
          };
        },
      };
    },
  };
}
