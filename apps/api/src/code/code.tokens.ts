/** The `test-runs` queue: the API enqueues one job per TestRunRequested, keyed by the event's id. */
export const TEST_RUNS_QUEUE = Symbol('TestRunsQueue');
