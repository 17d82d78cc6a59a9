/**
 * QEMU's secret objects (`-object secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]`),
 * by id, for the options that name one (`key-secret=ID` of an rbd drive). A process holds
 * its own: tsemu-img takes --object, the machine -object, and the block service gets the
 * secrets a device names along with the device (services/cpu/board/virtio-pci-block.ts).
 * As QEMU: `data` (or the file's bytes) is decoded as `format` says, and a user of the
 * secret as base64 (librados' `key`) gets those bytes base64-encoded.
 */
import { readFileSync } from 'node:fs';
import { parseKeyValues } from './cli-args.js';

export class SecretError extends Error {}

const secrets = new Map<string, Uint8Array>();

/**
 * Takes one -object / --object value; true when it was a secret (other object types are
 * the caller's), which is then known by its id.
 */
export function addSecretObject(spec: string): boolean {
  const kv = parseKeyValues(spec, 'qom-type');
  if (kv.get('qom-type') !== 'secret') return false;
  const id = kv.get('id');
  if (!id) throw new SecretError("Parameter 'id' is missing");
  const data = kv.get('data');
  const file = kv.get('file');
  if (data !== undefined && file !== undefined) throw new SecretError("'data' and 'file' are mutually exclusive");
  if (data === undefined && file === undefined) throw new SecretError("'file' or 'data' are required");
  let raw: Uint8Array;
  if (file !== undefined) {
    try {
      raw = readFileSync(file);
    } catch (e) {
      throw new SecretError(`Unable to read ${file}: ${(e as Error).message}`);
    }
  } else raw = new TextEncoder().encode(data);
  const format = kv.get('format') ?? 'raw';
  if (format === 'base64') {
    const text = new TextDecoder().decode(raw).trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new SecretError(`Secret '${id}' is not valid base64 data`);
    raw = Buffer.from(text, 'base64');
  } else if (format !== 'raw') throw new SecretError(`Parameter 'format' does not accept value '${format}'`);
  if (secrets.has(id)) throw new SecretError(`attempt to add duplicate property '${id}' to object`);
  secrets.set(id, raw);
  return true;
}

/** The secret `id` as base64 (what librados takes as `key`). */
export function secretBase64(id: string): string {
  const s = secrets.get(id);
  if (!s) throw new SecretError(`No secret with id '${id}'`);
  return Buffer.from(s).toString('base64');
}

/** Knows the secret `id` by its base64 value (the block service, from a device's properties). */
export function setSecretBase64(id: string, value: string): void {
  secrets.set(id, Buffer.from(value, 'base64'));
}

/** Forgets every secret (a command run in-process starts with none, as a new process would). */
export function clearSecrets(): void {
  secrets.clear();
}
