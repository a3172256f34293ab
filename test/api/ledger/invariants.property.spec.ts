import * as fc from 'fast-check';
import { uniqueId } from '../../support/ledger-fixtures';
import {
  EVERY_OUTCOME_LEDGER,
  REQUIRED_OUTCOMES,
  everyOutcomeOps,
  SUB_ACCOUNTS,
  auditLedger,
  opArbitrary,
  outcomeOf,
  sendOp,
  setUpLedger,
  type Answer,
  type LedgerUnderTest,
  type Op,
} from '../../support/ledger-property';
import { startTestService, type TestService } from '../../support/service';

/*
 * SPEC §2 under any concurrency (§7), on one instance: random sequences of allocations, returns, quota
 * changes, usage (fresh and repeated idempotency keys, same and different payloads), closings and
 * reads on three sub-accounts of one parent, fired concurrently over HTTP from many connections, then
 * audited by test/support/ledger-property.ts (recount of the stream, every answer matched with what it
 * recorded, the API's balances compared with the recount). test/reliability/multi-instance.spec.ts
 * runs the same property over several service processes sharing one store.
 */

interface Scenario {
  readonly purchased: number;
  readonly initialQuotas: readonly number[];
  readonly ops: readonly Op[];
  readonly chunkSize: number;
}

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.integer({ min: 100, max: 5_000 }).chain((purchased) =>
  fc.record({
    purchased: fc.constant(purchased),
    initialQuotas: fc.array(fc.integer({ min: 0, max: Math.floor(purchased / 4) }), {
      minLength: SUB_ACCOUNTS,
      maxLength: SUB_ACCOUNTS,
    }),
    ops: fc.array(opArbitrary(purchased, 1), { minLength: 20, maxLength: 120 }),
    chunkSize: fc.integer({ min: 20, max: 50 }),
  }),
);

/**
 * One scenario that meets every required outcome whatever the random runs do: sent one at a time
 * (chunks of one), so each answer is known in advance. The random runs still race; this only makes
 * the coverage check below independent of what they happened to produce.
 */
const EVERY_OUTCOME: Scenario = {
  ...EVERY_OUTCOME_LEDGER,
  ops: everyOutcomeOps(1),
  chunkSize: 1,
};

describe('SPEC §2 holds under concurrent random commands (property)', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService();
  });

  afterAll(async () => {
    await service?.close();
  });

  async function fire(ledger: LedgerUnderTest, ops: readonly Op[], chunkSize: number): Promise<Answer[]> {
    const run = uniqueId('run');
    const answers: Answer[] = [];
    for (let start = 0; start < ops.length; start += chunkSize) {
      const chunk = ops.slice(start, start + chunkSize);
      answers.push(
        ...(await Promise.all(
          chunk.map(async (op, index) => {
            const requestId = `${run}-${start + index}`;
            return { op, requestId, response: await sendOp(service.api, ledger, op, requestId) };
          }),
        )),
      );
    }
    return answers;
  }

  const audit = (ledger: LedgerUnderTest, answers: readonly Answer[]) =>
    auditLedger({ source: service, apis: [service.api], ledger, answers, conflictsPossible: false });

  it('random interleavings from many clients never break a rule, and every answer matches the stream', async () => {
    const outcomes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        const ledger = await setUpLedger(service, scenario.purchased, scenario.initialQuotas);
        const answers = await fire(ledger, scenario.ops, scenario.chunkSize);
        for (const answer of answers) outcomes.add(outcomeOf(answer));
        await audit(ledger, answers);
      }),
      // Concurrent runs do not replay deterministically, so shrinking would chase a different
      // interleaving each time: report the first failure with its seed instead. The example runs
      // first: random runs almost always meet every required outcome, but once in a while one was
      // missing from all 25, and the coverage check below failed a run that broke no rule.
      { numRuns: 26, endOnFailure: true, examples: [[EVERY_OUTCOME]] },
    );
    // The runs must have met every rule, not only the easy paths.
    expect(REQUIRED_OUTCOMES.filter((outcome) => !outcomes.has(outcome))).toEqual([]);
  });

  it('200 racing requests (allocations and usage on one parent) keep every rule', async () => {
    const ledger = await setUpLedger(service, 10_000, [0, 500, 1_000]);
    const ops: Op[] = Array.from({ length: 200 }, (_, i): Op => {
      if (i % 2 === 0)
        return { kind: 'allocate', via: 0, sub: i % SUB_ACCOUNTS, credits: ((i * 37) % 200) + 1 };
      // Keys repeat across the 100 usages, some with the same amount and some with another.
      return {
        kind: 'usage',
        via: 0,
        sub: i % SUB_ACCOUNTS,
        key: i % 40,
        credits: (i % 7) * 10,
        ownKey: i % 4 === 1,
      };
    });
    const answers = await fire(ledger, ops, ops.length);
    await audit(ledger, answers);
    // The race must have been a real one: the pool ran dry and refusals happened alongside successes.
    const statuses = new Set(answers.map((answer) => answer.response.status));
    expect([...statuses].some((status) => status < 300)).toBe(true);
    expect(
      answers.filter((answer) => answer.op.kind === 'usage' && answer.response.status === 201).length,
    ).toBeGreaterThan(0);
  });
});
