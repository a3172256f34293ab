import { randomUUID } from 'node:crypto';
import { ServerWritableStream } from '@grpc/grpc-js';
import { ReadReq } from '@eventstore/db-client/generated/streams_pb';
import { EventStoreEngine } from '../engine/event-store.engine';
import { StreamState } from '../storage/event-index';
import {
  CAUGHT_UP_FRAME,
  checkpointFrame,
  confirmationFrame,
  eventFrame,
  streamNotFoundFrame,
} from './read-frames';
import { FrameSink } from './frame-sink';
import { RpcError, streamDeletedError } from './rpc-errors';

type ReadCall = ServerWritableStream<ReadReq, Buffer>;

/** Events per log read on the $all paths; bounds both latency and memory per read. */
const BLOCK_EVENTS = 512;
/** EventStoreDB's search window when the client asks for a checkpoint "count" window. */
const DEFAULT_SEARCH_WINDOW = 32;

interface EventFilter {
  matches(i: number): boolean;
  checkpointInterval: number;
}

/**
 * One Read call: a bounded read of a stream or $all, or a catch-up-then-live subscription.
 * A subscription is a cursor over the engine's committed order; catching up and following
 * live are the same loop (deliver everything below `durableCount`, then wait for the next
 * commit), so there is no hand-over between a catch-up reader and a live queue where events
 * could be lost or doubled.
 */
export class ReadSession {
  private cancelled = false;
  private wake: (() => void) | null = null;
  private readonly sink: FrameSink;
  /** Commits seen by a subscription; tells whether one landed during an await. */
  private commits = 0;
  private readonly resolveLinks: boolean;
  private readonly filter: EventFilter | null;

  constructor(
    private readonly engine: EventStoreEngine,
    private readonly call: ReadCall,
  ) {
    const o = call.request.getOptions();
    this.sink = new FrameSink(call);
    this.resolveLinks = o?.getResolveLinks() ?? false;
    this.filter = o?.hasFilter() ? this.buildFilter(o.getFilter()!) : null;
    const stop = () => {
      this.cancelled = true;
      this.wakeUp();
    };
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  }

  async run(): Promise<void> {
    const o = this.call.request.getOptions();
    if (!o) return this.end();
    const backwards = o.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
    const count = o.hasSubscription() ? Infinity : Number(o.getCount() || '0');
    if (o.hasStream()) {
      const so = o.getStream()!;
      const name = Buffer.from(so.getStreamIdentifier()?.getStreamName_asU8() ?? []).toString('utf8');
      const from = so.hasStart() ? 'start' : so.hasEnd() ? 'end' : Number(so.getRevision());
      if (o.hasSubscription()) return this.subscribeStream(name, from);
      return this.readStream(name, from, backwards, count);
    }
    const ao = o.getAll();
    let from: 'start' | 'end' | number = 'start';
    if (ao?.hasEnd()) from = 'end';
    else if (ao?.hasPosition()) from = Number(ao.getPosition()!.getCommitPosition());
    if (o.hasSubscription()) return this.subscribeAll(from);
    return this.readAll(from, backwards, count);
  }

