/**
 * The ids of the last `capacity` events written, for EventStoreDB's idempotent re-append check
 * (engine `checkCommit`): which event, if any, among the recent ones has this id.
 *
 * It replaces a `Map<string, number>` of 100,000 id strings, which cost ~3.4 µs per appended event
 * (hashing a fresh 36-character string, inserting, evicting the oldest) and kept 100,000 strings
 * alive for the garbage collector to trace. Here an id is reduced to a 64-bit fingerprint (two
 * 32-bit FNV-1a hashes) stored with its event index in typed arrays: an open-addressing table with
 * linear probing and backward-shift deletion, and a ring that says which entry to evict next.
 *
 * A fingerprint can collide, and ids come from clients, so a fingerprint match is only a candidate:
 * `find` confirms it with `idOf(index)` (the engine reads the stored event's id) before answering.
 * A collision therefore costs a confirmation, never a wrong answer.
 */
export type IdFingerprint = (id: string) => [number, number];

const EMPTY = -1;

export class RecentIds {
  private readonly mask: number;
  private readonly keyA: Int32Array;
  private readonly keyB: Int32Array;
  /** Event index per slot; EMPTY marks a free slot. */
  private readonly slotIndex: Float64Array;
  private readonly ringA: Int32Array;
  private readonly ringB: Int32Array;
  private readonly ringIndex: Float64Array;
  private ringNext = 0;

  constructor(
    private readonly capacity: number,
    private readonly fingerprint: IdFingerprint = fnv1aPair,
  ) {
    // At most `capacity` live entries; a table of at least 2.5× that keeps probe chains short.
    let size = 1;
    while (size < capacity * 2.5) size *= 2;
    this.mask = size - 1;
    this.keyA = new Int32Array(size);
    this.keyB = new Int32Array(size);
    this.slotIndex = new Float64Array(size).fill(EMPTY);
    this.ringA = new Int32Array(capacity);
    this.ringB = new Int32Array(capacity);
    this.ringIndex = new Float64Array(capacity).fill(EMPTY);
  }

  /** Its tables' bytes and where the ring goes on, for a checkpoint. */
  checkpoint(): { arrays: Buffer[]; ringNext: number } {
    return {
      arrays: this.tables().map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength)),
      ringNext: this.ringNext,
    };
  }

  /** Whether `checkpoint`'s arrays fit this window (the same capacity). */
  fits(arrays: readonly Buffer[], ringNext: number): boolean {
    const tables = this.tables();
    return (
      arrays.length === tables.length &&
      arrays.every((a, n) => a.length === tables[n].byteLength) &&
      Number.isInteger(ringNext) &&
      ringNext >= 0 &&
      ringNext < this.capacity
    );
  }

  /** Takes back what `checkpoint` gave, into a window it `fits`. */
  restore(arrays: readonly Buffer[], ringNext: number): void {
    const tables = this.tables();
    if (!this.fits(arrays, ringNext)) throw new Error('index checkpoint: the id window has another size');
    tables.forEach((t, n) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength).set(arrays[n]));
    this.ringNext = ringNext;
  }

  private tables(): (Int32Array | Float64Array)[] {
    return [this.keyA, this.keyB, this.slotIndex, this.ringA, this.ringB, this.ringIndex];
  }

  /** Records that event `index` has `id`, forgetting the oldest entry once `capacity` are held. */
  remember(id: string, index: number): void {
    const [a, b] = this.fingerprint(id);
    const slot = this.ringNext;
    this.ringNext = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.ringIndex[slot] !== EMPTY) this.remove(this.ringA[slot], this.ringB[slot], this.ringIndex[slot]);
    this.ringA[slot] = a;
    this.ringB[slot] = b;
    this.ringIndex[slot] = index;
    let s = a & this.mask;
    while (this.slotIndex[s] !== EMPTY) s = (s + 1) & this.mask;
    this.keyA[s] = a;
    this.keyB[s] = b;
    this.slotIndex[s] = index;
  }

  /**
   * The newest remembered event whose id is `id` (confirmed with `idOf`), or undefined. When an id
   * was written twice, the newer event answers, as the Map it replaces did.
   */
  find(id: string, idOf: (index: number) => string): number | undefined {
    const [a, b] = this.fingerprint(id);
    let found: number | undefined;
    for (let s = a & this.mask; this.slotIndex[s] !== EMPTY; s = (s + 1) & this.mask) {
      if (this.keyA[s] !== a || this.keyB[s] !== b) continue;
      const index = this.slotIndex[s];
      if ((found === undefined || index > found) && idOf(index) === id) found = index;
    }
    return found;
  }

  /** Removes the entry (a, b, index) and closes the gap so later probes still find their keys. */
  private remove(a: number, b: number, index: number): void {
    let s = a & this.mask;
    while (this.slotIndex[s] !== index || this.keyA[s] !== a || this.keyB[s] !== b) {
      if (this.slotIndex[s] === EMPTY) return;
      s = (s + 1) & this.mask;
    }
    // Backward-shift deletion: pull later entries of the chain into the hole when their home slot
    // does not lie cyclically in (hole, current].
    let hole = s;
    for (let j = (s + 1) & this.mask; this.slotIndex[j] !== EMPTY; j = (j + 1) & this.mask) {
      const home = this.keyA[j] & this.mask;
      const staysPut = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (staysPut) continue;
      this.keyA[hole] = this.keyA[j];
      this.keyB[hole] = this.keyB[j];
      this.slotIndex[hole] = this.slotIndex[j];
      hole = j;
    }
    this.slotIndex[hole] = EMPTY;
  }
}

/** Two independent 32-bit FNV-1a hashes of the string's UTF-16 code units. */
export function fnv1aPair(id: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [a | 0, b | 0];
}
