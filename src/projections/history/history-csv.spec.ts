import type { SubAccountHistoryEntry } from './history-entry';
import type { HistoryPage } from './sub-account-history.service';
import { wholeRange } from './history-csv';

const entry = (n: number) => ({ cursor: `c${n}` }) as unknown as SubAccountHistoryEntry;
const page = (from: number, to: number, next: string | null): HistoryPage<SubAccountHistoryEntry> => ({
  entries: Array.from({ length: to - from }, (_, i) => entry(from + i)),
  nextCursor: next,
});

describe('a CSV export of a whole history range', () => {
  const pages: Record<string, HistoryPage<SubAccountHistoryEntry>> = {
    c1: page(2, 4, 'c3'),
    c3: page(4, 5, null),
  };

  it('reads every page after the first, in order, and ends without a cursor', async () => {
    const asked: string[] = [];
    const whole = await wholeRange(page(0, 2, 'c1'), async (cursor) => {
      asked.push(cursor);
      return pages[cursor];
    });
    expect(asked).toEqual(['c1', 'c3']);
    expect(whole.entries.map((e) => e.cursor)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(whole.nextCursor).toBeNull();
  });

  it('stops at the row cap and says where to resume', async () => {
    const whole = await wholeRange(page(0, 2, 'c1'), async (cursor) => pages[cursor], 3);
    expect(whole.entries).toHaveLength(4);
    expect(whole.nextCursor).toBe('c3');
  });
});
