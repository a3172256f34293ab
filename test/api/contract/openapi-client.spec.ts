import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ts from 'typescript';
import { expectStatus } from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/*
 * SPEC §4: the document at /docs is complete enough to generate a client from. This test generates
 * one with openapi-typescript from the served document, type-checks it with a driver written
 * against it (openapi-fetch), then runs the driver against the service.
 */
jest.setTimeout(120_000);

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const run = promisify(execFile);

/*
 * The driver, type-checked against the generated `paths`. Each `@ts-expect-error` line must be an
 * error: a route, body or answer without a precise schema would type it as unknown or any and make
 * the directive unused, which fails the check.
 */
const DRIVER = `
import createClient from 'openapi-fetch';
// JSON answers and problem+json errors: routes that also offer text/csv or text/event-stream
// type those as strings, which this driver does not ask for.
type Json = \`application/\${string}json\`;
import type { components, paths } from './schema';

type Problem = components['schemas']['ProblemDto'];

export async function drive(baseUrl: string, operatorToken: string, parentId: string) {
  const operator = createClient<paths, Json>({ baseUrl, headers: { authorization: 'Bearer ' + operatorToken } });
  const opened = await operator.POST('/v1/parents', {
    body: { id: parentId, name: 'Typed Agency', currency: 'EUR', creditPrice: '0.001' },
  });
  if (!opened.data) throw new Error('open failed: ' + JSON.stringify(opened.error));
  const secret: string = opened.data.apiKey.secret;
  // @ts-expect-error the answer is typed: no such member
  void opened.data.apiKey.password;
  const bought = await operator.POST('/v1/parents/{p}/credits', {
    params: { path: { p: parentId } },
    body: { credits: 1000, reference: 'PO-1' },
  });
  const available: number | undefined = bought.data?.pool.available;

  const parent = createClient<paths, Json>({ baseUrl, headers: { authorization: 'Bearer ' + secret } });
  const created = await parent.POST('/v1/parents/{p}/sub-accounts', {
    params: { path: { p: parentId } },
    body: { id: 'typed', name: 'Typed brand', billingModel: 'bill-to-parent', quota: 300 },
  });
  await parent.POST('/v1/parents/{p}/sub-accounts', {
    params: { path: { p: parentId } },
    // @ts-expect-error billingModel is one of two values
    body: { id: 'typed-2', name: 'x', billingModel: 'weekly' },
  });
  await parent.POST('/v1/parents/{p}/sub-accounts/{s}/allocations', {
    params: { path: { p: parentId, s: 'typed' } },
    // @ts-expect-error credits is required
    body: {},
  });
  const recorded = await parent.POST('/v1/parents/{p}/sub-accounts/{s}/usage', {
    params: { path: { p: parentId, s: 'typed' } },
    body: { idempotencyKey: 'typed-1', credits: 120, meter: 'api' },
  });
  const remaining: number | undefined = recorded.data?.remaining;
  const refused = await parent.POST('/v1/parents/{p}/sub-accounts/{s}/usage', {
    params: { path: { p: parentId, s: 'typed' } },
    body: { idempotencyKey: 'typed-2', credits: 100000 },
  });
  const problem: Problem | undefined = refused.error;
  const balance = await parent.GET('/v1/parents/{p}/sub-accounts/{s}/balance', {
    params: { path: { p: parentId, s: 'typed' } },
  });
  const existed: boolean | undefined = balance.data?.existed;
  const usage = await parent.GET('/v1/parents/{p}/usage', {
    params: { path: { p: parentId }, query: { groupBy: 'subAccount,meter' } },
  });
  const firstGroup = usage.data?.groups[0];
  const me = await parent.GET('/v1/me');
  const role: 'operator' | 'parent' | 'sub-account' | undefined = me.data?.role;
  const invoices = await parent.GET('/v1/parents/{p}/invoices', { params: { path: { p: parentId } } });
  const draftTotal: string | undefined = invoices.data?.draft?.invoices[0]?.total;
  const missing = await parent.GET('/v1/parents/{p}/sub-accounts/{s}', {
    params: { path: { p: parentId, s: 'nobody' } },
  });
  return {
    available,
    created: { status: created.response.status, quota: created.data?.quota, remaining: created.data?.remaining },
    remaining,
    refused: { status: refused.response.status, code: problem?.code },
    balance: { existed, used: balance.data?.used, remaining: balance.data?.remaining },
    firstGroup: firstGroup && { subAccountId: firstGroup.subAccountId, meter: firstGroup.meter, credits: firstGroup.credits },
    role,
    draftTotal,
    missing: { status: missing.response.status, code: missing.error?.code },
  };
}
`;

