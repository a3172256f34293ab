/** Where a failure reported to `onFailure` happened. */
export type CommandProcessorStage = 'load' | 'prepare' | 'append' | 'evolve' | 'snapshot';

/** Small hooks for metrics and logs; each is optional and must not throw. */
export interface CommandProcessorObserver {
  /** `commands`: those that waited on this append (reads and refusals settled before it are not counted). */
  onAppend?(info: { streamName: string; commands: number; events: number; durationMs: number }): void;
  onConflict?(info: { streamName: string; attempt: number }): void;
  onLoad?(info: { streamName: string; events: number; fromSnapshot: boolean; durationMs: number }): void;
  onSnapshot?(info: { streamName: string; revision: bigint; durationMs: number }): void;
  onFailure?(info: { streamName: string; stage: CommandProcessorStage; error: unknown }): void;
}

export interface CommandProcessorLogger {
  warn(message: string, details: Record<string, unknown>): void;
}

export const consoleLogger: CommandProcessorLogger = {
  warn: (message, details) => console.warn(message, details),
};

type Info<Hook extends keyof CommandProcessorObserver> = Parameters<
  NonNullable<CommandProcessorObserver[Hook]>
>[0];

/**
 * The observer as every part of the processor calls it. A faulty metrics hook must not break command
 * handling, so each call swallows what the hook throws.
 */
export class SafeObserver {
  constructor(private readonly hooks: CommandProcessorObserver) {}

  appended(info: Info<'onAppend'>): void {
    this.notify(() => this.hooks.onAppend?.(info));
  }

  conflicted(info: Info<'onConflict'>): void {
    this.notify(() => this.hooks.onConflict?.(info));
  }

  loaded(info: Info<'onLoad'>): void {
    this.notify(() => this.hooks.onLoad?.(info));
  }

  snapshotted(info: Info<'onSnapshot'>): void {
    this.notify(() => this.hooks.onSnapshot?.(info));
  }

  failed(streamName: string, stage: CommandProcessorStage, error: unknown): void {
    this.notify(() => this.hooks.onFailure?.({ streamName, stage, error }));
  }

  private notify(hook: () => void): void {
    try {
      hook();
    } catch {
      return;
    }
  }
}
