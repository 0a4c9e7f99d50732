/**
 * Local scripts run through one small helper process (spawner-child.ts), started on first use:
 * a fork from the engine's own process (150 MB and more) blocked its event loop ~8 ms per script,
 * which an orchestrator serving requests and running many scripts cannot afford. If the helper
 * dies, the scripts it ran fail (and are retried like any failure) and the next script starts a
 * new helper.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Out = { id: number; stream: 'stdout' | 'stderr'; data: string } | { id: number; exit: number | null; signal: NodeJS.Signals | null; error?: string };

export interface ScriptRun {
  onOutput(stream: 'stdout' | 'stderr', text: string): void;
  /** resolves when the script ended: its exit code, or the signal that killed it, or why it could not run */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>;
  kill(): void;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'spawner-child.js');
let helper: ChildProcess | undefined;
let next = 1;
const waiting = new Map<number, { out: (s: 'stdout' | 'stderr', t: string) => void; end: (r: { code: number | null; signal: NodeJS.Signals | null; error?: string }) => void }>();

function ensure(): ChildProcess {
  if (helper?.connected) return helper;
  const h = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=64'], serialization: 'json' });
  h.on('message', (m: Out) => {
    const w = waiting.get(m.id);
    if (!w) return;
    if ('stream' in m) w.out(m.stream, m.data);
    else { waiting.delete(m.id); w.end({ code: m.exit, signal: m.signal, ...(m.error ? { error: m.error } : {}) }); }
  });
  h.on('exit', () => {
    if (helper === h) helper = undefined;
    for (const [id, w] of waiting) { waiting.delete(id); w.end({ code: null, signal: null, error: 'the script helper process exited' }); }
  });
  // an idle helper must not keep the engine's process alive
  h.unref();
  (h as unknown as { channel?: { unref(): void } }).channel?.unref();
  helper = h;
  return h;
}

export function runScript(shell: string, command: string, cwd: string, env: Record<string, string>, onOutput: (stream: 'stdout' | 'stderr', text: string) => void): Omit<ScriptRun, 'onOutput'> {
  const h = ensure();
  const id = next++;
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((end) => waiting.set(id, { out: onOutput, end }));
  // a running script keeps the engine's process alive, as a direct child would
  (h as unknown as { channel?: { ref(): void; unref(): void } }).channel?.ref();
  void done.then(() => { if (waiting.size === 0) (h as unknown as { channel?: { unref(): void } }).channel?.unref(); });
  h.send({ run: id, shell, command, cwd, env });
  return { done, kill: () => { if (h.connected) h.send({ kill: id }); } };
}
