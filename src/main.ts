import { type AppConfig, ConfigError, loadConfig } from './config/app-config';
import { startEmbeddedStoreEarly, type StartingEmbeddedStore } from './event-store/embedded-store.process';
import { boundHeapGrowth } from './observability/heap-growth';

async function main(): Promise<void> {
  boundHeapGrowth();
  const startedStore = startStoreBeforeLoading(loadConfig(process.env));
  // Loaded only now (Nest and every module, ~0.8 s), while the store's process opens its log.
  const { createApp } = await import('./app');
  const { config } = await createApp({ startedStore });
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

/**
 * An embedded store on disk starts in its own process before anything else loads: opening the log
 * takes over a second at 5,000,000 events, the service's modules ~0.8 s, and the two then overlap
 * (decision 90). Invalid settings throw `ConfigError` here, before anything starts.
 */
function startStoreBeforeLoading(config: AppConfig): StartingEmbeddedStore | undefined {
  const store = config.eventStore;
  return store.kind === 'embedded' && !store.memory ? startEmbeddedStoreEarly(store.dataDir) : undefined;
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
