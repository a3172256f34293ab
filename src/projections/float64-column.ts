/**
 * An append-only column of numbers in one Float64Array that doubles when full: 8 bytes an entry and
 * nothing per entry on the JS heap, which is what keeps a million projected events within the memory
 * budget. Every value the projections keep (revisions, epoch milliseconds, credits below 2^53) is exact
 * in a double.
 */
export class Float64Column {
  private data: Float64Array;
  length = 0;

  constructor(initialCapacity = 4) {
    this.data = new Float64Array(initialCapacity);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  at(index: number): number {
    return this.data[index];
  }

  last(): number | undefined {
    return this.length === 0 ? undefined : this.data[this.length - 1];
  }

  /** First index whose value is >= `value`, for a column in non-decreasing order. */
  lowerBound(value: number, from = 0): number {
    let lo = from;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.data[mid] < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose value is > `value`, for a column in non-decreasing order. */
  upperBound(value: number, from = 0): number {
    let lo = from;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.data[mid] <= value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Base64 of the used part: a third of the size of a JSON number list, and fast both ways. */
  toBase64(): string {
    return Buffer.from(this.data.buffer, this.data.byteOffset, this.length * 8).toString('base64');
  }

  static fromBase64(text: string): Float64Column {
    const bytes = Buffer.from(text, 'base64');
    const column = new Float64Column(Math.max(4, bytes.length / 8));
    // Copied into an aligned buffer of its own: Buffer.from may hand back a slice of a shared pool.
    new Uint8Array(column.data.buffer).set(bytes);
    column.length = bytes.length / 8;
    return column;
  }
}
