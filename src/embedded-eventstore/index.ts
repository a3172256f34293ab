export {
  startEmbeddedEventStore,
  exitOnDamagedLog,
  EmbeddedEventStore,
  EmbeddedEventStoreOptions,
} from './embedded-eventstore.server';
