import { randomUUID } from 'node:crypto';
import { RecentIds, type IdFingerprint } from '../../src/embedded-eventstore/engine/recent-ids';

/** The engine's side of `find`: which id each event index really has. */
function idsByIndex(): { idOf: (index: number) => string; write: (id: string) => number } {
  const ids: string[] = [];
  return { idOf: (index) => ids[index], write: (id) => ids.push(id) - 1 };
}

describe('RecentIds (the idempotent re-append window)', () => {
  it('finds every id of the window and forgets exactly the ones pushed out of it', () => {
    const capacity = 1_000;
    const recent = new RecentIds(capacity);
    const log = idsByIndex();
    const written: string[] = [];
    for (let n = 0; n < 3 * capacity + 17; n++) {
      const id = randomUUID();
      recent.remember(id, log.write(id));
      written.push(id);
    }
    const kept = written.slice(-capacity);
    const forgotten = written.slice(0, -capacity);
    kept.forEach((id) => expect(recent.find(id, log.idOf)).toBe(written.indexOf(id)));
    expect(forgotten.filter((id) => recent.find(id, log.idOf) !== undefined)).toEqual([]);
    expect(recent.find(randomUUID(), log.idOf)).toBeUndefined();
  });

  it('answers the newer event when an id was written twice, and keeps it when the older one is evicted', () => {
    const recent = new RecentIds(4);
    const log = idsByIndex();
    const twice = randomUUID();
    recent.remember(twice, log.write(twice));
    const other = randomUUID();
    recent.remember(other, log.write(other));
    const newer = log.write(twice);
    recent.remember(twice, newer);
    expect(recent.find(twice, log.idOf)).toBe(newer);
    // Two more push the first `twice` (index 0) out; the newer one stays.
    for (let n = 0; n < 2; n++) {
      const id = randomUUID();
      recent.remember(id, log.write(id));
    }
    expect(recent.find(twice, log.idOf)).toBe(newer);
    expect(recent.find(other, log.idOf)).toBe(1);
  });

  it('never answers for a different id that shares the fingerprint, and deletes correctly among collisions', () => {
    // Every id hashes to slot 125 of a 128-slot table: long probe chains that
    // wrap around the end of the table, and backward-shift deletion all get exercised.
    const collide: IdFingerprint = (id) => [125, id.length % 3];
    const capacity = 50;
    const recent = new RecentIds(capacity, collide);
    const log = idsByIndex();
    const written: string[] = [];
    for (let n = 0; n < 4 * capacity; n++) {
      const id = `id-${n}`;
      recent.remember(id, log.write(id));
      written.push(id);
      if (n % 7 === 0) expect(recent.find(`id-${n}-other`, log.idOf)).toBeUndefined();
    }
    written.slice(-capacity).forEach((id) => expect(recent.find(id, log.idOf)).toBe(written.indexOf(id)));
    written.slice(0, -capacity).forEach((id) => expect(recent.find(id, log.idOf)).toBeUndefined());
  });
});
