import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/*
 * Who may import the read side (the bootstrap and health, nothing else) is a row of
 * docs/architecture.md's table, held by test/architecture/imports.spec.ts.
 */

const SRC = path.resolve(__dirname, '../../src');
const READ_SIDE = path.join(SRC, 'projections');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    // Specs may import whatever they test.
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [full] : [];
  });
}

describe('the read side', () => {
  it('folds the typed events: no projection casts event.data', () => {
    const casts = sourceFiles(READ_SIDE).filter((file) =>
      /\b(?:event|recorded)\.data\s+as\b/.test(readFileSync(file, 'utf8')),
    );
    expect(casts.map((file) => path.relative(SRC, file))).toEqual([]);
  });
});
