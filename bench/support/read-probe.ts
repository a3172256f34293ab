/**
 * Timed sequential reads from a process of their own (`readProbe` forks this file). The scale bench
 * itself holds ~1 GiB of seeded state, and its full collections (hundreds of ms on both cores) landed
 * inside the timing of whatever request was in flight: the slowest answers of the big parent's
 * analytics were the bench's pauses, not the service's (docs/benchmarks.md, session 9). Here the heap
 * is small, and each answer is read whole, as a client must, but not parsed.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';

export interface ProbeRequest {
  readonly path: string;
  readonly secret: string;
}

interface ProbeJob {
  readonly baseUrl: string;
  readonly requests: readonly ProbeRequest[];
  /** Stop early after this long, once at least `minSamples` were taken. */
  readonly maxSeconds: number;
  readonly minSamples: number;
}

type ProbeAnswer = { readonly ms: number[] } | { readonly error: string };

/** Milliseconds of each request, in order; throws on any answer but a 200. */
export async function readProbe(
  baseUrl: string,
  requests: readonly ProbeRequest[],
  opts: { maxSeconds: number; minSamples: number },
): Promise<number[]> {
  const child = fork(path.join(__dirname, 'read-probe.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const answer = await new Promise<ProbeAnswer>((resolve, reject) => {
      child.once('message', (message) => resolve(message as ProbeAnswer));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the read probe exited (${code}) before answering`)));
      const job: ProbeJob = { baseUrl, requests, ...opts };
      child.send(job);
    });
    if ('error' in answer) throw new Error(answer.error);
    return answer.ms;
  } finally {
    child.kill();
  }
}

async function run(job: ProbeJob): Promise<number[]> {
  const ms: number[] = [];
  const deadline = Date.now() + job.maxSeconds * 1000;
  for (const request of job.requests) {
    if (ms.length >= job.minSamples && Date.now() > deadline) break;
    const started = performance.now();
    const response = await fetch(`${job.baseUrl}${request.path}`, {
      headers: { authorization: `Bearer ${request.secret}` },
      signal: AbortSignal.timeout(120_000),
    });
    const body = await response.text();
    ms.push(performance.now() - started);
    if (response.status !== 200) {
      throw new Error(`GET ${request.path} answered ${response.status}: ${body.slice(0, 500)}`);
    }
  }
  return ms;
}

if (require.main === module) {
  process.once('message', (job: ProbeJob) => {
    run(job).then(
      (ms) => process.send!({ ms } satisfies ProbeAnswer, () => process.exit(0)),
      (error: unknown) =>
        process.send!(
          { error: error instanceof Error ? error.message : String(error) } satisfies ProbeAnswer,
          () => process.exit(0),
        ),
    );
  });
}
