import { Body, Controller, Get, NotFoundException, Post, UnauthorizedException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { UnavailableError } from '@eventstore/db-client';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/config/app-config';
import { configureApp, createFastifyAdapter } from '../../src/app';
import { createRootLogger } from '../../src/observability/logging.module';
import { ApplicationError } from '../../src/http/problem';
import { apiClient, type Api } from '../support/service';

class UsageRecordDto {
  @IsString() subAccountId!: string;
  @IsString() idempotencyKey!: string;
  @IsInt() @Min(0) @Max(1e12) credits!: number;
  @IsOptional() @IsString() meter?: string;
  @IsOptional() @IsString() occurredAt?: string;
}

class UsageBatchDto {
  @IsArray()
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => UsageRecordDto)
  records!: UsageRecordDto[];
}

/** Routes that fail in each of the ways the real routes can, to see how the errors come out. */
@Controller('probe')
class ProbeController {
  @Post('batch')
  batch(@Body() body: UsageBatchDto): { count: number } {
    return { count: body.records.length };
  }

  @Get('domain-error')
  domainError(): never {
    throw new ApplicationError('insufficient_pool', 'The pool has 5 credits; 8 were asked for.', {
      available: 5,
    });
  }

  @Get('plain-domain-error')
  plainDomainError(): never {
    // A pure domain error: no HTTP import, only a code from the table.
    throw Object.assign(new Error('Quota 10 is below the 20 credits used.'), { code: 'quota_below_used' });
  }

  @Get('missing')
  missing(): never {
    throw new NotFoundException('Cannot find parent acme');
  }

  @Get('unauthorized')
  unauthorized(): never {
    throw new UnauthorizedException('Missing bearer token');
  }

  @Get('event-store-down')
  eventStoreDown(): never {
    throw new UnavailableError({ code: 14, details: 'connect ECONNREFUSED', metadata: undefined } as never);
  }

  @Get('bug')
  bug(): never {
    throw new Error('secret internal detail at /srv/app/ledger.ts:42');
  }
}

const record = (index: number) => ({
  subAccountId: `sub-${index % 50}`,
  idempotencyKey: `0d9b7c1e-6f0a-4d0c-9b7e-${String(index).padStart(12, '0')}`,
  credits: 12_345,
  meter: 'image-optimization',
  occurredAt: '2026-10-31T22:59:59.123Z',
});

