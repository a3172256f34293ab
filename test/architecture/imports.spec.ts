import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/*
 * Holds docs/architecture.md true: the table "What each part may import" is read from the doc itself,
 * so the rule is written once, and every import of every non-spec file under src/ is checked against
 * it. A failure names the file and the import.
 */

const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(ROOT, 'src');
const DOC = path.join(ROOT, 'docs/architecture.md');
const TABLE_HEADING = '## What each part may import';

/** Parts split into layers or slices: the ledger by its three layers, the read side by read model. */
const LAYERS: Readonly<Record<string, (folder: string) => boolean>> = {
  ledger: (folder) => ['domain', 'application', 'http'].includes(folder),
  projections: () => true,
};

type Packages = 'any' | 'node' | 'none';
type Rule = { readonly mayImport: 'everything' | readonly string[]; readonly packages: Packages };

function readTable(): Map<string, Rule> {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(TABLE_HEADING);
  if (start < 0) throw new Error(`${DOC} has no "${TABLE_HEADING}" section`);
  const rules = new Map<string, Rule>();
  const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]);
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const cells = line.split('|').map((cell) => cell.trim());
    // | `part` | may import | packages |
    if (cells.length !== 5 || !/^`[^`]+`$/.test(cells[1])) continue;
    const packages = cells[3] as Packages;
    if (!['any', 'node', 'none'].includes(packages)) throw new Error(`bad packages cell in: ${line}`);
    rules.set(names(cells[1])[0], {
      mayImport: cells[2] === 'everything' ? 'everything' : names(cells[2]),
      packages,
    });
  }
  return rules;
}

function isDirectory(file: string): boolean {
  return existsSync(file) && statSync(file).isDirectory();
}

/** The part a path under src/ belongs to: `bootstrap`, `kernel`, `ledger/domain`, `projections/history`, … */
function partOf(file: string): string {
  const [top, next] = path.relative(SRC, file).split(path.sep);
  if (!isDirectory(path.join(SRC, top))) return 'bootstrap';
  const layered = LAYERS[top];
  if (layered && next !== undefined && isDirectory(path.join(SRC, top, next)) && layered(next)) {
    return `${top}/${next}`;
  }
  return top;
}

/** The table's row for a part: a slice of the read side answers to `projections/*`. */
function rowOf(part: string): string {
  return part.startsWith('projections/') ? 'projections/*' : part;
}

function allows(rule: Rule, target: string): boolean {
  if (rule.mayImport === 'everything') return true;
  return rule.mayImport.includes(target) || rule.mayImport.includes(rowOf(target));
}

function packageAllowed(packages: Packages, specifier: string): boolean {
  return packages === 'any' || (packages === 'node' && specifier.startsWith('node:'));
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
    .map((file) => path.join(folder, file))
    .sort();
}

function importsOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((i) => i.fileName);
}

/** Every import the table does not allow, as `file imports 'specifier' (part → part)`. */
function wrongWayImports(rules: Map<string, Rule>, files: readonly string[]): string[] {
  const wrong: string[] = [];
  for (const file of files) {
    const from = partOf(file);
    const rule = rules.get(rowOf(from));
    const where = path.relative(ROOT, file);
    if (!rule) {
      wrong.push(`${where}: its part ${from} has no row in docs/architecture.md`);
      continue;
    }
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) {
        if (!packageAllowed(rule.packages, specifier)) {
          wrong.push(`${where} imports '${specifier}' (${from} may import packages: ${rule.packages})`);
        }
        continue;
      }
      const resolved = path.resolve(path.dirname(file), specifier);
      if (!resolved.startsWith(SRC + path.sep)) {
        if (path.basename(resolved) !== 'package.json') {
          wrong.push(`${where} imports '${specifier}' (outside src/)`);
        }
        continue;
      }
      const to = partOf(resolved);
      if (to !== from && !allows(rule, to)) wrong.push(`${where} imports '${specifier}' (${from} → ${to})`);
    }
  }
  return wrong;
}

describe('architecture: imports run the way docs/architecture.md says', () => {
  const rules = readTable();
  const files = sourceFiles(SRC);

  it('reads a row for every part', () => {
    expect(rules.size).toBeGreaterThan(10);
    const parts = new Set(files.map((file) => rowOf(partOf(file))));
    expect([...parts].filter((part) => !rules.has(part))).toEqual([]);
    expect([...rules.keys()].filter((part) => !parts.has(part))).toEqual([]);
    for (const rule of rules.values()) {
      if (rule.mayImport === 'everything') continue;
      expect(rule.mayImport.filter((target) => !rules.has(target))).toEqual([]);
    }
  });

  it('finds no import the table does not allow', () => {
    expect(wrongWayImports(rules, files)).toEqual([]);
  });

  it('names a wrong-way import: the domain importing its application, a slice another slice', () => {
    const fake = (relative: string) => path.join(SRC, relative);
    const domainRule = rules.get('ledger/domain')!;
    expect(allows(domainRule, partOf(fake('ledger/application/ledger.service.ts')))).toBe(false);
    expect(allows(rules.get('projections/*')!, partOf(fake('projections/feed/feed.dto.ts')))).toBe(false);
    expect(allows(rules.get('projections/*')!, partOf(fake('projections/projection.ts')))).toBe(true);
    expect(packageAllowed(rules.get('invoicing')!.packages, '@nestjs/common')).toBe(false);
  });
});
