import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppConfig } from './app-config';

/** Beside the embedded store's log: `<SUBLEDGER_DATA_DIR>/operator-token`, owner-only. */
export const OPERATOR_TOKEN_FILE = 'operator-token';

/**
 * A service with no OPERATOR_TOKEN that keeps its data on disk keeps its generated token there too, so
 * the operator's token outlives a restart (the README's flow restarts with a later SUBLEDGER_NOW, then
 * closes a period as the operator). The first start writes the token it made up, readable by the
 * service's user alone (0600, created exclusively); later starts read it back. A token from the
 * environment always wins; an in-memory store keeps nothing, so its token lives as long as its data.
 * Production never gets here: it refuses to start without OPERATOR_TOKEN.
 */
export function keepGeneratedOperatorToken(config: AppConfig): AppConfig {
  const settings = config.eventStore;
  if (!config.operatorTokenGenerated || settings.kind !== 'embedded' || settings.memory) return config;
  const file = path.join(settings.dataDir, OPERATOR_TOKEN_FILE);
  fs.mkdirSync(settings.dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, `${config.operatorToken}\n`, { mode: 0o600, flag: 'wx' });
    return { ...config, operatorTokenFile: { path: file, created: true } };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `${file} is readable by others (mode ${mode.toString(8)}); run chmod 600 on it or set OPERATOR_TOKEN`,
    );
  }
  const kept = fs.readFileSync(file, 'utf8').trim();
  if (kept.length < 16 || /\s/.test(kept)) {
    throw new Error(`${file} does not hold a usable operator token; remove it or set OPERATOR_TOKEN`);
  }
  return { ...config, operatorToken: kept, operatorTokenFile: { path: file, created: false } };
}
