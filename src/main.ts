import { ConfigError } from './config/app-config';
import { createApp } from './app';
import { boundHeapGrowth } from './observability/heap-growth';

async function main(): Promise<void> {
  boundHeapGrowth();
  const { config } = await createApp();
  const kept = config.operatorTokenFile;
  if (kept && !kept.created) {
    process.stdout.write(`\nOPERATOR_TOKEN was not set; using the one kept in ${kept.path}\n\n`);
  } else if (config.operatorTokenGenerated) {
    // Straight to stdout, once: it must not travel on with the structured logs.
    process.stdout.write(
      `\nOPERATOR_TOKEN was not set; generated one (shown once, ${
        kept ? `kept owner-only in ${kept.path} for the next starts` : 'not stored: the store is in memory'
      }):\nOPERATOR_TOKEN=${config.operatorToken}\n\n`,
    );
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`Subledger cannot start. ${error.message}\n`);
  } else {
    process.stderr.write(
      `Subledger failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
});
