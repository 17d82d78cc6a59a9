/**
 * Opening an image by name: pick the protocol from the filename's spelling, then the
 * format (given, or probed from the first bytes as qemu-img does, raw as the fallback).
 * Formats register here as they are built.
 */
import { openProtocol as openNamedProtocol } from '../protocol/registry.js';
import { RawImage } from './raw.js';
// Only the probes load up front; a format's code loads when an image of it is opened
// (a raw convert of an NBD export pays for no qcow2 or QED modules).
import { probeQcow2 } from './qcow2/header.js';
import { probeQed } from './qed/header.js';
import { BlockError, type BlockImage, type BlockProtocol, type OpenOptions } from './types.js';

export interface FormatDriver {
  name: string;
  /** A score > 0 if the first bytes (up to 512) look like this format. */
  probe(head: Uint8Array): number;
  open(protocol: BlockProtocol, opts: OpenOptions): Promise<BlockImage>;
}

const formats = new Map<string, FormatDriver>();

export function registerFormat(driver: FormatDriver): void {
  formats.set(driver.name, driver);
}

registerFormat({ name: 'raw', probe: () => 1, open: (p) => RawImage.open(p) });

export function formatNames(): string[] {
  return [...formats.keys()].sort();
}

/** Opens the protocol a filename names (see protocol/registry.ts). */
export async function openProtocol(filename: string, opts: OpenOptions): Promise<BlockProtocol> {
  return openNamedProtocol(filename, { readOnly: opts.readOnly, cache: opts.cache, options: opts.options });
}

export async function openImage(filename: string, opts: OpenOptions = {}): Promise<BlockImage> {
  const protocol = await openProtocol(filename, opts);
  try {
    let driver: FormatDriver | undefined;
    if (opts.format) {
      driver = formats.get(opts.format);
      if (!driver) throw new BlockError(`Unknown driver '${opts.format}'`, 'EINVAL');
    } else {
      const head = new Uint8Array(512);
      await protocol.pread(head, 0);
      let best = 0;
      for (const d of formats.values()) {
        const score = d.probe(head);
        if (score > best) [best, driver] = [score, d];
      }
    }
    return await driver!.open(protocol, opts);
  } catch (e) {
    await protocol.close().catch(() => {});
    throw e;
  }
}

registerFormat({
  name: 'qcow2',
  probe: probeQcow2,
  open: async (p, opts) => (await import('./qcow2/image.js')).Qcow2Image.open(p, opts, openImage),
});

registerFormat({
  name: 'qed',
  probe: probeQed,
  open: async (p, opts) => (await import('./qed/image.js')).QedImage.open(p, opts, openImage),
});
