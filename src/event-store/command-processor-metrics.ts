import { Counter, Histogram, type Registry } from 'prom-client';
import type { CommandProcessorObserver } from './command-processing';

/**
 * Prometheus series of a command processor, labelled by the stream category (`ledger`), never by
 * stream: a series per parent would grow without bound. Append latency and batch sizes are what tell
 * whether a hot stream is limited by the store (long appends) or by deciding (small batches).
 */
export function commandProcessorMetrics(registry: Registry, category: string): CommandProcessorObserver {
  const appendSeconds = new Histogram({
    name: 'subledger_append_duration_seconds',
    help: 'One append of a command batch to its stream, until the store acknowledged it (durable)',
    labelNames: ['category'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const batchCommands = new Histogram({
    name: 'subledger_append_batch_commands',
    help: 'Commands whose events went out in one append (group commit at the application level)',
    labelNames: ['category'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  const batchEvents = new Histogram({
    name: 'subledger_append_batch_events',
    help: 'Events written by one append',
    labelNames: ['category'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'subledger_append_conflicts_total',
    help: 'Appends that met another writer (wrong expected version) and were decided again',
    labelNames: ['category'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'subledger_command_processor_failures_total',
    help: 'Loads, appends, folds or snapshot writes that failed, by stage',
    labelNames: ['category', 'stage'] as const,
    registers: [registry],
  });
  const loadSeconds = new Histogram({
    name: 'subledger_stream_load_duration_seconds',
    help: 'Loading a stream into memory (snapshot and tail) before its first decision',
    labelNames: ['category'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  const labels = { category };
  return {
    onAppend: ({ commands, events, durationMs }) => {
      appendSeconds.observe(labels, durationMs / 1000);
      batchCommands.observe(labels, commands);
      batchEvents.observe(labels, events);
    },
    onConflict: () => conflicts.inc(labels),
    onLoad: ({ durationMs }) => loadSeconds.observe(labels, durationMs / 1000),
    onFailure: ({ stage }) => failures.inc({ category, stage }),
  };
}
