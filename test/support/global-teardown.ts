import { promises as fs } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const running = globalThis.subledgerTestPostgres;
  if (!running) return;
  await running.server.stop();
  await fs.rm(running.dir, { recursive: true, force: true });
}
