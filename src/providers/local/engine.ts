/**
 * The container engine of the `local` provider: any Docker Engine API endpoint (Docker's socket,
 * or Podman's Docker-compatible one started by scripts/engine.sh), driven through dockerode.
 */
import Docker from 'dockerode';
import { ProvError } from '../../errors/index.js';

export const DEFAULT_SOCKET = 'unix:///var/run/docker.sock';
const START_HINT = 'start an engine with `bash scripts/engine.sh` (Podman behind the Docker API; it prints the socket path), '
  + 'then set `providers.local.socket` (or DOCKER_HOST) to unix://<that path>';

/** `providers.local.socket`, else DOCKER_HOST, else Docker's default socket (config.md §3.7). */
export function resolveSocket(configured: string | undefined, env: Record<string, string | undefined>): string {
  return configured || env.DOCKER_HOST || DEFAULT_SOCKET;
}

/** A client for `unix:///path`, a bare `/path`, or `tcp://host:port` / `http://host:port`. */
export function engineClient(socket: string): Docker {
  if (socket.startsWith('unix://')) return new Docker({ socketPath: socket.slice('unix://'.length) });
  if (socket.startsWith('/')) return new Docker({ socketPath: socket });
  const m = /^(?:tcp|http):\/\/([^:/]+):(\d+)\/?$/.exec(socket);
  if (m) return new Docker({ host: m[1], port: Number(m[2]), protocol: 'http' });
  throw new ProvError('CONFIG_INVALID', `container engine socket '${socket}' is neither unix:///path nor tcp://host:port`, {
    location: { resource: 'providers.local.socket' },
    hint: 'e.g. unix:///var/tmp/provisioning-engine/podman.sock',
  });
}

/** Connect and check the engine answers; an unreachable socket is UNAVAILABLE (exit 9). */
export async function connectEngine(socket: string): Promise<Docker> {
  const docker = engineClient(socket);
  try {
    // dockerode honours abortSignal on ping, its typings do not declare it; a hung socket must not hang us.
    await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ProvError('UNAVAILABLE', `container engine at ${socket} is not reachable (${e.code ?? e.message})`, {
      location: { resource: 'providers.local.socket' }, hint: START_HINT, details: { socket }, cause: err,
    });
  }
  return docker;
}

/** Whether the engine has an image under this reference. */
export async function hasImage(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}