  private buildFilter(f: ReadReq.Options.FilterOptions): EventFilter {
    const onStream = f.hasStreamIdentifier();
    const expr = onStream ? f.getStreamIdentifier()! : f.getEventType()!;
    const prefixes = expr.getPrefixList();
    const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : null;
    const test = (s: string) => (regex !== null && regex.test(s)) || prefixes.some((p) => s.startsWith(p));
    const cache = new Map<number, boolean>();
    const index = this.engine.index;
    const window = f.hasMax() ? f.getMax() : DEFAULT_SEARCH_WINDOW;
    return {
      checkpointInterval: Math.max(1, window * Math.max(1, f.getCheckpointintervalmultiplier())),
      matches: (i) => {
        const key = onStream ? index.streamOf(i) : index.typeOf(i);
        let hit = cache.get(key);
        if (hit === undefined) {
          hit = test(onStream ? index.streams[key].name : index.types[key]);
          cache.set(key, hit);
        }
        return hit;
      },
    };
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  private async send(frame: Buffer): Promise<void> {
    await this.sink.push(frame);
  }

  private async end(): Promise<void> {
    await this.sink.flush();
    if (!this.cancelled) this.call.end();
  }

  private async fail(err: RpcError): Promise<void> {
    await this.sink.flush();
    this.call.emit('error', err);
  }

  /** Resolves on the next commit; callers check for new events synchronously before. */
  private waitForCommit(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  private frameFor(i: number, pb: Buffer): Buffer {
    const position = this.engine.index.position(i);
    if (this.resolveLinks && this.engine.isLink(i)) {
      const target = this.engine.resolveLink(pb);
      return eventFrame(target >= 0 ? this.engine.entry(target) : null, pb, position);
    }
    return eventFrame(pb, null, position);
  }

  /** Revision `revision` of a stream read: a stored event, or an entry of a system projection's stream. */
  private streamFrame(stream: StreamState, revision: number): Buffer {
    const i = stream.at(revision);
    const { pb, link } = this.engine.streamEntry(stream, revision, i);
    const position = this.engine.index.position(i);
    if (this.resolveLinks && link) {
      const target = this.engine.resolveLink(pb);
      return eventFrame(target >= 0 ? this.engine.entry(target) : null, pb, position);
    }
    return eventFrame(pb, null, position);
  }

  private async readStream(
    name: string,
    from: 'start' | 'end' | number,
    backwards: boolean,
    count: number,
  ): Promise<void> {
    const state = this.engine.streamReadState(name);
    if (state.kind === 'deleted') return this.fail(streamDeletedError(name));
    if (state.kind === 'not_found') {
      await this.send(streamNotFoundFrame(name));
      return this.end();
    }
    const { stream, first, end } = state;
    let sent = 0;
    if (!backwards) {
      let r = Math.max(from === 'start' ? 0 : from === 'end' ? end : from, first);
      while (r < end && sent < count && !this.cancelled) {
        await this.send(this.streamFrame(stream, r++));
        sent++;
      }
    } else {
      let r = Math.min(from === 'start' ? 0 : from === 'end' ? end - 1 : from, end - 1);
      while (r >= first && sent < count && !this.cancelled) {
        await this.send(this.streamFrame(stream, r--));
        sent++;
      }
    }
    await this.end();
  }

  private async readAll(from: 'start' | 'end' | number, backwards: boolean, count: number): Promise<void> {
    const index = this.engine.index;
    const limit = this.engine.durableCount;
    let sent = 0;
    if (!backwards) {
      let i = from === 'start' ? 0 : from === 'end' ? limit : index.firstAtOrAfter(from, limit);
      while (i < limit && sent < count && !this.cancelled) {
        const to = Math.min(limit, i + BLOCK_EVENTS);
        const { buf, base } = this.engine.readBlock(i, to);
        for (; i < to && sent < count && !this.cancelled; i++) {
          if (this.filter && !this.filter.matches(i)) continue;
          await this.send(this.frameFor(i, this.slice(buf, base, i)));
          sent++;
        }
      }
    } else {
      // Backwards from a position returns the events before it, as EventStoreDB does.
      let i = (from === 'start' ? 0 : from === 'end' ? limit : index.firstAtOrAfter(from, limit)) - 1;
      while (i >= 0 && sent < count && !this.cancelled) {
        const lo = Math.max(0, i - BLOCK_EVENTS + 1);
        const { buf, base } = this.engine.readBlock(lo, i + 1);
        for (; i >= lo && sent < count && !this.cancelled; i--) {
          if (this.filter && !this.filter.matches(i)) continue;
          await this.send(this.frameFor(i, this.slice(buf, base, i)));
          sent++;
        }
      }
    }
    await this.end();
  }

  private slice(buf: Buffer, base: number, i: number): Buffer {
    const start = this.engine.index.position(i) - base + 4;
    return buf.subarray(start, start + this.engine.index.length(i));
  }

  /** Counts the engine's commits and wakes a sleeping subscription; returns the unsubscribe. */
  private watchCommits(): () => void {
    return this.engine.onCommit(() => {
      this.commits++;
      this.wakeUp();
    });
  }

  /** A caught-up subscription's rest: flush what was sent, then sleep until the next commit. */
  private async idleUntilCommit(): Promise<void> {
    const seen = this.commits;
    await this.sink.flush();
    // Commits may have landed while flushing; look again before sleeping.
    if (this.commits !== seen) return;
    await this.waitForCommit();
  }

  private async subscribeAll(from: 'start' | 'end' | number): Promise<void> {
    const index = this.engine.index;
    // Subscriptions start after the given position (exclusive).
    let next =
      from === 'start'
        ? 0
        : from === 'end'
          ? this.engine.durableCount
          : index.firstAtOrAfter(from + 1, index.count);
    const unsubscribe = this.watchCommits();
    try {
      await this.send(confirmationFrame(randomUUID()));
      let caughtUp = false;
      let sinceCheckpoint = 0;
      let lastScanned = -1;
      while (!this.cancelled) {
        while (next < this.engine.durableCount && !this.cancelled) {
          const to = Math.min(this.engine.durableCount, next + BLOCK_EVENTS);
          const { buf, base } = this.engine.readBlock(next, to);
          for (; next < to && !this.cancelled; next++) {
            lastScanned = index.position(next);
            if (!this.filter || this.filter.matches(next)) {
              await this.send(this.frameFor(next, this.slice(buf, base, next)));
            }
            if (this.filter && ++sinceCheckpoint >= this.filter.checkpointInterval) {
              sinceCheckpoint = 0;
              await this.send(checkpointFrame(lastScanned));
            }
          }
        }
        if (this.cancelled) break;
        if (!caughtUp) {
          caughtUp = true;
          if (this.filter && lastScanned >= 0) await this.send(checkpointFrame(lastScanned));
          await this.send(CAUGHT_UP_FRAME);
          continue;
        }
        await this.idleUntilCommit();
      }
    } finally {
      unsubscribe();
    }
  }

  private async subscribeStream(name: string, from: 'start' | 'end' | number): Promise<void> {
    let next: number | null = from === 'start' ? 0 : from === 'end' ? null : from + 1;
    const unsubscribe = this.watchCommits();
    try {
      await this.send(confirmationFrame(randomUUID()));
      let caughtUp = false;
      while (!this.cancelled) {
        // Re-read the stream's state before every step: commits land between awaits.
        const state = this.engine.streamReadState(name);
        if (state.kind === 'deleted') return this.fail(streamDeletedError(name));
        let end = 0;
        if (state.kind === 'ok') {
          next = Math.max(next ?? state.end, state.first);
          end = state.end;
        } else if (next === null) {
          const st = this.engine.index.stream(name);
          next = st ? st.durableCount(this.engine.durableCount) : 0;
        }
        if (state.kind === 'ok' && next! < end) {
          const revision = next!;
          next = revision + 1;
          await this.send(this.streamFrame(state.stream, revision));
          continue;
        }
        if (!caughtUp) {
          caughtUp = true;
          await this.send(CAUGHT_UP_FRAME);
          continue;
        }
        await this.idleUntilCommit();
      }
    } finally {
      unsubscribe();
    }
  }
}
