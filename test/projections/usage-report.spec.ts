import * as fc from 'fast-check';
import { CopyBuffers } from '../../src/database/copy-rows';
import type { Database } from '../../src/database/database';
import { USAGE_DAILY_TABLE } from '../../src/projections/usage-analytics/usage-analytics.projection';
import {
  USAGE_DIMENSIONS,
  copiedReport,
  usageReportBody,
  usageReportCopy,
  usageReportRowsSelect,
  usageReportQuery,
  usageReportView,
  type SubAccountRange,
  type UsageReportQuery,
} from '../../src/projections/usage-analytics/usage-report';
import type { ReadModelProgress } from '../../src/projections/read-model-progress';
import {
  subAccountAt,
  UsageAnalyticsService,
} from '../../src/projections/usage-analytics/usage-analytics.service';
import { openTestDatabase } from '../support/database';

/*
 * The JSON route's report is written byte by byte from the rows COPY sends (usageReportRowsSelect,
 * copiedReport); the CSV route's is built from rows (usageReportView). Both must be the same report: same groups, same order, same
 * fields in the same order, same totals, for every groupBy and filter.
 */
describe('usage report: the JSON written from the copied rows is the report built from rows', () => {
  let database: Database;
  const DAY_MS = 86_400_000;
  const firstDay = Date.UTC(2026, 9, 30) / DAY_MS;
  const parents = ['p-json-1', 'p-json-2'];
  // Ids and meters as the API lets them be: ASCII letters, digits and _.-  (meters also : and /),
  // mixed case so that byte order and a locale's order would disagree.
  const subs = ['a', 'B', 'b', 'a.b', 'a-b', 'Z_1', '0x'];
  const meters = ['api', 'API', 'storage:gb', 'img/resize', 'a_b'];

  beforeAll(async () => {
    database = await openTestDatabase();
    const rows: [string, string, string, number, number, number][] = [];
    let n = 0;
    for (const parent of parents) {
      for (const sub of subs) {
        for (const meter of meters) {
          for (let day = 0; day < 5; day++) {
            n++;
            if (n % 3 === 0) continue; // not every combination has usage
            // Net of reversals a bucket may hold 0 or negative credits.
            rows.push([parent, sub, meter, firstDay + day, ((n * 37) % 101) - 20, (n % 4) + 1]);
          }
        }
      }
    }
    await database.pool.query(
      `INSERT INTO ${USAGE_DAILY_TABLE} (parent_id, sub_account_id, meter, day, credits, records)
       SELECT p, s, m, DATE '1970-01-01' + d, c, r
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS t(p, s, m, d, c, r)`,
      [0, 1, 2, 3, 4, 5].map((column) => rows.map((row) => row[column])),
    );
  });

  afterAll(() => database?.close());

  /** The JSON body as the service makes it: each part copied, the parts' groups joined. */
  async function jsonBody(
    parentId: string,
    query: UsageReportQuery,
    parts: readonly (SubAccountRange | undefined)[] = [undefined],
  ): Promise<string> {
    const copied = await Promise.all(
      parts.map((part) =>
        database.copyOut(usageReportCopy(usageReportRowsSelect(USAGE_DAILY_TABLE, parentId, query, part))),
      ),
    );
    const body = usageReportBody(
      query,
      copied.map((rows) => copiedReport(rows, query.groupBy)),
    );
    const text = Buffer.concat(body.chunks).toString();
    expect(Buffer.byteLength(text)).toBe(body.bytes);
    return text;
  }

  async function both(parentId: string, query: UsageReportQuery) {
    const rowsSql = usageReportQuery(USAGE_DAILY_TABLE, parentId, query);
    const { rows } = await database.pool.query(rowsSql.text, rowsSql.values);
    return { fromRows: usageReportView(query, rows), fromJson: await jsonBody(parentId, query) };
  }

  it('is byte for byte the serialised report, for every groupBy and filter', async () => {
    const day = (offset: number) => new Date((firstDay + offset) * DAY_MS);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom(...USAGE_DIMENSIONS), { minLength: 0, maxLength: 4 }),
        fc.constantFrom(...parents, 'p-json-none'),
        fc.option(fc.integer({ min: -1, max: 6 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
        fc.option(fc.constantFrom(...subs, 'missing'), { nil: undefined }),
        async (groupBy, parentId, from, span, subAccountId) => {
          const query: UsageReportQuery = {
            groupBy,
            ...(from === undefined ? {} : { from: day(from) }),
            ...(from === undefined || span === undefined ? {} : { to: day(from + span) }),
            ...(subAccountId === undefined ? {} : { subAccountId }),
          };
          const { fromRows, fromJson } = await both(parentId, query);
          expect(fromJson).toBe(JSON.stringify(fromRows));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('cut in two at any sub-account id, its parts joined in order are byte for byte the whole report', async () => {
    const day = (offset: number) => new Date((firstDay + offset) * DAY_MS);
    const rest = USAGE_DIMENSIONS.filter((dimension) => dimension !== 'subAccount');
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom(...rest), { minLength: 0, maxLength: 3 }),
        fc.constantFrom(...parents, 'p-json-none'),
        fc.option(fc.integer({ min: -1, max: 6 }), { nil: undefined }),
        // Below every id, every id itself, between ids, above every id.
        fc.constantFrom('', ...subs, 'a.', 'b-', '~'),
        async (more, parentId, from, cutAt) => {
          const query: UsageReportQuery = {
            groupBy: ['subAccount', ...more],
            ...(from === undefined ? {} : { from: day(from) }),
          };
          const [whole, halves] = await Promise.all([
            jsonBody(parentId, query),
            jsonBody(parentId, query, [{ below: cutAt }, { from: cutAt }]),
          ]);
          expect(halves).toBe(whole);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("the service cuts a parent's large report in two after its first, and answers the same bytes", async () => {
    // The read models count as caught up: this is about the query, not the projector.
    const progress = { readable: () => Promise.resolve() } as unknown as ReadModelProgress;
    // Any report of more than 100 bytes of groups counts as large here.
    const service = new UsageAnalyticsService(progress, database, { readTimeoutMs: 1_000 }, 100);
    const cuts = jest.spyOn(database, 'onOneSnapshot');
    const copies = jest.spyOn(database, 'copyOut');
    try {
      const query: UsageReportQuery = { groupBy: ['subAccount', 'meter'] };
      const expected = await jsonBody(parents[1], query);
      copies.mockClear();
      const answers = [];
      for (let n = 0; n < 3; n++) {
        const body = await service.usageJson(parents[1], query);
        answers.push(Buffer.concat(body.chunks).toString());
      }
      expect(answers).toEqual([expected, expected, expected]);
      // The first found where the middle is (one COPY of the whole); the next two were cut there.
      expect(copies).toHaveBeenCalledTimes(1);
      expect(cuts).toHaveBeenCalledTimes(2);
      expect(cuts.mock.calls[0][0]).toBe(2);
      // By meter first, or for one sub-account, nothing is cut.
      await service.usageJson(parents[1], { groupBy: ['meter', 'subAccount'] });
      await service.usageJson(parents[1], { groupBy: ['subAccount'], subAccountId: 'a' });
      expect(cuts).toHaveBeenCalledTimes(2);
      expect(copies).toHaveBeenCalledTimes(3);
    } finally {
      cuts.mockRestore();
      copies.mockRestore();
    }
  });

  it('turns copied rows into their groups and totals, and refuses anything else', async () => {
    const query: UsageReportQuery = { groupBy: ['subAccount', 'day'] };
    const copy = (parentId: string) =>
      database.copyOut(usageReportCopy(usageReportRowsSelect(USAGE_DAILY_TABLE, parentId, query)));
    const view = async (parentId: string) => {
      const sql = usageReportQuery(USAGE_DAILY_TABLE, parentId, query);
      return usageReportView(query, (await database.pool.query(sql.text, sql.values)).rows);
    };
    // Into kept buffers too: a buffer larger than the answer, holding an earlier answer's bytes. (Without
    // buffers the JSON starts in an empty one and grows many times in every report of these tests.)
    const buffers = new CopyBuffers(1 << 20);
    buffers.give(buffers.larger(Buffer.alloc(0), 0, 100_000).fill(0x41));
    const expected = await view(parents[0]);
    for (const some of [
      copiedReport(await copy(parents[0]), query.groupBy),
      copiedReport(await copy(parents[0]), query.groupBy, buffers),
    ]) {
      expect(JSON.parse(`[${some.groups.toString()}]`)).toEqual(expected.groups);
      expect([some.credits, some.records]).toEqual([expected.total.credits, expected.total.records]);
    }
    const none = copiedReport(await copy('p-json-none'), query.groupBy);
    expect([none.groups.length, none.credits, none.records]).toEqual([0, 0, 0]);
    const wrongs = [
      'a\t1\n', // a value short
      'a\t2026-10-30\t1\t2\t3\n', // one too many
      'a\t2026-10-30\t1\tx\n', // records not a number
      'a\t2026-10-30\t-\t2\n',
      'a\t2026-10-30\t1\t2', // no line end
      'a"b\t2026-10-30\t1\t2\n', // would end the JSON string
      'a\\\\b\t2026-10-30\t1\t2\n', // COPY's escaped backslash
      '\t2026-10-30\t1\t2\n', // an empty value
    ];
    for (const wrong of wrongs) {
      expect(() => copiedReport(Buffer.from(`b\t2026-10-29\t5\t1\n${wrong}`), query.groupBy)).toThrow(
        /rows did not come back as values, credits and records/,
      );
    }
  });

  it('finds the sub-account of the first group from any byte of the groups, however they are cut', async () => {
    const text = (await jsonBody(parents[0], { groupBy: ['subAccount', 'meter'] })).replace(
      /^.*"groups":\[|\],"total".*$/g,
      '',
    );
    const groups = Buffer.from(text);
    const starts = [...text.matchAll(/\{"key":"([^,"]+)/g)].map((match) => ({
      at: match.index,
      id: match[1],
    }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: groups.length - 1 }),
        fc.array(fc.integer({ min: 1, max: groups.length - 1 }), { maxLength: 6 }),
        (offset, cuts) => {
          const at = [0, ...new Set(cuts)].sort((a, b) => a - b);
          const chunks = at.map((start, n) => groups.subarray(start, at[n + 1] ?? groups.length));
          const next = starts.find((start) => start.at >= offset);
          // Past the last group's start there is no group to cut at.
          expect(subAccountAt(chunks, offset)).toBe(next?.id);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sorts as JavaScript does (byte order), not as the database locale would', async () => {
    const { fromJson } = await both(parents[0], { groupBy: ['subAccount'] });
    const keys = (JSON.parse(fromJson) as { groups: { key: string }[] }).groups.map((group) => group.key);
    expect(keys).toEqual([...subs].sort());
    expect(keys.indexOf('B')).toBeLessThan(keys.indexOf('a'));
  });

  it('reads the groups by sub-account (and meter) in the primary key order, without sorting them again', async () => {
    // The key columns are in byte order (COLLATE "C", migration 1765001500000), the order the report's
    // JSON is written in, so the planner can take the index's order as it is. With the database's
    // collation there is a Sort under the aggregate (an external merge for 100,000 sub-accounts).
    // enable_sort off makes the planner avoid a sort wherever it can; only a plan that needs one keeps it.
    // PostgreSQL 16 and later (the embedded server) feed an ordered aggregate from a Sort node, which
    // this sees; 15 (Debian's, in CI's second pass) sorts inside the aggregate, unseen, so there this
    // holds with either collation.
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_sort = off');
      for (const groupBy of [['subAccount'], ['subAccount', 'meter']] as const) {
        const sql = usageReportRowsSelect(USAGE_DAILY_TABLE, parents[0], { groupBy: [...groupBy] });
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`);
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
        expect({ groupBy, sorts: /\bSort\b/.test(plan) }).toEqual({ groupBy, sorts: false });
      }
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('sums totals as bigints: exact past 32 bits, and an overflow is an error, never a wrapped total', async () => {
    // sum_bigint (migration 1765001700000) replaced sum, whose numeric totals cost the report a third
    // of its time in PostgreSQL (decision 89). Both report paths use it.
    const parent = 'p-json-big-totals';
    await database.pool.query(
      `INSERT INTO ${USAGE_DAILY_TABLE} (parent_id, sub_account_id, meter, day, credits, records)
       SELECT $1, 's', 'api', DATE '1970-01-01' + d, c, 1
       FROM unnest($2::int[], $3::bigint[]) AS t(d, c)`,
      [parent, [0, 1, 2].map((n) => firstDay + n), ['3000000000', '4000000000', '5']],
    );
    const { fromJson, fromRows } = await both(parent, { groupBy: ['subAccount'] });
    expect(fromJson).toBe(JSON.stringify(fromRows));
    expect(fromRows.groups[0].credits).toBe(7_000_000_005);

    const over = 'p-json-overflow';
    await database.pool.query(
      `INSERT INTO ${USAGE_DAILY_TABLE} (parent_id, sub_account_id, meter, day, credits, records)
       VALUES ($1, 's', 'api', DATE '2026-10-30', 9223372036854775807, 1),
              ($1, 's', 'api', DATE '2026-10-31', 1, 1)`,
      [over],
    );
    const rowsSql = usageReportQuery(USAGE_DAILY_TABLE, over, { groupBy: ['subAccount'] });
    await expect(database.pool.query(rowsSql.text, rowsSql.values)).rejects.toMatchObject({ code: '22003' });
    await expect(
      database.copyOut(
        usageReportCopy(usageReportRowsSelect(USAGE_DAILY_TABLE, over, { groupBy: ['subAccount'] })),
      ),
    ).rejects.toMatchObject({ code: '22003' });
  });

  it('answers an empty report for a parent without usage', async () => {
    const { fromJson } = await both('p-json-none', { groupBy: ['subAccount', 'day'] });
    expect(JSON.parse(fromJson)).toEqual({
      groupBy: ['subAccount', 'day'],
      from: null,
      to: null,
      subAccountId: null,
      groups: [],
      total: { credits: 0, records: 0 },
    });
  });
});
