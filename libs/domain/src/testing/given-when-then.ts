import type { Decider } from '../shared/decider';
import type { DomainEvent } from '../shared/event';

/**
 * `given([events]).when(command).then([events])` / `.thenThrows(ErrorClass)` for deciders.
 * Only for tests; it lives here so every bounded context's tests read the same way.
 */
export function deciderSpec<Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) {
  return {
    given(history: Event[]) {
      const state = history.reduce(decider.evolve, decider.initialState());
      return {
        when(command: Command) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: Event[]) {
              expect(run()).toEqual(expected);
            },
            thenThrows(errorClass: new (...args: never[]) => Error, code?: string) {
              let thrown: unknown;
              try {
                run();
              } catch (error) {
                thrown = error;
              }
              expect(thrown).toBeInstanceOf(errorClass);
              if (code !== undefined) expect((thrown as { code?: string }).code).toBe(code);
            },
          };
        },
      };
    },
  };
}
