/**
 * The one source of business time. With SUBLEDGER_NOW the clock starts at that instant when the
 * service boots and runs on in real time, so periods can be closed and replayed in tests and demos;
 * without it, it is the wall clock.
 */
export class Clock {
  private offsetMs: number;

  constructor(
    startsAt?: Date,
    private readonly wallClockMs: () => number = Date.now,
  ) {
    this.offsetMs = startsAt ? startsAt.getTime() - wallClockMs() : 0;
  }

  now(): Date {
    return new Date(this.wallClockMs() + this.offsetMs);
  }

  /**
   * Moves the clock forward to `instant` if it reads earlier, and says whether it did: the clock never
   * runs behind the event log (see ClockFloor). It never moves back.
   */
  notBefore(instant: Date): boolean {
    const behindMs = instant.getTime() - this.now().getTime();
    if (!(behindMs > 0)) return false;
    this.offsetMs += behindMs;
    return true;
  }
}
