export {
  startEmbeddedEventStore,
  EmbeddedEventStore,
  EmbeddedEventStoreOptions,
} from './embedded-eventstore.server';
