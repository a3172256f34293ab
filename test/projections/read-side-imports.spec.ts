import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');
const READ_SIDE = path.join(SRC, 'projections');
/** What may use the read side: the module list, and readiness (which waits for the runner). */
const MAY_IMPORT_READ_SIDE = [path.join(SRC, 'app.module.ts'), path.join(SRC, 'health')];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    // Specs may import whatever they test.
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [full] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']*)'/g)].map((m) => m[1]);
  return specifiers.map((specifier) => path.resolve(path.dirname(file), specifier));
}

const inside = (file: string, dir: string) => file === dir || file.startsWith(`${dir}${path.sep}`);

describe('the read side', () => {
  it('is imported by no other part of src but the module list and health', () => {
    const wrongWay = sourceFiles(SRC)
      .filter((file) => !inside(file, READ_SIDE) && !MAY_IMPORT_READ_SIDE.some((dir) => inside(file, dir)))
      .flatMap((file) =>
        relativeImports(file)
          .filter((target) => inside(target, READ_SIDE))
          .map((target) => `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`),
      );
    expect(wrongWay).toEqual([]);
  });

  it('folds the typed events: no projection casts event.data', () => {
    const casts = sourceFiles(READ_SIDE).filter((file) =>
      /\b(?:event|recorded)\.data\s+as\b/.test(readFileSync(file, 'utf8')),
    );
    expect(casts.map((file) => path.relative(SRC, file))).toEqual([]);
  });
});
