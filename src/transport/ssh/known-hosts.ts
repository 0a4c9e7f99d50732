/**
 * Host keys in an OpenSSH known_hosts file (`<ws>/.provisioning/known_hosts`): recorded on
 * first use, verified after (ssh.host_key_checking = strict | accept_new | off). Reads plain
 * and hashed (`|1|salt|hash`) host patterns; writes plain ones, `[host]:port` for port ≠ 22.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProvError } from '../../errors/index.js';

export type HostKeyChecking = 'strict' | 'accept_new' | 'off';

export interface KnownKey {
  line: number;
  type: string;
  /** base64 key blob */
  key: string;
}

/** `SHA256:<base64, no padding>` as `ssh-keygen -l` prints it. */
export const fingerprint = (blob: Buffer): string => `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

/** The key type named at the start of an SSH public key blob (`ssh-ed25519`, …). */
export function keyType(blob: Buffer): string {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + len).toString('latin1');
}

export const hostPattern = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`);

function patternMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return field.split(',').includes(name);
}

/** Keys recorded for host:port (markers such as @cert-authority and @revoked are not used here). */
export function lookup(file: string, host: string, port: number): KnownKey[] {
  if (!existsSync(file)) return [];
  const name = hostPattern(host, port);
  const found: KnownKey[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) return;
    const [hosts, type, key] = line.split(/\s+/);
    if (hosts && type && key && patternMatches(hosts, name)) found.push({ line: i + 1, type, key });
  });
  return found;
}

export function record(file: string, host: string, port: number, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${hostPattern(host, port)} ${keyType(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}

/**
 * Check a presented host key; records it when new and allowed. Returns the refusal, if any.
 * A host known only under other key types is refused like a changed key (a downgrade to an
 * unrecorded type is what an interceptor would try).
 */
export function verifyHostKey(file: string, mode: HostKeyChecking, host: string, port: number, blob: Buffer): ProvError | undefined {
  if (mode === 'off') return undefined;
  const presented = blob.toString('base64');
  const type = keyType(blob);
  const known = lookup(file, host, port);
  if (known.some((k) => k.type === type && k.key === presented)) return undefined;
  const name = hostPattern(host, port);
  const got = fingerprint(blob);
  const expected = known.find((k) => k.type === type) ?? known[0];
  if (expected) {
    const want = fingerprint(Buffer.from(expected.key, 'base64'));
    return new ProvError('HOST_KEY_CHANGED', `host key of ${host}:${port} has changed: expected ${want} (${expected.type}), presented ${got} (${type})`, {
      hint: `if the server was re-created, delete line ${expected.line} of ${file} (or run: ssh-keygen -R '${name}' -f ${file}) and connect again; otherwise someone may be intercepting the connection`,
      location: { file, line: expected.line },
      details: { host, port, expected_fingerprint: want, presented_fingerprint: got, key_type: type },
    });
  }
  if (mode === 'strict') {
    return new ProvError('HOST_KEY_UNKNOWN', `host key of ${host}:${port} is not in ${file} and ssh.host_key_checking is "strict"`, {
      hint: `check the fingerprint ${got} (${type}) out of band, then add this line to ${file}: ${name} ${type} ${presented}`,
      location: { file },
      details: { host, port, presented_fingerprint: got, key_type: type },
    });
  }
  record(file, host, port, blob);
  return undefined;
}

/** Host key algorithms to offer so that a known host presents a key type we recorded. */
export function preferredAlgorithms(file: string, host: string, port: number): string[] | undefined {
  const types = [...new Set(lookup(file, host, port).map((k) => k.type))];
  if (types.length === 0) return undefined;
  return types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
}
