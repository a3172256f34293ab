import { defaultSnapshotStreamName, toEventData } from '../../src/event-store/command-processing';

describe('event envelope', () => {
  it('gives each event a fresh UUID and lets its own metadata win over the command envelope', () => {
    const event = { type: 'Deposited', data: { amount: 1 }, metadata: { schemaVersion: 2 } };
    const first = toEventData(event, { $correlationId: 'c', schemaVersion: 1 });
    const second = toEventData(event);
    expect(first).toMatchObject({
      type: 'Deposited',
      contentType: 'application/json',
      data: { amount: 1 },
      metadata: { $correlationId: 'c', schemaVersion: 2 },
    });
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second.id).not.toBe(first.id);
    expect(second.metadata).toEqual({ schemaVersion: 2 });
  });
});

describe('event envelope of events without metadata of their own', () => {
  it('is the JSON of the envelope as bytes, encoded once per envelope and shared by its events', () => {
    const envelope = { $correlationId: 'c', actor: { type: 'parent', id: 'p-é' }, schemaVersion: 1 };
    const first = toEventData({ type: 'Deposited', data: { amount: 1 } }, envelope);
    const second = toEventData({ type: 'Deposited', data: { amount: 2 } }, envelope);
    expect(first.metadata).toBeInstanceOf(Uint8Array);
    // The client sends a Uint8Array as is, but copies a Buffer.
    expect((first.metadata as Uint8Array).constructor).toBe(Uint8Array);
    expect(JSON.parse(Buffer.from(first.metadata as Uint8Array).toString('utf8'))).toEqual(envelope);
    expect(second.metadata).toBe(first.metadata);
    const other = toEventData({ type: 'Deposited', data: { amount: 3 } }, { ...envelope });
    expect(other.metadata).not.toBe(first.metadata);
    expect(toEventData({ type: 'Deposited', data: {} }).metadata).toBeUndefined();
  });
});

describe('snapshot stream names', () => {
  it.each([
    ['ledger-p1', 'ledgersnapshot-p1'],
    ['ledger-p1-2026-01', 'ledgersnapshot-p1-2026-01'],
    ['standalone', 'standalonesnapshot'],
  ])('%s → %s, keeping category-id form', (stream, snapshot) => {
    expect(defaultSnapshotStreamName(stream)).toBe(snapshot);
  });
});
