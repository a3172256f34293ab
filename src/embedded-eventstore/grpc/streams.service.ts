import {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
  ServiceDefinition,
  status,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import { Empty as GoogleEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import {
  Empty,
  AllStreamPosition,
  MaximumAppendSizeExceeded,
  StreamDeleted,
  StreamIdentifier,
  Timeout,
  Unknown,
  UUID,
  WrongExpectedVersion,
} from '@eventstore/db-client/generated/shared_pb';
import { Code } from '@eventstore/db-client/generated/code_pb';
import { Status } from '@eventstore/db-client/generated/status_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import {
  AppendReq,
  AppendResp,
  BatchAppendResp,
  DeleteReq,
  DeleteResp,
  ReadReq,
  TombstoneReq,
  TombstoneResp,
} from '@eventstore/db-client/generated/streams_pb';
import {
  AppendOutcome,
  DeleteOutcome,
  EventStoreEngine,
  EXPECTED_ANY,
  EXPECTED_NO_STREAM,
  EXPECTED_STREAM_EXISTS,
} from '../engine/event-store.engine';
import { NewEvent } from '../storage/recorded-event.codec';
import { BatchAppendOptions, BatchAppendRequest, decodeBatchAppendReq } from './batch-append.codec';
import { AppendSizeRule, appendSizeRuleOf, MAX_APPEND_SIZE, toNewEvent } from './proposed-event';
import { SERVER_VERSION } from './server-features.service';
import { ReadSession } from './read.handler';
import {
  deadlineExceededError,
  maximumAppendSizeError,
  missingMetadataError,
  streamDeletedError,
  wrongExpectedVersionError,
} from './rpc-errors';

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/**
 * The Streams service definition with two changes on the hot paths: Read responses may be
 * pre-encoded Buffers (see read-frames.ts), and BatchAppend requests skip google-protobuf.
 */
export function streamsServiceDefinition(): ServiceDefinition {
  const def = { ...StreamsService } as unknown as Record<string, Record<string, unknown>>;
  const readDef = { ...def.read };
  const original = readDef.responseSerialize as (value: unknown) => Buffer;
  readDef.responseSerialize = (value: unknown) => (Buffer.isBuffer(value) ? value : original(value));
  def.read = readDef;
  // BatchAppend requests are decoded directly into events (batch-append.codec.ts).
  def.batchAppend = { ...def.batchAppend, requestDeserialize: decodeBatchAppendReq };
  return def as unknown as ServiceDefinition;
}

function streamName(identifier: StreamIdentifier | undefined): string {
  return Buffer.from(identifier?.getStreamName_asU8() ?? []).toString('utf8');
}

interface ExpectedOptions {
  hasAny(): boolean;
  hasNoStream(): boolean;
  hasStreamExists(): boolean;
}

function expectedOf(o: ExpectedOptions, exact: () => string): number {
  if (o.hasAny()) return EXPECTED_ANY;
  if (o.hasNoStream()) return EXPECTED_NO_STREAM;
  if (o.hasStreamExists()) return EXPECTED_STREAM_EXISTS;
  return Number(exact());
}

/** Whether a call's gRPC deadline (`grpc-timeout`) has passed. */
function deadlinePassed(call: { getDeadline(): Date | number }): boolean {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms <= Date.now();
}

export class StreamsHandlers {
  /** MaxAppendSize is counted the way the version ServerFeatures reports counts it. */
  private readonly sizeOf: AppendSizeRule;

  constructor(
    private readonly engine: EventStoreEngine,
    serverVersion = SERVER_VERSION,
  ) {
    this.sizeOf = appendSizeRuleOf(serverVersion);
  }

  implementation(): UntypedServiceImplementation {
    return {
      read: this.read,
      append: this.append,
      batchAppend: this.batchAppend,
      delete: this.delete,
      tombstone: this.tombstone,
    };
  }

  private readonly read: handleServerStreamingCall<ReadReq, Buffer> = (call) => {
    new ReadSession(this.engine, call).run().catch((err: Error) => {
      call.emit('error', { code: status.INTERNAL, details: err.message });
    });
  };

  private readonly append: handleClientStreamingCall<AppendReq, AppendResp> = (call, callback) => {
    let options: AppendReq.Options | undefined;
    const events: NewEvent[] = [];
    let size = 0;
    let failed = false;
    const fail = (err: Parameters<typeof callback>[0]) => {
      if (failed) return;
      failed = true;
      callback(err);
    };
    call.on('data', (req: AppendReq) => {
      if (failed) return;
      // A real server answers DeadlineExceeded before any other check once the deadline passed.
      if (deadlinePassed(call)) return fail(deadlineExceededError());
      if (req.hasOptions()) {
        options = req.getOptions();
        return;
      }
      const m = req.getProposedMessage();
      if (!m) return;
      const e = toNewEvent(m);
      if (typeof e === 'string') return fail(missingMetadataError(e));
      size += this.sizeOf(e);
      if (size > MAX_APPEND_SIZE) return fail(maximumAppendSizeError(MAX_APPEND_SIZE));
      events.push(e);
    });
    call.on('end', () => {
      if (failed || !options) return;
      if (deadlinePassed(call)) return fail(deadlineExceededError());
      const o = options;
      const name = streamName(o.getStreamIdentifier());
      const expected = expectedOf(o, () => o.getRevision());
      this.engine.append(name, expected, events).then(
        (outcome) => {
          if (outcome.kind === 'stream_deleted') return fail(streamDeletedError(name));
          callback(null, appendResponse(outcome));
        },
        (err: Error) => fail({ code: status.UNAVAILABLE, details: err.message }),
      );
    });
  };

  private readonly batchAppend: handleBidiStreamingCall<BatchAppendRequest, BatchAppendResp> = (call) => {
    interface Pending {
      options?: BatchAppendOptions;
      events: NewEvent[];
      size: number;
      error?: Status;
    }
    const pending = new Map<string, Pending>();
    let inFlight = 0;
    let ended = false;
    const finish = () => {
      if (ended && inFlight === 0 && !call.cancelled) call.end();
    };
    const respond = (resp: BatchAppendResp) => {
      if (!call.cancelled && call.writable) call.write(resp);
    };
    call.on('data', (req: BatchAppendRequest) => {
      let p = pending.get(req.correlationId);
      if (!p) {
        p = { events: [], size: 0 };
        pending.set(req.correlationId, p);
      }
      if (req.options) p.options = req.options;
      // The deadline inside the request comes first, as on a real server: an append whose
      // deadline already passed is answered Timeout whatever its size.
      const deadlineMs = p.options?.deadlineMs;
      if (!p.error && deadlineMs !== undefined && deadlineMs < Date.now()) {
        p.error = timeoutStatus();
        p.events = [];
      }
      if (!p.error && req.missingProperty) {
        p.error = rpcStatus(
          status.INVALID_ARGUMENT,
          `Required Metadata Property '${req.missingProperty}' is missing`,
        );
      }
      if (!p.error) {
        for (const e of req.events) {
          p.size += this.sizeOf(e);
          if (p.size > MAX_APPEND_SIZE) {
            const detail = new MaximumAppendSizeExceeded();
            detail.setMaxappendsize(MAX_APPEND_SIZE);
            p.error = rpcStatus(
              status.INVALID_ARGUMENT,
              `Maximum Append Size of ${MAX_APPEND_SIZE} Exceeded.`,
              detail,
              'event_store.client.MaximumAppendSizeExceeded',
            );
            p.events = [];
            break;
          }
          p.events.push(e);
        }
      }
      if (!req.isFinal) return;
      pending.delete(req.correlationId);
      const o = p.options ?? { streamName: '', expected: EXPECTED_ANY, deadlineMs: undefined };
      const base = () => batchResponseBase(req.correlationIdBytes, o);
      if (p.error) {
        respond(base().setError(p.error));
        return;
      }
      if (o.deadlineMs !== undefined && o.deadlineMs < Date.now()) {
        respond(base().setError(timeoutStatus()));
        return;
      }
      inFlight++;
      this.engine
        .append(o.streamName, o.expected, p.events)
        .then((outcome) => batchResponse(base(), outcome, o.streamName))
        // Any failure, the engine's or building the answer, still answers this append: otherwise
        // the client waits out its deadline for a response that never comes.
        .catch((err: Error) => base().setError(rpcStatus(status.UNAVAILABLE, err.message)))
        .then(respond)
        .finally(() => {
          inFlight--;
          finish();
        });
    });
    call.on('end', () => {
      ended = true;
      finish();
    });
    call.on('error', () => undefined);
  };

  private readonly delete: handleUnaryCall<DeleteReq, DeleteResp> = (call, callback) => {
    const o = call.request.getOptions() ?? new DeleteReq.Options();
    const name = streamName(o.getStreamIdentifier());
    const expected = expectedOf(o, () => o.getRevision());
    answerRemoval(
      this.engine.deleteStream(name, expected),
      name,
      () => new DeleteResp(),
      () => new DeleteResp.Position(),
      callback,
    );
  };

  private readonly tombstone: handleUnaryCall<TombstoneReq, TombstoneResp> = (call, callback) => {
    const o = call.request.getOptions() ?? new TombstoneReq.Options();
    const name = streamName(o.getStreamIdentifier());
    const expected = expectedOf(o, () => o.getRevision());
    answerRemoval(
      this.engine.tombstone(name, expected),
      name,
      () => new TombstoneResp(),
      () => new TombstoneResp.Position(),
      callback,
    );
  };
}

/**
 * Delete and tombstone answer alike: the error of a refused removal, or the response with the log
 * position of a done one (none when there was nothing to remove).
 */
function answerRemoval<
  Position extends { setCommitPosition(value: string): unknown; setPreparePosition(value: string): unknown },
  Resp extends { setPosition(value?: Position): unknown },
>(
  removal: Promise<DeleteOutcome>,
  name: string,
  response: () => Resp,
  position: () => Position,
  callback: sendUnaryData<Resp>,
): void {
  removal.then(
    (outcome) => {
      const err = deleteError(outcome, name);
      if (err) return callback(err);
      const resp = response();
      if (outcome.kind === 'success') {
        const pos = position();
        pos.setCommitPosition(String(outcome.position));
        pos.setPreparePosition(String(outcome.position));
        resp.setPosition(pos);
      }
      callback(null, resp);
    },
    (err: Error) => callback({ code: status.UNAVAILABLE, details: err.message }),
  );
}

function deleteError(outcome: DeleteOutcome, name: string) {
  if (outcome.kind === 'stream_deleted') return streamDeletedError(name);
  if (outcome.kind === 'wrong_expected_version') {
    return wrongExpectedVersionError(name, outcome.expected, outcome.current);
  }
  return null;
}

function appendResponse(outcome: Exclude<AppendOutcome, { kind: 'stream_deleted' }>): AppendResp {
  const resp = new AppendResp();
  if (outcome.kind === 'success') {
    const success = new AppendResp.Success();
    success.setCurrentRevision(String(outcome.revision));
    const pos = new AppendResp.Position();
    pos.setCommitPosition(String(outcome.position));
    pos.setPreparePosition(String(outcome.position));
    success.setPosition(pos);
    resp.setSuccess(success);
    return resp;
  }
  const wev = new AppendResp.WrongExpectedVersion();
  if (outcome.current >= 0) wev.setCurrentRevision(String(outcome.current));
  else wev.setCurrentNoStream(new Empty());
  switch (outcome.expected) {
    case EXPECTED_ANY:
      wev.setExpectedAny(new Empty());
      break;
    case EXPECTED_NO_STREAM:
      wev.setExpectedNoStream(new Empty());
      break;
    case EXPECTED_STREAM_EXISTS:
      wev.setExpectedStreamExists(new Empty());
      break;
    default:
      wev.setExpectedRevision(String(outcome.expected));
  }
  resp.setWrongExpectedVersion(wev);
  return resp;
}

function timeoutStatus(): Status {
  return rpcStatus(
    status.DEADLINE_EXCEEDED,
    'Deadline Exceeded',
    new Timeout(),
    'event_store.client.Timeout',
  );
}

function rpcStatus(
  code: status,
  message: string,
  detail?: { serializeBinary(): Uint8Array },
  typeName?: string,
): Status {
  const s = new Status();
  // google.rpc.Code and gRPC status share their numbering.
  s.setCode(code as number as Code);
  s.setMessage(message);
  // Always with details: the client (6.2.1) unpacks a BatchAppend error's details without checking
  // that there are any, and throws a TypeError out of its stream handler when there are none, so the
  // append never settles. `Unknown` is what it maps to its UnknownError.
  const any = new Any();
  if (detail && typeName) any.pack(detail.serializeBinary(), typeName, TYPE_URL_PREFIX);
  else any.pack(new Unknown().serializeBinary(), 'event_store.client.Unknown', TYPE_URL_PREFIX);
  s.setDetails(any);
  return s;
}

function batchResponseBase(correlationIdBytes: Buffer, o: BatchAppendOptions): BatchAppendResp {
  const resp = new BatchAppendResp();
  resp.setCorrelationId(UUID.deserializeBinary(correlationIdBytes));
  const ident = new StreamIdentifier();
  ident.setStreamName(Buffer.from(o.streamName, 'utf8'));
  resp.setStreamIdentifier(ident);
  switch (o.expected) {
    case EXPECTED_ANY:
      resp.setAny(new GoogleEmpty());
      break;
    case EXPECTED_NO_STREAM:
      resp.setNoStream(new GoogleEmpty());
      break;
    case EXPECTED_STREAM_EXISTS:
      resp.setStreamExists(new GoogleEmpty());
      break;
    default:
      resp.setStreamPosition(String(o.expected));
  }
  return resp;
}

function batchResponse(resp: BatchAppendResp, outcome: AppendOutcome, name: string): BatchAppendResp {
  if (outcome.kind === 'success') {
    const success = new BatchAppendResp.Success();
    success.setCurrentRevision(String(outcome.revision));
    const pos = new AllStreamPosition();
    pos.setCommitPosition(String(outcome.position));
    pos.setPreparePosition(String(outcome.position));
    success.setPosition(pos);
    return resp.setSuccess(success);
  }
  if (outcome.kind === 'stream_deleted') {
    const detail = new StreamDeleted();
    const ident = new StreamIdentifier();
    ident.setStreamName(Buffer.from(name, 'utf8'));
    detail.setStreamIdentifier(ident);
    return resp.setError(
      rpcStatus(
        status.FAILED_PRECONDITION,
        `Event stream '${name}' is deleted.`,
        detail,
        'event_store.client.StreamDeleted',
      ),
    );
  }
  const detail = new WrongExpectedVersion();
  if (outcome.current >= 0) detail.setCurrentStreamRevision(String(outcome.current));
  else detail.setCurrentNoStream(new GoogleEmpty());
  switch (outcome.expected) {
    case EXPECTED_ANY:
      detail.setExpectedAny(new GoogleEmpty());
      break;
    case EXPECTED_NO_STREAM:
      detail.setExpectedNoStream(new GoogleEmpty());
      break;
    case EXPECTED_STREAM_EXISTS:
      detail.setExpectedStreamExists(new GoogleEmpty());
      break;
    default:
      detail.setExpectedStreamPosition(String(outcome.expected));
  }
  return resp.setError(
    rpcStatus(
      status.FAILED_PRECONDITION,
      `Append failed due to WrongExpectedVersion. Stream: ${name}, Expected version: ${outcome.expected}, Actual version: ${outcome.current}`,
      detail,
      'event_store.client.WrongExpectedVersion',
    ),
  );
}
