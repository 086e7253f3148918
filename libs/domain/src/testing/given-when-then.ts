import type { Decider } from '../shared/decider';
import type { DomainEvent } from '../shared/event';

/**
 * `given([events]).when(command)` for decider tests: `.events()` is what the decider decided, `.error()` what it
 * threw (undefined when it threw nothing). Tests assert on them with `expect`, so every assertion is in the test.
 */
export function deciderSpec<Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) {
  return {
    given(history: Event[]) {
      const state = history.reduce(decider.evolve, decider.initialState());
      return {
        when(command: Command) {
          return {
            events: (): Event[] => decider.decide(command, state),
            error: (): unknown => {
              try {
                decider.decide(command, state);
                return undefined;
              } catch (error) {
                return error;
              }
            },
          };
        },
      };
    },
  };
}
