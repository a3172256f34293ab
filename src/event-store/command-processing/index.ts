export * from './command-processing.errors';
export * from './command-processor';
export * from './decider';
export * from './event-envelope';
export { SNAPSHOT_EVENT_TYPE, defaultSnapshotStreamName } from './snapshot-store';
