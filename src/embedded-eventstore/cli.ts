import { exitOnDamagedLog, startEmbeddedEventStore } from './embedded-eventstore.server';

/**
 * `npm run eventstore -- --port 2113 --db ./data` (or `--memory`; `--start-standard-projections false`
 * records the four system projections as stopped when the log is new, as a real node's default does). Prints exactly one
 * `EMBEDDED_EVENTSTORE_READY <connection string>` line once listening; harnesses wait for it.
 */
function parseArgs(argv: string[]): {
  port: number;
  host: string;
  db?: string;
  memory: boolean;
  startStandardProjections: boolean;
} {
  const out = {
    port: 2113,
    host: '127.0.0.1',
    db: undefined as string | undefined,
    memory: false,
    startStandardProjections: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--port':
        out.port = Number(value());
        break;
      case '--host':
        out.host = value();
        break;
      case '--db':
        out.db = value();
        break;
      case '--memory':
        out.memory = true;
        break;
      case '--start-standard-projections': {
        const v = value();
        if (v !== 'true' && v !== 'false')
          throw new Error('--start-standard-projections takes true or false');
        out.startStandardProjections = v === 'true';
        break;
      }
      default:
        throw new Error(
          `unknown argument ${argv[i]} (expected --port, --host, --db, --memory, --start-standard-projections)`,
        );
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    throw new Error('--port must be an integer between 0 and 65535');
  }
  if (!out.memory && !out.db) throw new Error('give --db <folder> or --memory');
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const store = await startEmbeddedEventStore({
    host: args.host,
    port: args.port,
    dataDir: args.db,
    memory: args.memory,
    startStandardProjections: args.startStandardProjections,
    onLogDamaged: exitOnDamagedLog,
  });
  process.stdout.write(`EMBEDDED_EVENTSTORE_READY ${store.connectionString}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    store.close().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`error while closing: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`embedded eventstore failed to start: ${err.message}\n`);
  process.exit(1);
});
