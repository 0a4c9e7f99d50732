/**
 * The workspace key: when no SSH key of the user exists (`ssh.private_key` left at its default and
 * neither ~/.ssh/id_ed25519 nor id_rsa present), servers the platform creates get a key pair of
 * the workspace's own, `<paths.state>/ssh/id_ed25519`, generated on first use.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';
import { ProvError } from '../../errors/index.js';

export const workspaceKeyFile = (stateDir: string): string => join(stateDir, 'ssh', 'id_ed25519');

/** Generate an ed25519 pair (private 0600, `.pub` beside it) unless the file exists. */
export function ensureKeyPair(file: string, comment: string): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
}

/** The OpenSSH one-line public key of a private key file (no `.pub` needed). */
export function publicKeyLine(privateKeyFile: string): string {
  let text: Buffer;
  try {
    text = readFileSync(privateKeyFile);
  } catch (err) {
    throw new ProvError('AUTH_REQUIRED', `SSH key ${privateKeyFile} cannot be read (${(err as NodeJS.ErrnoException).code})`, {
      location: { resource: 'ssh.private_key' }, hint: 'set ssh.private_key to an existing OpenSSH private key, or unset it to use the workspace key',
    });
  }
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) {
    const pub = existsSync(`${privateKeyFile}.pub`) ? readFileSync(`${privateKeyFile}.pub`, 'utf8').trim() : '';
    if (pub) return pub; // a passphrase-protected key: its .pub still says what to install
    throw new ProvError('AUTH_REQUIRED', `SSH key ${privateKeyFile} is not a usable OpenSSH private key${key instanceof Error ? `: ${key.message}` : ''}`, {
      location: { resource: 'ssh.private_key' }, hint: 'point ssh.private_key at an unencrypted key, or keep a .pub file beside a passphrase-protected one',
    });
  }
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}
