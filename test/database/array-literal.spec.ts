import { arrayLiteral } from '../../src/database/array-literal';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';

describe('arrayLiteral (a parameter cast to a PostgreSQL array)', () => {
  let database: Database;

  beforeAll(async () => {
    database = await openTestDatabase();
  });

  afterAll(async () => {
    await database.close();
  });

  it('brings every string back as it went in: quotes, backslashes, the syntax’s own characters, NULL as text', async () => {
    const values = [
      'plain',
      'with "quotes"',
      'back\\slash',
      '\\"',
      '{braces},commas',
      'NULL',
      'null',
      '',
      ' padded ',
      'tab\tand\nnewline',
      'é 漢字 🙂',
    ];
    const { rows } = await database.pool.query<{ back: string[] }>('SELECT $1::text[] AS back', [
      arrayLiteral(values),
    ]);
    expect(rows[0].back).toEqual(values);
  });

  it('keeps nulls, numbers and booleans, column by column through unnest', async () => {
    const { rows } = await database.pool.query<{ t: string | null; n: string | null; b: boolean | null }>(
      'SELECT * FROM unnest($1::text[], $2::bigint[], $3::boolean[]) AS u(t, n, b)',
      [
        arrayLiteral(['a', null, 'c']),
        arrayLiteral([9_007_199_254_740_991, -3, null]),
        arrayLiteral([true, false, null]),
      ],
    );
    expect(rows).toEqual([
      { t: 'a', n: '9007199254740991', b: true },
      { t: null, n: '-3', b: false },
      { t: 'c', n: null, b: null },
    ]);
  });

  it('is an empty array for no values, and refuses a number PostgreSQL could not read', async () => {
    const { rows } = await database.pool.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [
      arrayLiteral([]),
    ]);
    expect(rows[0].n).toBe(0);
    expect(() => arrayLiteral([Number.NaN])).toThrow(RangeError);
  });
});
