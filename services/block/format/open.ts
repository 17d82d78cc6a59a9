/**
 * Opening an image by name: pick the protocol from the filename's spelling, then the
 * format (given, or probed from the first bytes as qemu-img does, raw as the fallback).
 * Formats register here as they are built.
 */
import { openProtocol as openNamedProtocol } from '../protocol/registry.js';
// Protocol drivers register themselves on import: every openImage user gets them all.
import '../protocol/nbd.js';
import '../protocol/rbd.js';
import { RawImage } from './raw.js';
import { Qcow2Image } from './qcow2/image.js';
import { QedImage } from './qed/image.js';
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
  probe: (head) => Qcow2Image.probe(head),
  open: (p, opts) => Qcow2Image.open(p, opts, openImage),
});

registerFormat({
  name: 'qed',
  probe: (head) => QedImage.probe(head),
  open: (p, opts) => QedImage.open(p, opts, openImage),
});
