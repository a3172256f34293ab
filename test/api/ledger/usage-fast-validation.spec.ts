import 'reflect-metadata';
import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import fc from 'fast-check';
import { CLASS_VALIDATION_OPTIONS } from '../../../src/http/validation.pipe';
import { BatchUsageDto, RecordUsageDto } from '../../../src/ledger/http/dto/usage.dto';
import { MAX_CREDITS } from '../../../src/ledger/http/dto/validators';

/*
 * The usage DTOs' `fastAccepts` lets a body skip class-validator. It may refuse more than the
 * decorators (those bodies just go the slow way), never accept more: every body it accepts must pass
 * class-validator with the pipe's own options. Generated bodies mix valid values with the edges of
 * each rule.
 */

const classValidator = new ValidationPipe({ ...CLASS_VALIDATION_OPTIONS });

async function classValidatorAccepts(
  metatype: ArgumentMetadata['metatype'],
  value: unknown,
): Promise<boolean> {
  try {
    await classValidator.transform(structuredClone(value), { type: 'body', metatype, data: '' });
    return true;
  } catch {
    return false;
  }
}

const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.string(),
  fc.array(fc.integer()),
  fc.object(),
);
/** Mostly a valid value, sometimes an edge of the rule or anything at all. */
const field = <T>(valid: fc.Arbitrary<T>, ...edges: fc.Arbitrary<unknown>[]) =>
  fc.oneof({ arbitrary: valid, weight: 16 }, ...edges.map((arbitrary) => ({ arbitrary, weight: 1 })), {
    arbitrary: anyJson,
    weight: 1,
  });
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 210 }),
  fc.string({ unit: 'grapheme', minLength: 195, maxLength: 205 }),
  fc.constantFrom('', '\uFE0F', '\uFE0E\uFE0F', 'a\uFE0E', '𝄞'.repeat(101), 'x'.repeat(200), 'x'.repeat(201)),
);
const idempotencyKey = field(
  fc.string({ minLength: 1, maxLength: 200 }),
  fc.constantFrom('', '\uFE0F', '\uFE0E\uFE0F', 'x'.repeat(201), '𝄞'.repeat(101)),
  text,
);
const credits = field(
  fc.integer({ min: 0, max: MAX_CREDITS }),
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(MAX_CREDITS, MAX_CREDITS + 1, 2 ** 53, 0.5, -0, 1e21),
  fc.double(),
);
const meter = field(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{60,70}$/),
  fc.constantFrom('-x', 'a b', '', 'a\n'),
  text,
);
const occurredAt = field(
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc.constantFrom(
    '2026-10-31T23:00:00+02:00',
    '2026-02-30T00:00:00Z',
    '2026-10-31T25:00:00Z',
    '2026-10-31T23:00:00',
    '2026-10-31',
  ),
  text,
);
const attributes = field(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean())));
const subAccountId = field(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  fc.stringMatching(/^[A-Za-z0-9_.-]{0,70}$/),
  text,
);

const optional = { idempotencyKey, credits, meter, occurredAt, attributes };
/** Each field present or not; an unknown field now and then. */
const usage = fc
  .tuple(
    fc.record(optional, { requiredKeys: [] }),
    fc.record({ idempotencyKey, credits }),
    fc.integer({ min: 0, max: 9 }),
    anyJson,
  )
  .map(([some, required, dice, value]) => ({
    ...required,
    ...some,
    ...(dice === 0 ? { unexpected: value } : {}),
  }));
const batchRecord = fc
  .tuple(usage, subAccountId, fc.integer({ min: 0, max: 7 }))
  .map(([record, id, dice]) => (dice > 0 ? { subAccountId: id, ...record } : record));

describe('fastAccepts of the usage DTOs accepts nothing class-validator refuses', () => {
  it('single usage bodies', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ arbitrary: usage, weight: 8 }, { arbitrary: anyJson, weight: 1 }),
        async (body) => {
          if (!RecordUsageDto.fastAccepts(body)) return;
          accepted++;
          expect(await classValidatorAccepts(RecordUsageDto, body)).toBe(true);
        },
      ),
      { numRuns: 3_000 },
    );
    expect(accepted).toBeGreaterThan(300);
  });

  it('batch bodies', async () => {
    const records = fc.array(
      fc.oneof({ arbitrary: batchRecord, weight: 8 }, { arbitrary: anyJson, weight: 1 }),
      { minLength: 1, maxLength: 2 },
    );
    const body = fc.oneof(
      { arbitrary: fc.record({ records }), weight: 6 },
      { arbitrary: fc.record({ records, extra: anyJson }), weight: 1 },
      { arbitrary: fc.record({ records: anyJson }), weight: 1 },
      { arbitrary: anyJson, weight: 1 },
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        if (!BatchUsageDto.fastAccepts(value)) return;
        accepted++;
        expect(await classValidatorAccepts(BatchUsageDto, value)).toBe(true);
      }),
      { numRuns: 3_000 },
    );
    // Not a vacuous truth: enough of the bodies took the fast way.
    expect(accepted).toBeGreaterThan(50);
  });

  it('takes the fast way for the common shapes, and leaves the edges to class-validator', () => {
    const record = { subAccountId: 'sub-0001', idempotencyKey: 'k-1', credits: 1, meter: 'api-calls' };
    expect(
      BatchUsageDto.fastAccepts({ records: [record, { ...record, occurredAt: '2026-10-31T23:00:00Z' }] }),
    ).toBe(true);
    expect(BatchUsageDto.fastAccepts({ records: Array.from({ length: 1_000 }, () => record) })).toBe(true);
    expect(
      RecordUsageDto.fastAccepts({ idempotencyKey: 'k', credits: 0, attributes: { region: 'eu' } }),
    ).toBe(true);
    // Refused, or subtle: class-validator decides (and words the error).
    expect(BatchUsageDto.fastAccepts({ records: Array.from({ length: 1_001 }, () => record) })).toBe(false);
    expect(BatchUsageDto.fastAccepts({ records: [] })).toBe(false);
    expect(RecordUsageDto.fastAccepts({ idempotencyKey: 'k', credits: 1, meter: null })).toBe(false);
    expect(RecordUsageDto.fastAccepts({ idempotencyKey: '\uFE0F', credits: 1 })).toBe(false);
    expect(RecordUsageDto.fastAccepts({ idempotencyKey: 'k', credits: 1.5 })).toBe(false);
  });
});
