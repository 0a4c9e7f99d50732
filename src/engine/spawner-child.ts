/**
 * The spawner process (engine/spawner.ts): starts local scripts for the engine. Forking copies the
 * parent's page tables, so a spawn from the engine's large process blocks its event loop for
 * milliseconds; this process stays small and does the forking instead. Messages over IPC:
 * in `{ run: id, shell, command, cwd, env }` and `{ kill: id }`; out `{ id, stream, data }` and
 * `{ id, exit, signal, error? }`. When the engine goes away, every script it started is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';

type In = { run: number; shell: string; command: string; cwd: string; env: Record<string, string> } | { kill: number };

const running = new Map<number, ChildProcess>();
const killGroup = (c: ChildProcess) => { try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* already gone */ } };
// with a callback a write to an engine that just went away is an ignored error, not a crash (EPIPE)
const send = (m: unknown) => { if (process.connected) process.send!(m, undefined, undefined, () => undefined); };

process.on('message', (m: In) => {
  if ('kill' in m) {
    const c = running.get(m.kill);
    if (c) killGroup(c);
    return;
  }
  const id = m.run;
  let child: ChildProcess;
  try {
    child = spawn(m.shell, ['-c', m.command], { cwd: m.cwd, env: m.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    send({ id, exit: null, signal: null, error: (e as Error).message });
    return;
  }
  running.set(id, child);
  child.stdout!.on('data', (b: Buffer) => send({ id, stream: 'stdout', data: b.toString() }));
  child.stderr!.on('data', (b: Buffer) => send({ id, stream: 'stderr', data: b.toString() }));
  child.on('error', (e) => { running.delete(id); send({ id, exit: null, signal: null, error: e.message }); });
  child.on('close', (code, signal) => { if (running.delete(id)) send({ id, exit: code, signal }); });
});

// the engine died or closed the channel: nothing it started may outlive it
process.on('disconnect', () => {
  for (const c of running.values()) killGroup(c);
  process.exit(0);
});
