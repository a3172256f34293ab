import { CopyRows } from '../../src/database/copy-rows';
import type { Database } from '../../src/database/database';
import { openTestDatabase } from '../support/database';

describe('CopyRows (COPY … FROM STDIN, text format)', () => {
  let database: Database;

  beforeAll(async () => {
    database = await openTestDatabase();
    await database.pool.query('CREATE TABLE copied (id int, label text, amount bigint)');
  });

  afterAll(async () => {
    await database.close();
  });

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
