import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/*
 * The seam of issue #12, held by a test: the invoicing core is pure (it imports only its own files
 * and the kernel, which imports nothing), and the ledger, which sits below billing, imports nothing
 * of it.
 */

const SRC = path.resolve(__dirname, '..');
const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;

function sourcesUnder(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
    .map((file) => path.join(folder, file));
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((match) => match[1] ?? match[2]);
}

describe('seams', () => {
  it('the invoicing core imports only its own files and the kernel: no framework, no ledger, no billing', () => {
    const folder = path.join(SRC, 'invoicing');
    const outside = sourcesUnder(folder).flatMap((file) =>
      importsOf(file)
        .filter((target) => !target.startsWith('./') && !target.startsWith('../kernel/'))
        .map((target) => `${path.relative(SRC, file)} imports ${target}`),
    );
    expect(outside).toEqual([]);
  });

  it('the ledger imports nothing of billing', () => {
    const billing = path.join(SRC, 'billing');
    const upward = sourcesUnder(path.join(SRC, 'ledger')).flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith('.'))
        .filter((target) => path.resolve(path.dirname(file), target).startsWith(billing + path.sep))
        .map((target) => `${path.relative(SRC, file)} imports ${target}`),
    );
    expect(upward).toEqual([]);
  });
});