describe('a typed client generated from /docs', () => {
  let service: TestService;
  // Under the repo's node_modules, so the driver resolves openapi-fetch and jest leaves it alone.
  const workDir = path.join(REPO_ROOT, 'node_modules', '.cache', `subledger-openapi-${process.pid}`);

  beforeAll(async () => {
    service = await startTestService();
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
  });

  afterAll(async () => {
    await service?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('serves a document with a schema for every answer, problem+json errors, and opaque bearer keys', async () => {
    const document = expectStatus(await service.api.get('/docs/json'), 200).body;
    expect(document.components.securitySchemes.bearer).toEqual({
      type: 'http',
      scheme: 'bearer',
      description: expect.stringContaining('not JWT'),
    });
    expect(document.components.schemas.ProblemDto.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code']),
    );
    const gaps: string[] = [];
    for (const [route, item] of Object.entries<any>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const where = `${method.toUpperCase()} ${route}`;
        const statuses = Object.keys(operation.responses);
        if (!statuses.some((status) => /^2/.test(status))) gaps.push(`${where}: no success answer`);
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          if (status === '204') continue;
          const json =
            response.content?.['application/json'] ?? response.content?.['application/problem+json'];
          if (!json?.schema) gaps.push(`${where} ${status}: no JSON schema`);
          if (/^[45]/.test(status) && json?.schema?.$ref !== '#/components/schemas/ProblemDto') {
            gaps.push(`${where} ${status}: not a problem`);
          }
        }
        if (route.startsWith('/v1/')) {
          for (const status of ['401', '429', '500', '503']) {
            if (!statuses.includes(status)) gaps.push(`${where}: no ${status}`);
          }
          if (route.includes('{p}') && !statuses.includes('404')) gaps.push(`${where}: no 404`);
          if (method !== 'get' && !statuses.includes('409')) gaps.push(`${where}: no 409`);
          if (route !== '/v1/me' && !statuses.includes('400')) gaps.push(`${where}: no 400`);
          if (JSON.stringify(operation.security) !== '[{"bearer":[]}]')
            gaps.push(`${where}: no bearer security`);
        }
      }
    }
    expect(gaps).toEqual([]);
  });

  it('generates a client that type-checks and drives the service', async () => {
    const documentPath = path.join(workDir, 'openapi.json');
    await writeFile(
      documentPath,
      JSON.stringify(expectStatus(await service.api.get('/docs/json'), 200).body),
    );
    await run(
      process.execPath,
      [
        path.join(REPO_ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
        documentPath,
        '-o',
        path.join(workDir, 'schema.ts'),
      ],
      { cwd: workDir },
    );
    const schema = await readFile(path.join(workDir, 'schema.ts'), 'utf8');
    expect(schema).toContain('"/v1/me"');
    await writeFile(path.join(workDir, 'driver.ts'), DRIVER);

    const program = ts.createProgram([path.join(workDir, 'driver.ts')], {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      skipLibCheck: true,
      noUnusedLocals: false,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      outDir: path.join(workDir, 'out'),
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n') + ` (${d.file?.fileName}:${d.start})`);
    expect(diagnostics).toEqual([]);
    expect(program.emit().emitSkipped).toBe(false);

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { drive } = require(path.join(workDir, 'out', 'driver.js')) as {
      drive(baseUrl: string, operatorToken: string, parentId: string): Promise<unknown>;
    };
    expect(await drive(service.baseUrl, service.operatorToken, `typed-${process.pid}`)).toEqual({
      available: 1000,
      created: { status: 201, quota: 300, remaining: 300 },
      remaining: 180,
      refused: { status: 409, code: 'insufficient_quota' },
      balance: { existed: true, used: 120, remaining: 180 },
      firstGroup: { subAccountId: 'typed', meter: 'api', credits: 120 },
      role: 'parent',
      draftTotal: '0.12',
      missing: { status: 404, code: 'not_found' },
    });
  });
});
