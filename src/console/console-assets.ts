import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The console's files (SPEC §12): `console/` at the top of the project, two levels above this file
 * both in `src/console/` (ts-node, tests) and in `dist/console/` (npm start, the image), plus
 * Chart.js's browser build from node_modules. Read once at start: a dozen small files, served from
 * memory, none fetched from anywhere else.
 */
export const CONSOLE_DIR = path.resolve(__dirname, '..', '..', 'console');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

export interface ConsoleAssets {
  /** The page itself, or undefined when the folder is missing (a build that did not ship it). */
  readonly page: ConsoleAsset | undefined;
  /** By the name the page asks for: `app.js`, `vendor/chart.umd.min.js`, … */
  readonly files: ReadonlyMap<string, ConsoleAsset>;
  readonly dir: string;
}

export function loadConsoleAssets(dir: string = CONSOLE_DIR): ConsoleAssets {
  const files = new Map<string, ConsoleAsset>();
  if (!existsSync(dir)) return { page: undefined, files, dir };
  for (const name of readdirSync(dir)) {
    const contentType = CONTENT_TYPES[path.extname(name)];
    if (contentType) files.set(name, { body: readFileSync(path.join(dir, name)), contentType });
  }
  // Chart.js's package exports do not list its UMD file; it sits beside the CommonJS entry point.
  const chartJs = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  files.set('vendor/chart.umd.min.js', { body: readFileSync(chartJs), contentType: CONTENT_TYPES['.js'] });
  const page = files.get('index.html');
  files.delete('index.html');
  return { page, files, dir };
}
