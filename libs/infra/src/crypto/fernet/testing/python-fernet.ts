import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';

/**
 * Python's `cryptography.fernet` (the reference implementation) as a test counterpart, run with `python3 -c`.
 * One process serves a whole test file (starting Python costs about a second on a busy machine): each batch of
 * operations is one JSON line on stdin, answered by one JSON line on stdout. Byte strings travel as standard
 * base64; an `InvalidToken` comes back as `{ invalid: true }`.
 */

export type PythonFernetOperation =
  | { op: 'generate_key' }
  | { op: 'encrypt_at_time'; key: string; data: string; time: number }
  | { op: 'decrypt'; key: string; token: string }
  | { op: 'decrypt_at_time'; key: string; token: string; ttl: number; time: number }
  | { op: 'extract_timestamp'; key: string; token: string }
  | { op: 'multi_decrypt'; keys: string[]; token: string }
  | { op: 'multi_rotate'; keys: string[]; token: string };

export type PythonFernetAnswer = { ok: string | number } | { invalid: true };

const SCRIPT = `
import base64, json, sys
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

def run(o):
    op = o["op"]
    if op == "generate_key":
        return Fernet.generate_key().decode()
    if op == "encrypt_at_time":
        return Fernet(o["key"]).encrypt_at_time(base64.b64decode(o["data"]), o["time"]).decode()
    if op == "decrypt":
        return base64.b64encode(Fernet(o["key"]).decrypt(o["token"])).decode()
    if op == "decrypt_at_time":
        return base64.b64encode(Fernet(o["key"]).decrypt_at_time(o["token"], o["ttl"], o["time"])).decode()
    if op == "extract_timestamp":
        return Fernet(o["key"]).extract_timestamp(o["token"])
    if op == "multi_decrypt":
        return base64.b64encode(MultiFernet([Fernet(k) for k in o["keys"]]).decrypt(o["token"])).decode()
    if op == "multi_rotate":
        return MultiFernet([Fernet(k) for k in o["keys"]]).rotate(o["token"]).decode()
    raise ValueError("unknown operation " + op)

def answer(o):
    try:
        return {"ok": run(o)}
    except InvalidToken:
        return {"invalid": True}

for line in sys.stdin:
    print(json.dumps([answer(o) for o in json.loads(line)]), flush=True)
`;

/** Why the interop tests cannot run here, or null when they can. */
export function pythonFernetUnavailable(): string | null {
  const probe = spawnSync('python3', ['-c', 'import cryptography.fernet'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.error) return `python3 cannot be run (${probe.error.message})`;
  if (probe.status !== 0) {
    const lastLine = probe.stderr.trim().split('\n').pop() ?? '';
    return `python3 cannot import cryptography.fernet (${lastLine}); install the Debian package python3-cryptography`;
  }
  return null;
}

export class PythonFernet {
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #pending: ((line: string) => void)[] = [];
  #stderr = '';

  constructor() {
    this.#process = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#process.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.#lines = createInterface({ input: this.#process.stdout });
    this.#lines.on('line', (line) => this.#pending.shift()?.(line));
    this.#process.on('error', (error) => (this.#stderr += String(error)));
  }

  run(operations: readonly PythonFernetOperation[]): Promise<PythonFernetAnswer[]> {
    return new Promise((resolve, reject) => {
      if (this.#process.exitCode !== null) {
        reject(new Error(`python3 exited (${this.#process.exitCode}): ${this.#stderr}`));
        return;
      }
      const onExit = (code: number | null) => reject(new Error(`python3 exited (${code}): ${this.#stderr}`));
      this.#process.once('exit', onExit);
      this.#pending.push((line) => {
        this.#process.off('exit', onExit);
        const answers = JSON.parse(line) as PythonFernetAnswer[];
        if (answers.length === operations.length) resolve(answers);
        else reject(new Error('python3 answered a different number of operations'));
      });
      this.#process.stdin.write(JSON.stringify(operations) + '\n');
    });
  }

  /** Ends Python by closing its stdin, and waits until its pipes are closed too, so Jest's worker can exit. */
  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.#process.once('close', resolve));
    this.#process.stdin.end();
    if (this.#process.exitCode === null || this.#process.stdout.readable) await closed;
    this.#lines.close();
  }
}

/** The value of an answer that must have succeeded. */
export function ok(answer: PythonFernetAnswer | undefined): string {
  if (answer === undefined || !('ok' in answer)) throw new Error(`Python refused the token: ${JSON.stringify(answer)}`);
  return String(answer.ok);
}