describe('errors as application/problem+json', () => {
  let app: NestFastifyApplication;
  let api: Api;
  const logLines: string[] = [];

  beforeAll(async () => {
    const config = loadConfig({}, { eventStoreMemory: true, host: '127.0.0.1', port: 0, logLevel: 'error' });
    const logger = createRootLogger(config, { write: (line: string) => void logLines.push(line) });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(config, logger)],
      controllers: [ProbeController],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(config), {
      bodyParser: false,
      bufferLogs: true,
    });
    configureApp(app, config);
    await app.listen(0, '127.0.0.1');
    api = apiClient(await app.getUrl());
  });

  afterAll(async () => {
    await app?.close();
  });

  const expectProblem = (
    response: { status: number; headers: Headers; body: any },
    status: number,
    code: string,
  ) => {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ type: `https://subledger.dev/problems/${code}`, status, code });
    expect(typeof response.body.title).toBe('string');
    expect(typeof response.body.detail).toBe('string');
  };

  it('answers an unknown route with 404 not_found naming the path', async () => {
    const response = await api.get('/no/such/route?x=1');
    expectProblem(response, 404, 'not_found');
    expect(response.body.instance).toBe('/no/such/route');
  });

  it("keeps a route's own not-found detail", async () => {
    const response = await api.get('/probe/missing');
    expectProblem(response, 404, 'not_found');
    expect(response.body.detail).toBe('Cannot find parent acme.');
  });

  it('refuses malformed JSON with 400 malformed_json', async () => {
    const response = await api.request('POST', '/probe/batch', { body: '{"records": [', headers: {} });
    expectProblem(response, 400, 'malformed_json');
    expect(response.body.instance).toBe('/probe/batch');
  });

  // An empty body is no body (SPEC §4: body-less routes accept it); a route that needs one names
  // what is missing, exactly as when nothing was sent.
  it('answers an empty JSON body as a missing body: 400 validation_failed naming the field', async () => {
    const response = await api.request('POST', '/probe/batch', {
      body: '',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(response, 400, 'validation_failed');
    expect(JSON.stringify(response.body.errors)).toContain('records');
  });

  // Valid JSON the API refuses: validation_failed, and the key is never merged into an object.
  it.each([
    ['a top-level __proto__', '{"records": [], "__proto__": {"x": 1}}'],
    ['a nested __proto__', '{"records": [{"__proto__": {}}]}'],
    ['an escaped __proto__', '{"records": [], "\\u005f_proto__": {"x": 1}}'],
    ['constructor.prototype', '{"records": [], "constructor": {"prototype": {"x": 1}}}'],
  ])('refuses %s key with 400 validation_failed rather than merging it', async (_name, body) => {
    const response = await api.request('POST', '/probe/batch', { body });
    expectProblem(response, 400, 'validation_failed');
    expect(response.body.detail).toMatch(/__proto__/);
  });

  it('still calls broken JSON around a __proto__ key malformed_json', async () => {
    const response = await api.request('POST', '/probe/batch', { body: '{"__proto__": {"x": 1},' });
    expectProblem(response, 400, 'malformed_json');
  });

  it('refuses other content types with 415 unsupported_media_type', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await api.request('POST', '/probe/batch', {
        body: 'records=1',
        headers: { 'content-type': contentType },
      });
      expectProblem(response, 415, 'unsupported_media_type');
    }
  });

  it('accepts a batch of 1,000 records under the default body limit, and refuses a larger body with 413', async () => {
    const batch = { records: Array.from({ length: 1000 }, (_, index) => record(index)) };
    const accepted = await api.post('/probe/batch', batch);
    expect(accepted.status).toBe(201);
    expect(accepted.body).toEqual({ count: 1000 });

    const huge = { records: Array.from({ length: 10_000 }, (_, index) => record(index)) };
    expect(JSON.stringify(huge).length).toBeGreaterThan(1024 * 1024);
    expectProblem(await api.post('/probe/batch', huge), 413, 'payload_too_large');
  });

  it('lists every invalid field with validation_failed, nested paths included', async () => {
    const response = await api.post('/probe/batch', {
      records: [record(0), { ...record(1), credits: -1 }, { ...record(2), credits: 1.5, extra: true }],
      unknown: 'field',
    });
    expectProblem(response, 400, 'validation_failed');
    const fields = (response.body.errors as { field: string; message: string }[]).map((error) => error.field);
    expect(fields).toEqual(
      expect.arrayContaining(['unknown', 'records[1].credits', 'records[2].credits', 'records[2].extra']),
    );
    for (const error of response.body.errors) expect(typeof error.message).toBe('string');
  });

  it('refuses a body that is not a JSON object', async () => {
    for (const body of ['[1, 2]', '"text"', '42', 'null']) {
      const response = await api.request('POST', '/probe/batch', { body });
      expectProblem(response, 400, 'validation_failed');
      expect(response.body.errors).toEqual([
        { field: 'body', message: 'The request body must be a JSON object' },
      ]);
    }
  });

  it('maps an ApplicationError to its code and status, extensions included', async () => {
    const response = await api.get('/probe/domain-error');
    expectProblem(response, 409, 'insufficient_pool');
    expect(response.body.available).toBe(5);
    expect(response.body.detail).toBe('The pool has 5 credits; 8 were asked for.');
  });

  it('maps a domain error that only carries a known code', async () => {
    expectProblem(await api.get('/probe/plain-domain-error'), 409, 'quota_below_used');
  });

  it('answers 401 unauthorized with a bearer challenge', async () => {
    const response = await api.get('/probe/unauthorized');
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('answers 503 event_store_unavailable when the event store client cannot reach its server', async () => {
    expectProblem(await api.get('/probe/event-store-down'), 503, 'event_store_unavailable');
  });

  it('answers an unexpected error with a bare 500 that reveals nothing', async () => {
    const response = await api.get('/probe/bug');
    expectProblem(response, 500, 'internal_error');
    const text = JSON.stringify(response.body);
    expect(text).not.toMatch(/secret internal detail|ledger\.ts|at \/|stack/i);

    // ...while the log keeps everything needed to find it.
    const logged = logLines
      .map((line) => JSON.parse(line))
      .find((entry) => entry.requestId === response.body.requestId);
    expect(logged).toMatchObject({
      level: 50,
      err: { message: 'secret internal detail at /srv/app/ledger.ts:42' },
    });
    expect(logged.err.stack).toContain('ProbeController.bug');
  });

  it('echoes a sane x-request-id and replaces one that is not', async () => {
    const sane = await api.request('GET', '/no/such/route', {
      headers: { 'x-request-id': 'client-42.retry:1' },
    });
    expect(sane.headers.get('x-request-id')).toBe('client-42.retry:1');
    expect(sane.body.requestId).toBe('client-42.retry:1');

    const forged = await api.request('GET', '/health/live', {
      headers: { 'x-request-id': 'a b"\\n{"level":60}' },
    });
    const replaced = forged.headers.get('x-request-id');
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);

    const none = await api.get('/health/live');
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(none.headers.get('x-request-id')).not.toBe(replaced);
  });
});
