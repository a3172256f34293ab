#!/usr/bin/env node
// The image path without Docker (no engine runs here): carries out the Dockerfile's own instructions
// in throw-away folders, one per stage, so `docker compose up --build` cannot break unnoticed again.
//
//   FROM … AS name   a new empty folder for the stage (the base image's tools are this machine's)
//   WORKDIR          a folder inside the stage
//   COPY a b ./      from the build context (this checkout), or --from=<stage> out of that stage
//   RUN …            `sh -c` in the stage's workdir, with the ENV so far
//   ENV, EXPOSE      kept for the start; USER is noted (CI runs as root)
//   HEALTHCHECK      its CMD is run until it passes, as Docker would
//   CMD              started in the final stage against an embedded event store and an embedded
//                    PostgreSQL from the built tree (production refuses to start without
//                    EVENTSTORE_CONNECTION_STRING and DATABASE_URL), then
//                    driven over HTTP, `npm run verify` run beside it (the tools are compiled in the
//                    image), and stopped with SIGTERM, which must exit 0.
//
// Usage: node .ci/image-check.mjs [Dockerfile]. Exits non-zero on the first failure.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const context = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dockerfile = path.resolve(context, process.argv[2] ?? 'Dockerfile');
const root = mkdtempSync(path.join(tmpdir(), 'subledger-image-'));
const say = (line) => process.stdout.write(`[image-check] ${line}\n`);

/** Instructions with their continuation lines joined and comments dropped. */
function instructions(text) {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line);
      return { keyword: keyword.toUpperCase(), rest };
    });
}

/** `["a", "b"]` (exec form) or a shell string. */
function commandOf(rest) {
  return rest.startsWith('[') ? JSON.parse(rest) : ['sh', '-c', rest];
}

function parseEnv(rest, env) {
  // ENV A=1 B="two words": the forms this Dockerfile uses.
  for (const match of rest.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) env[match[1]] = match[3] ?? match[2];
}

const stages = new Map();
let stage;
let healthcheck;
let cmd;
for (const { keyword, rest } of instructions(readFileSync(dockerfile, 'utf8'))) {
  switch (keyword) {
    case 'FROM': {
      const name = /\bAS\s+(\S+)/i.exec(rest)?.[1] ?? `stage${stages.size}`;
      const dir = path.join(root, name);
      mkdirSync(dir);
      stage = { name, dir, workdir: dir, env: { ...process.env } };
      stages.set(name, stage);
      say(`FROM ${rest} -> ${dir}`);
      break;
    }
    case 'WORKDIR':
      stage.workdir = path.join(stage.dir, rest);
      mkdirSync(stage.workdir, { recursive: true });
      break;
    case 'ENV':
      parseEnv(rest, stage.env);
      break;
    case 'COPY': {
      const parts = rest.split(/\s+/);
      const from = parts[0].startsWith('--from=')
        ? stages.get(parts.shift().slice('--from='.length))
        : undefined;
      const target = parts.pop();
      for (const source of parts) {
        // --from: paths inside that stage (absolute, or relative to its workdir); else the context.
        const src = from
          ? path.join(
              from.dir,
              path.isAbsolute(source) ? source : path.relative(from.dir, path.join(from.workdir, source)),
            )
          : path.join(context, source);
        const dest = target.endsWith('/')
          ? path.join(stage.workdir, target, path.basename(source))
          : path.resolve(stage.workdir, target);
        cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
      }
      say(`COPY ${rest}`);
      break;
    }
    case 'RUN':
      say(`RUN ${rest}`);
      execFileSync(commandOf(rest)[0], commandOf(rest).slice(1), {
        cwd: stage.workdir,
        env: stage.env,
        stdio: 'inherit',
      });
      break;
    case 'HEALTHCHECK':
      healthcheck = commandOf(rest.replace(/^.*?\bCMD\s+/, ''));
      break;
    case 'CMD':
      cmd = commandOf(rest);
      break;
    case 'USER':
      say(`USER ${rest} (noted; CI runs as root)`);
      break;
    case 'EXPOSE':
      break;
    default:
      throw new Error(`image-check does not know the instruction ${keyword}: teach it before using it`);
  }
}
if (!cmd || !healthcheck) throw new Error('the Dockerfile must end with a HEALTHCHECK and a CMD');

