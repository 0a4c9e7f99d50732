// bench/fleet: the machines. N Debian 12 containers running sshd, each reachable on a port published
// on 127.0.0.1 with the bench's own key; made fresh for every measured run and removed afterwards.
// The engine is the local provider's (Podman behind the Docker API, scripts/engine.sh).
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connectEngine } from '../../dist/src/providers/local/engine.js';
import { prepareImage } from '../../dist/src/providers/local/image.js';
import { CONTAINER_CMD } from '../../dist/src/providers/local/index.js';

export const LABEL = 'provisioning.bench/fleet';
const ENGINE_DIR = process.env.PROVISIONING_ENGINE_DIR ?? '/var/tmp/provisioning-engine';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start (or find) the engine and make sure the local provider's base image is there: Debian 12
 * with sshd and the full python3 (Ansible's modules need json and friends, the service http.server).
 * Returns the engine client and the image tag both tools' containers are made from.
 */
export async function startEngine(root, log = console.error) {
  // From `/`: an engine started here inherits the working directory, which must outlive it (conmon
  // logs "Failed to get working directory" for every container once it is gone).
  const out = execFileSync('bash', [join(root, 'scripts', 'engine.sh')], { cwd: '/', env: { ...process.env, PROVISIONING_ENGINE_DIR: ENGINE_DIR }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const socket = `unix://${out.trim().split('\n').pop()}`;
  const docker = await connectEngine(socket);
  const { tag } = await prepareImage({ docker, cacheDir: join(ENGINE_DIR, 'cache'), progress: log });
  return { socket, docker, image: tag };
}

/** Until the port answers with an SSH banner. */
async function waitSsh(port, deadline) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      const done = (v) => { s.destroy(); resolve(v); };
      s.setTimeout(2000, () => done(false));
      s.once('data', (d) => done(d.toString().startsWith('SSH-')));
      s.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd on 127.0.0.1:${port} did not answer within the deadline`);
    await sleep(100);
  }
}

/**
 * N fresh containers `<prefix>-01…`, labelled with this run's id; resolves when every sshd answers.
 * Returns [{ name, port, id }] in order.
 */
export async function createFleet(docker, { image, n, prefix, runId, publicKey }) {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`);
  const made = [];
  // A few at a time: Podman serialises much of create/start anyway, and 30 at once only adds contention.
  const queue = [...names];
  // allSettled: when one worker fails, the others finish what they are creating before the error
  // reaches the caller's cleanup, so no container is made after it ran.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(6, n) }, async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      for (let attempt = 1; ; attempt++) {
        const c = await docker.createContainer({
          name: `bench-${runId}-${name}`, Image: image, Hostname: name, Labels: { [LABEL]: runId },
          Env: [`PROV_AUTHORIZED_KEYS=${publicKey}`], Entrypoint: CONTAINER_CMD, Cmd: [],
          ExposedPorts: { '22/tcp': {} },
          HostConfig: { PortBindings: { '22/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
        });
        try {
          await c.start();
        } catch (err) {
          // Transient on a busy machine: another process takes the free port the engine picked
          // before the bind ("address already in use"), or runc's child goes away ("broken pipe").
          // Make the container again.
          await c.remove({ force: true }).catch(() => undefined);
          if (attempt < 5) { console.error(`[fleet] starting ${name} failed (${err.message.trim()}); again`); continue; }
          queue.length = 0; // the other workers stop after the container they are making
          throw err;
        }
        const info = await c.inspect();
        made.push({ name, port: Number(info.NetworkSettings.Ports['22/tcp'][0].HostPort), id: c.id });
        break;
      }
    }
  }));
  const failed = settled.find((x) => x.status === 'rejected');
  if (failed) throw failed.reason;
  const deadline = Date.now() + 120_000;
  await Promise.all(made.map((m) => waitSsh(m.port, deadline)));
  return names.map((name) => made.find((m) => m.name === name));
}

/** Force-remove every container of this run (or of every run when runId is undefined). */
export async function removeFleet(docker, runId) {
  const found = await docker.listContainers({ all: true, filters: { label: [runId ? `${LABEL}=${runId}` : LABEL] } });
  await Promise.all(found.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
  return found.length;
}
