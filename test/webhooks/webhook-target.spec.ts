import type { AddressInfo } from 'node:net';
import * as http from 'node:http';
import {
  checkWebhookUrl,
  guardedLookup,
  isPrivateAddress,
  PrivateTargetError,
} from '../../src/webhooks/application/webhook-target.guard';

describe('the webhook SSRF guard', () => {
  it('classifies loopback, private, link-local, mapped and reserved addresses as private, public ones not', () => {
    for (const address of [
      '127.0.0.1',
      '10.0.0.5',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:10.1.2.3',
      'not-an-address',
    ]) {
      expect([address, isPrivateAddress(address)]).toEqual([address, true]);
    }
    for (const address of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) {
      expect([address, isPrivateAddress(address)]).toEqual([address, false]);
    }
  });

  it('checks the address a send resolves to, so a name pointing at loopback is refused when it connects', async () => {
    const server = http.createServer((request, response) => response.writeHead(204).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const send = (allowPrivate: boolean) =>
      new Promise<number | Error>((resolve) => {
        const request = http.request(`http://localhost:${port}/`, {
          method: 'POST',
          lookup: guardedLookup(allowPrivate),
          family: 4,
        });
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', resolve);
        request.end();
      });
    try {
      const refused = await send(false);
      expect(refused).toBeInstanceOf(PrivateTargetError);
      expect(await send(true)).toBe(204);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses URLs that are not plain http(s) targets whatever the setting', async () => {
    await expect(checkWebhookUrl('file:///etc/passwd', true)).rejects.toThrow(/http or https/);
    await expect(checkWebhookUrl('https://u:p@example.com/', true)).rejects.toThrow(/credentials/);
    await expect(checkWebhookUrl('https://example.com/#x', true)).rejects.toThrow(/fragment/);
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', true)).resolves.toBe(
      'http://127.0.0.1:8080/hook',
    );
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', false)).rejects.toThrow(
      /SUBLEDGER_WEBHOOK_ALLOW_PRIVATE/,
    );
  });
});
