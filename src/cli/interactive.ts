/**
 * `server ssh <name>` with no command: an interactive shell. Over SSH this hands the terminal to
 * the system's OpenSSH client (what people expect: escape sequences, agent forwarding), pinned to
 * our known_hosts file, which the transport has already checked or filled. Over container exec
 * it attaches a TTY exec session through the engine API.
 */
import { spawn } from 'node:child_process';
import { ProvError } from '../errors/index.js';
import type { Connection } from '../providers/index.js';
import type { SshSettings, Transport, Transports } from '../transport/index.js';
import type { Invocation } from './context.js';

export async function interactiveShell(inv: Invocation, t: Transport, conn: Connection, ssh: SshSettings, transports: Transports): Promise<number> {
  if (!inv.io.stdinIsTTY) {
    throw new ProvError('INVALID_ARGUMENT', `an interactive shell on ${t.target} needs a terminal`, { hint: 'pass a command: `provisioning server ssh <name> -- <command>` (or --command "<cmd>")' });
  }
  if (conn.transport === 'ssh') return sshClient(conn, ssh);
  return execShell(inv, conn, transports);
}

function sshClient(conn: Connection, s: SshSettings): Promise<number> {
  const key = conn.private_key ?? s.privateKey;
  const args = [
    '-t', '-p', String(conn.port ?? 22),
    '-o', `UserKnownHostsFile=${s.knownHosts}`,
    '-o', `StrictHostKeyChecking=${s.hostKeyChecking === 'off' ? 'no' : 'yes'}`,
    ...(key ? ['-i', key, '-o', 'IdentitiesOnly=yes'] : []),
    ...(s.bastion ? ['-J', s.bastion] : []),
    `${conn.user ?? s.defaultUser}@${conn.host}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT'
      ? new ProvError('UNAVAILABLE', 'no `ssh` client on this machine for an interactive shell', { hint: 'install OpenSSH (apt install openssh-client), or pass a command after `--`' })
      : err));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function execShell(inv: Invocation, conn: Connection, transports: Transports): Promise<number> {
  const docker = await transports.docker();
  const container = docker.getContainer(conn.container!);
  const exec = await container.exec({
    Cmd: ['/bin/sh', '-c', 'if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi'],
    AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, User: conn.user ?? 'root',
    Env: [`TERM=${inv.io.env.TERM ?? 'xterm'}`],
  });
  const stream = await exec.start({ hijack: true, stdin: true, Tty: true });
  const stdin = process.stdin;
  const resize = () => void exec.resize({ h: process.stdout.rows ?? 24, w: process.stdout.columns ?? 80 }).catch(() => undefined);
  stdin.setRawMode?.(true);
  stdin.pipe(stream);
  stream.pipe(process.stdout);
  process.stdout.on('resize', resize);
  resize();
  try {
    await new Promise<void>((resolve) => { stream.once('end', resolve); stream.once('close', resolve); });
  } finally {
    stdin.unpipe(stream);
    stdin.setRawMode?.(false);
    stdin.pause();
    process.stdout.off('resize', resize);
  }
  return (await exec.inspect()).ExitCode ?? 0;
}
