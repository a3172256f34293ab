import { lookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { SubledgerError } from '../../kernel/subledger-error';

/**
 * The SSRF guard: a webhook may not make the service call into its own network. Loopback, private,
 * link-local, carrier-grade NAT, multicast, reserved and unspecified addresses are refused (IPv4, IPv6
 * and IPv4-mapped IPv6) unless `SUBLEDGER_WEBHOOK_ALLOW_PRIVATE=true`. Checked on the URL when an
 * endpoint is registered, and again on the address each send actually connects to (a name that
 * resolves elsewhere later, DNS rebinding, is caught there).
 */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** True for an address a webhook may not reach without SUBLEDGER_WEBHOOK_ALLOW_PRIVATE. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return BLOCKED.check(mapped[1], 'ipv4');
  return BLOCKED.check(address, 'ipv6');
}

/** The host of a URL without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Checks an endpoint URL when it is registered or changed: http(s), no credentials, no fragment,
 * and, unless private targets are allowed, not a private address nor a name that resolves to one
 * now. A name that does not resolve yet is accepted (its sends fail and are retried).
 */
export async function checkWebhookUrl(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SubledgerError('validation_failed', 'invalid', `url must be an absolute http or https URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new SubledgerError('validation_failed', 'invalid', 'url must use http or https');
  }
  if (url.username || url.password) {
    throw new SubledgerError('validation_failed', 'invalid', 'url must not carry credentials');
  }
  if (url.hash) throw new SubledgerError('validation_failed', 'invalid', 'url must not have a fragment');
  if (!allowPrivate) {
    const host = hostOf(url);
    const addresses = isIP(host) ? [host] : await resolveAll(host);
    const refused = addresses.find(isPrivateAddress);
    if (refused !== undefined || host === 'localhost' || host.endsWith('.localhost')) {
      throw new SubledgerError(
        'validation_failed',
        'invalid',
        `url ${url.host} is a loopback, private or link-local address${refused && refused !== host ? ` (${refused})` : ''}: ` +
          'such targets are refused unless SUBLEDGER_WEBHOOK_ALLOW_PRIVATE=true',
      );
    }
  }
  return url.toString();
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve) => {
    lookup(host, { all: true }, (error, addresses) => resolve(error ? [] : addresses.map((a) => a.address)));
  });
}

/** The error of a send whose target resolved to a refused address. */
export class PrivateTargetError extends Error {
  constructor(address: string) {
    super(`the target resolved to ${address}, a loopback, private or link-local address (refused)`);
    this.name = 'PrivateTargetError';
  }
}

/**
 * A `lookup` for `http.request` that refuses private addresses: the check happens on the address the
 * socket will connect to, so a name re-pointed after registration cannot slip through.
 */
export function guardedLookup(allowPrivate: boolean): typeof lookup {
  const guarded = (
    hostname: string,
    options: object,
    callback: (error: NodeJS.ErrnoException | null, address: string | object[], family?: number) => void,
  ) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses;
      const refused = allowPrivate ? undefined : list.find((entry) => isPrivateAddress(entry.address));
      if (refused) return callback(new PrivateTargetError(refused.address), '', 0);
      if ((options as { all?: boolean }).all) return callback(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
  return guarded as unknown as typeof lookup;
}