const app = stage;
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const children = [];
/** Folders made during the start, removed at the end. */
const scratch = [];
const started = (command, env) => {
  const child = spawn(command[0] === 'node' ? process.execPath : command[0], command.slice(1), {
    cwd: app.workdir,
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return child;
};

try {
  // The event store a production start needs, from the same built tree (no ts-node: dev tools are pruned).
  const store = started(['node', 'dist/embedded-eventstore/cli.js', '--port', '0', '--memory'], process.env);
  const connectionString = await new Promise((resolve, reject) => {
    let out = '';
    store.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const match = /EMBEDDED_EVENTSTORE_READY (\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    store.once('exit', () => reject(new Error(`the event store exited before it was ready: ${out}`)));
  });
  // And the PostgreSQL it needs (production refuses to start without DATABASE_URL): the embedded one,
  // started from the same built tree, as an operator would run a server of their own.
  const pgDir = mkdtempSync(path.join(tmpdir(), 'subledger-image-pg-'));
  chmodSync(pgDir, 0o755);
  scratch.push(pgDir);
  const postgres = started(
    [
      'node',
      '-e',
      `require('./dist/database/embedded-postgres').startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(pgDir, 'postgres'))} })
         .then((pg) => { console.log('PG_READY ' + pg.adminUrl); process.on('SIGTERM', () => pg.stop().then(() => process.exit(0))); })
         .catch((error) => { console.error(error); process.exit(1); });`,
    ],
    process.env,
  );
  const databaseUrl = await new Promise((resolve, reject) => {
    let out = '';
    postgres.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const match = /PG_READY (\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    postgres.once('exit', () => reject(new Error(`PostgreSQL exited before it was ready: ${out}`)));
  });
  const port = String(30000 + Math.floor(Math.random() * 20000));
  const operatorToken = `image-check-${Math.random().toString(36).slice(2)}-operator`;
  const env = {
    ...app.env,
    PORT: port,
    HOST: '127.0.0.1',
    OPERATOR_TOKEN: operatorToken,
    EVENTSTORE_CONNECTION_STRING: connectionString,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
  };
  say(`CMD ${cmd.join(' ')} (NODE_ENV=${env.NODE_ENV}, store ${connectionString})`);
  const service = started(cmd, env);
  service.stdout.pipe(process.stdout);

  let healthy = false;
  for (let attempt = 0; attempt < 120 && !healthy; attempt++) {
    await wait(500);
    const probe = started(healthcheck, env);
    healthy = (await probe.exited).code === 0;
  }
  if (!healthy) throw new Error('the HEALTHCHECK never passed');
  say('HEALTHCHECK passed');

  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' };
  const opened = await fetch(`${base}/v1/parents`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ id: 'image-check', name: 'Image check', currency: 'EUR', creditPrice: '0.001' }),
  });
  if (opened.status !== 201)
    throw new Error(`POST /v1/parents answered ${opened.status}: ${await opened.text()}`);
  const read = await fetch(`${base}/v1/parents/image-check`, { headers });
  if (read.status !== 200) throw new Error(`GET /v1/parents/image-check answered ${read.status}`);
  // The OpenAPI document is built from package.json at run time: the pruned image must still carry it.
  const docs = await fetch(`${base}/docs/json`);
  if (docs.status !== 200) throw new Error(`GET /docs/json answered ${docs.status}`);
  // The console's page and the chart library it loads must be in the pruned image too (SPEC §12).
  for (const asset of ['/console', '/console/vendor/chart.umd.min.js']) {
    const answer = await fetch(`${base}${asset}`);
    if (answer.status !== 200) throw new Error(`GET ${asset} answered ${answer.status}`);
  }
  say('opened and read a parent; /docs/json, /console and its chart library 200');

  // The command-line tools run in the image too (compiled, without ts-node), beside the service.
  const verify = started(['npm', 'run', '--silent', 'verify', '--', '--parent', 'image-check'], env);
  let verifyOut = '';
  verify.stdout.setEncoding('utf8').on('data', (chunk) => (verifyOut += chunk));
  const verified = await Promise.race([verify.exited, wait(60_000).then(() => ({ code: 'timeout' }))]);
  if (verified.code !== 0 || JSON.parse(verifyOut).verified !== true)
    throw new Error(`npm run verify ended with ${JSON.stringify(verified)}: ${verifyOut}`);
  say('npm run verify -- --parent image-check: the chain checks out');

  service.kill('SIGTERM');
  const stopped = await Promise.race([service.exited, wait(30_000).then(() => ({ code: 'timeout' }))]);
  if (stopped.code !== 0) throw new Error(`SIGTERM ended the service with ${JSON.stringify(stopped)}`);
  say('SIGTERM: exit 0');
  say('PASS: the Dockerfile builds, starts, answers and stops');
} catch (error) {
  say(`FAIL: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  // SIGTERM first, so the PostgreSQL starter stops its server rather than leaving it running.
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of running) child.kill('SIGTERM');
  await Promise.race([Promise.all(running.map((child) => child.exited)), wait(15_000)]);
  for (const child of running)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}
