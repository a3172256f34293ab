import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { CsvNegotiation } from '../../src/http/csv-negotiation';

/*
 * CsvNegotiation.jsonChunks sends buffers whose memory is reused once `sent` runs (the usage report's,
 * decision 75): so `sent` must not run before every byte has been handed to the socket, and must not
 * run at all for a response cut short. Checked with a client that does not read until told to.
 */
describe('a JSON body sent as buffers', () => {
  let server: FastifyInstance;
  let port: number;
  const body = Buffer.alloc(8 * 1024 * 1024, 'a');
  const chunks = [Buffer.from('{"a":"'), body, Buffer.from('"}')];
  const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  let sent = 0;

  beforeAll(async () => {
    server = Fastify();
    server.get('/report', (_request, reply) => {
      const negotiation = new CsvNegotiation(false, reply);
      return reply.send(negotiation.jsonChunks(chunks, bytes, () => sent++));
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    port = (server.server.address() as AddressInfo).port;
  });

  afterAll(() => server.close());

  it('reports it sent only once the client has had every byte', async () => {
    sent = 0;
    const req = request({ port, path: '/report' });
    req.end();
    const [response] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(response.headers['content-length'])).toBe(bytes);
    response.pause();
    // Megabytes are still waiting in the server: not sent yet.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sent).toBe(0);
    const received: Buffer[] = [];
    response.on('data', (chunk: Buffer) => received.push(chunk));
    response.resume();
    await once(response, 'end');
    expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent).toBe(1);
  });

  it('never reports a response the client cut short as sent', async () => {
    sent = 0;
    const req = request({ port, path: '/report' });
    req.end();
    const [response] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    response.pause();
    await new Promise((resolve) => setTimeout(resolve, 100));
    req.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).toBe(0);
  });
});
