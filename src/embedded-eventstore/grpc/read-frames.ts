import { varintSize, writeVarint } from '../storage/protobuf-wire';

/**
 * Pre-encoded `ReadResp` messages. Events are stored as RecordedEvent bytes, so an event
 * frame is two length prefixes around stored bytes plus the commit position:
 *
 *   ReadResp { 1: ReadEvent { 1: event, 2: link, 3: commit_position } }
 */

export function eventFrame(
  event: Uint8Array | null,
  link: Uint8Array | null,
  commitPosition: number,
): Buffer {
  let inner = 1 + varintSize(commitPosition);
  if (event) inner += 1 + varintSize(event.length) + event.length;
  if (link) inner += 1 + varintSize(link.length) + link.length;
  const out = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  out[0] = 0x0a;
  let at = writeVarint(out, 1, inner);
  if (event) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, event.length);
    out.set(event, at);
    at += event.length;
  }
  if (link) {
    out[at++] = 0x12;
    at = writeVarint(out, at, link.length);
    out.set(link, at);
    at += link.length;
  }
  out[at++] = 0x18;
  writeVarint(out, at, commitPosition);
  return out;
}

/** ReadResp { 3: Checkpoint { 1: commit, 2: prepare } } */
export function checkpointFrame(position: number): Buffer {
  const n = varintSize(position);
  const inner = 2 + 2 * n;
  const out = Buffer.allocUnsafe(2 + inner);
  out[0] = 0x1a;
  out[1] = inner;
  out[2] = 0x08;
  writeVarint(out, 3, position);
  out[3 + n] = 0x10;
  writeVarint(out, 4 + n, position);
  return out;
}

/** ReadResp { 8: CaughtUp {} } */
export const CAUGHT_UP_FRAME = Buffer.from([0x42, 0x00]);

/** ReadResp { 2: SubscriptionConfirmation { 1: subscription_id } } */
export function confirmationFrame(subscriptionId: string): Buffer {
  const id = Buffer.from(subscriptionId, 'utf8');
  const inner = Buffer.concat([Buffer.from([0x0a]), varint(id.length), id]);
  return Buffer.concat([Buffer.from([0x12]), varint(inner.length), inner]);
}

/** ReadResp { 4: StreamNotFound { 1: StreamIdentifier { 3: stream_name } } } */
export function streamNotFoundFrame(streamName: string): Buffer {
  const name = Buffer.from(streamName, 'utf8');
  const ident = Buffer.concat([Buffer.from([0x1a]), varint(name.length), name]);
  const nf = Buffer.concat([Buffer.from([0x0a]), varint(ident.length), ident]);
  return Buffer.concat([Buffer.from([0x22]), varint(nf.length), nf]);
}

function varint(n: number): Buffer {
  const b = Buffer.allocUnsafe(varintSize(n));
  writeVarint(b, 0, n);
  return b;
}
