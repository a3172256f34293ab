/**
 * Asks `attempt` again, every `everyMs`, until `done` accepts its answer, and returns that answer. An
 * attempt that throws ends the poll with its error unless `retry` accepts the error.
 *
 * No deadline of its own: a condition that never comes is a hang, and jest's timeout fails the test.
 * A wall-clock bound here would be a timing assertion, failing a slow machine's run that the test's own
 * timeout still allows. The poll stops by itself once the test that started it is over (timed out or
 * failed elsewhere), so it never outlives the test. Outside jest (the bench starts its store through
 * these helpers) there is no test to outlive, and it polls until `done` or a thrown error.
 */
export async function pollUntil<T>(
  attempt: () => Promise<T>,
  done: (answer: T) => boolean,
  opts: { everyMs?: number; retry?: (error: unknown) => boolean } = {},
): Promise<T> {
  const test = currentTestName();
  for (;;) {
    try {
      const answer = await attempt();
      if (done(answer)) return answer;
    } catch (error) {
      if (!opts.retry?.(error)) throw error;
    }
    if (currentTestName() !== test) {
      throw new Error(
        `poll abandoned: ${test === undefined ? 'the hook that started it' : `"${test}"`} is over`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, opts.everyMs ?? 100));
  }
}

/** The running jest test's name; undefined in a hook before the file's first test, and outside jest. */
function currentTestName(): string | undefined {
  return typeof expect === 'undefined' ? undefined : expect.getState().currentTestName;
}
