import { CiConfigInvalidError } from './git-errors';
import { parseCiConfig, validateCommand } from './ci-config';

describe('parseCiConfig', () => {
  it('accepts {"command": [argv…]}', () => {
    expect(parseCiConfig('{"command": ["sh", "-c", "npm test"]}')).toEqual({ command: ['sh', '-c', 'npm test'] });
  });

  it.each([
    ['not JSON', 'npm test'],
    ['an array', '["npm", "test"]'],
    ['a string command', '{"command": "npm test"}'],
    ['an empty command', '{"command": []}'],
    ['an empty program', '{"command": [" "]}'],
    ['a non-string argument', '{"command": ["sh", 1]}'],
    ['a NUL in an argument', '{"command": ["sh", "a\\u0000b"]}'],
    ['an unknown key', '{"command": ["true"], "env": {"A": "1"}}'],
    ['too many arguments', JSON.stringify({ command: Array(65).fill('x') })],
  ])('refuses %s', (_case, text) => {
    expect(() => parseCiConfig(text)).toThrow(CiConfigInvalidError);
  });

  it('copies the command rather than keeping the caller’s array', () => {
    const argv = ['true'];
    expect(validateCommand(argv)).not.toBe(argv);
  });
});
