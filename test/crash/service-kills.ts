import * as fs from 'node:fs';
import * as path from 'node:path';
import { startServiceProcess, type ServiceProcess } from '../support/service';

/**
 * Kill cycles of a service process with its own embedded store and PostgreSQL: in each, four clients
 * send one request after another (`sendOne`, whose rejection means the service is gone) until the
 * service is killed with SIGKILL after a random while, in every other cycle its PostgreSQL first (so
 * requests meet an unreadable database meanwhile); then it is started again on the same folder.
 * `started` gets every new process (for the caller's clean-up); the last one is returned.
 */
export async function killWhileSending(options: {
  kills: number;
  random: () => number;
  dataDir: string;
  env: Record<string, string>;
  service: ServiceProcess;
  sendOne: (api: ServiceProcess['api']) => Promise<unknown>;
  history: string[];
  started: (service: ServiceProcess) => void;
}): Promise<ServiceProcess> {
  const { random, dataDir, env, sendOne, history } = options;
  let service = options.service;
  for (let cycle = 0; cycle < options.kills; cycle++) {
    const running = service;
    let stopped = false;
    const clients = Array.from({ length: 4 }, async () => {
      while (!stopped) {
        await sendOne(running.api).catch(() => {
          stopped = true;
        });
      }
    });
    const killAfterMs = 300 + Math.floor(random() * 1_500);
    await new Promise((resolve) => setTimeout(resolve, killAfterMs));
    const killDatabase = cycle % 2 === 1;
    if (killDatabase) {
      const pid = Number(
        fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0],
      );
      process.kill(pid, 'SIGKILL');
      // Requests needing the database are refused meanwhile (503); the clients go on until the service dies too.
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(random() * 500)));
    }
    await running.killHard();
    stopped = true;
    await Promise.all(clients);
    history.push(
      `cycle ${cycle}: ${killDatabase ? 'PostgreSQL and ' : ''}service killed after ${killAfterMs} ms`,
    );
    service = await startServiceProcess({ env });
    options.started(service);
  }
  return service;
}
