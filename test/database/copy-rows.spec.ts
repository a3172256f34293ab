import type { PoolClient } from 'pg';
import { CopyBuffers, CopyRows, copyOut } from '../../src/database/copy-rows';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';

describe('COPY in and out of PostgreSQL', () => {
  let database: Database;

  beforeAll(async () => {
    database = await openTestDatabase();
    await database.pool.query('CREATE TABLE copied (id int, label text, amount bigint)');
  });

  afterAll(async () => {
    await database.close();
  });

  describe('CopyRows (COPY … FROM STDIN, text format)', () => {
    it('brings every value back as it went in: the format’s own characters, nulls, big numbers, unicode', async () => {
      const labels = [
        'plain',
        'tab\there',
        'line\nbreak',
        'carriage\rreturn',
        'back\\slash',
        '\\N',
        '',
        'é 漢字 🙂',
      ];
      const rows = new CopyRows('copied', ['id', 'label', 'amount']);
      labels.forEach((label, id) => rows.add(id, label, 2n ** 53n + BigInt(id)));
      rows.add(labels.length, null, null);
      const client = await database.pool.connect();
      try {
        await rows.copy(client);
      } finally {
        client.release();
      }
      const { rows: back } = await database.pool.query<{
        id: number;
        label: string | null;
        amount: string | null;
      }>('SELECT id, label, amount FROM copied ORDER BY id');
      expect(back).toEqual([
        ...labels.map((label, id) => ({ id, label, amount: String(2n ** 53n + BigInt(id)) })),
        { id: labels.length, label: null, amount: null },
      ]);
    });
  });

  // The other direction, COPY … TO STDOUT, on the same server.
  describe('copyOut into kept buffers (CopyBuffers)', () => {
    /** One row of `n` bytes of text: COPY sends it, then a line end. */
    const copyOf = (n: number) => `COPY (SELECT repeat('x', ${n}) || 'y') TO STDOUT`;

    it('answers the bytes a plain copy answers, growing past what it took, and takes back only its own', async () => {
      const buffers = new CopyBuffers(8 * 1024 * 1024);
      // Small, then past the 64 KiB of one read, then past the kept buffer's size.
      for (const n of [10, 200_000, 1_000_000, 50, 3_000_000]) {
        const plain = await database.copyOut(copyOf(n));
        const kept = await database.copyOut(copyOf(n), buffers);
        expect(kept.length).toBe(n + 2);
        expect(kept.equals(plain)).toBe(true);
        buffers.give(kept);
      }
      // The largest given back is taken again: its memory, not a new one.
      const before = buffers.bytes;
      const again = await database.copyOut(copyOf(100), buffers);
      expect(buffers.bytes).toBeLessThan(before);
      buffers.give(again);
      expect(buffers.bytes).toBe(before);
      // Given twice, kept once; a buffer it did not make is never kept.
      buffers.give(again);
      buffers.give(Buffer.alloc(1024));
      buffers.give(await database.copyOut(copyOf(10)));
      expect(buffers.bytes).toBe(before);
    });

    it('keeps no more than its limit', async () => {
      const buffers = new CopyBuffers(1024 * 1024);
      const big = await database.copyOut(copyOf(2_000_000), buffers);
      const small = await database.copyOut(copyOf(1_000), buffers);
      buffers.give(big);
      expect(buffers.bytes).toBe(0);
      buffers.give(small);
      expect(buffers.bytes).toBeGreaterThan(0);
      expect(buffers.bytes).toBeLessThanOrEqual(1024 * 1024);
    });
  });

  // copyOut reads the copy off the connection's socket itself, then hands the socket back to pg.
  describe('copyOut on a connection', () => {
    let client: PoolClient;

    beforeAll(async () => {
      client = await database.pool.connect();
      await client.query(`CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS $$
        BEGIN IF i % 100 = 0 THEN RAISE NOTICE 'row %', i; END IF; RETURN i; END $$`);
    });

    afterAll(() => client.release());

    /** The connection answers an ordinary query afterwards: the socket went back to pg in order. */
    const stillAnswers = async () =>
      expect((await client.query<{ n: number }>('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);

    it('answers every row of a copy of many small rows, split across many reads of the socket', async () => {
      const rows = await copyOut(
        client,
        `COPY (SELECT g, repeat('a', g % 40) FROM generate_series(1, 100000) g) TO STDOUT`,
      );
      const expected = Array.from({ length: 100_000 }, (_, n) => `${n + 1}\t${'a'.repeat((n + 1) % 40)}\n`);
      expect(rows.toString()).toBe(expected.join(''));
      await stillAnswers();
    });

    it('answers a row larger than a read of the socket, and rows around it', async () => {
      const rows = await copyOut(
        client,
        `COPY (SELECT g, CASE WHEN g = 2 THEN repeat('b', 300000) ELSE 'c' END FROM generate_series(1, 3) g) TO STDOUT`,
      );
      expect(rows.toString()).toBe(`1\tc\n2\t${'b'.repeat(300_000)}\n3\tc\n`);
      await stillAnswers();
    });

    it('skips the notices the server sends between rows', async () => {
      const rows = await copyOut(client, 'COPY (SELECT noisy(g) FROM generate_series(1, 2000) g) TO STDOUT');
      expect(rows.toString()).toBe(Array.from({ length: 2_000 }, (_, n) => `${n + 1}\n`).join(''));
      await stillAnswers();
    });

    it("fails with the server's error when the copy fails after sending rows, and the connection goes on", async () => {
      await expect(
        copyOut(client, 'COPY (SELECT 100000 / (50000 - g) FROM generate_series(1, 60000) g) TO STDOUT'),
      ).rejects.toThrow('division by zero');
      await stillAnswers();
    });

    it("fails with the server's error when the copy cannot start", async () => {
      await expect(copyOut(client, 'COPY (SELECT * FROM no_such_table) TO STDOUT')).rejects.toThrow(
        'relation "no_such_table" does not exist',
      );
      await stillAnswers();
    });

    it('refuses to copy when pg does not read the socket alone, and the connection goes on', async () => {
      const stream = (client as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream;
      const other = () => undefined;
      stream.on('data', other);
      try {
        await expect(copyOut(client, 'COPY (SELECT 1) TO STDOUT')).rejects.toThrow("pg's one socket reader");
      } finally {
        stream.removeListener('data', other);
      }
      await stillAnswers();
    });

    it('lets a query sent during the copy wait for it, and answers both', async () => {
      const [rows, after] = await Promise.all([
        copyOut(client, 'COPY (SELECT g FROM generate_series(1, 50000) g) TO STDOUT'),
        client.query<{ n: number }>('SELECT 7 AS n'),
      ]);
      expect(rows.toString().split('\n')).toHaveLength(50_001);
      expect(after.rows).toEqual([{ n: 7 }]);
    });
  });
});
