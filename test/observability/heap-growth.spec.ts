import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/*
 * boundHeapGrowth sets V8's heap growing factor from SUBLEDGER_HEAP_GROWING_PERCENT. Each case runs in
 * a child process, so the flag never touches the test runner's own heap. What the factor does to the
 * service's memory and CPU is measured by the bench (decision 67), not asserted here.
 */
const MODULE = path.join(__dirname, '../../src/observability/heap-growth.ts');

function run(env: Record<string, string | undefined>, nodeArgs: string[] = []) {
  const script =
    `const { boundHeapGrowth } = require(${JSON.stringify(MODULE)});` +
    `try { boundHeapGrowth(); console.log('ok'); } catch (e) { console.log('refused ' + e.name + ': ' + e.message); }`;
  const result = spawnSync(
    process.execPath,
    [...nodeArgs, '-r', 'ts-node/register/transpile-only', '-e', script],
    {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    },
  );
  return result.stdout.trim();
}

describe('boundHeapGrowth', () => {
  it('takes a whole number of percent, 0 for V8’s own choice, and the default when unset', () => {
    expect(run({ SUBLEDGER_HEAP_GROWING_PERCENT: '50' })).toBe('ok');
    expect(run({ SUBLEDGER_HEAP_GROWING_PERCENT: '0' })).toBe('ok');
    expect(run({ SUBLEDGER_HEAP_GROWING_PERCENT: undefined })).toBe('ok');
  });

  it('refuses what is not a whole number from 0 to 1000, naming the variable', () => {
    for (const bad of ['fifty', '-5', '1.5', '5000']) {
      expect(run({ SUBLEDGER_HEAP_GROWING_PERCENT: bad })).toMatch(/^refused ConfigError: /);
      expect(run({ SUBLEDGER_HEAP_GROWING_PERCENT: bad })).toContain(
        `SUBLEDGER_HEAP_GROWING_PERCENT must be a whole number from 0 to 1000, not ${bad}`,
      );
    }
  });

  it('leaves a --heap-growing-percent given to node alone, whatever the variable says', () => {
    expect(run({ SUBLEDGER_HEAP_GROWING_PERCENT: 'fifty' }, ['--heap-growing-percent=30'])).toBe('ok');
  });
});
