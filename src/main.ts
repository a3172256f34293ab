import { ConfigError } from './config/app-config';
import { createApp } from './http/create-app';

async function main(): Promise<void> {
  const { config } = await createApp();
  if (config.operatorTokenGenerated) {
    // Straight to stdout, once: this is the only way to learn the token of this run, and it must
    // not travel on with the structured logs.
    process.stdout.write(
      `\nOPERATOR_TOKEN was not set; generated one for this run (shown once, not stored):\n` +
        `OPERATOR_TOKEN=${config.operatorToken}\n\n`,
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
