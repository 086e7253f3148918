// Experiment only (not in jest.config.js): runs the given test files in the order of JEST_ORDER (comma-separated
// path fragments), to reproduce an unlucky suite-to-worker assignment with --runInBand:
//   JEST_ORDER=event-store.int,organizations-rls npx jest --runInBand --testSequencer ./test/support/ordered-sequencer.js <files…>
const Sequencer = require('@jest/test-sequencer').default;

class OrderedSequencer extends Sequencer {
  sort(tests) {
    const order = (process.env.JEST_ORDER ?? '').split(',').filter(Boolean);
    const rank = (path) => {
      const i = order.findIndex((fragment) => path.includes(fragment));
      return i === -1 ? order.length : i;
    };
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path));
  }
}

module.exports = OrderedSequencer;
