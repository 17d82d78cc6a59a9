/**
 * The raw format: guest bytes are protocol bytes, one to one. Sparse where the protocol
 * is (a host file with holes); blockStatus is the protocol's where it has one (NBD's
 * base:allocation), else everything is data because Node has no SEEK_DATA/SEEK_HOLE
 * (qemu-img map on a sparse raw file is finer-grained).
 */
import { BlockError, type BlockExtent, type BlockImage, type BlockProtocol, type CheckResult, type HostRun, type ImageInfo } from './types.js';

export class RawImage implements BlockImage {
  readonly format = 'raw';
  readonly granularity = 512;

  private constructor(
    readonly protocol: BlockProtocol,
    public size: number,
  ) {}

  static async open(protocol: BlockProtocol): Promise<RawImage> {
    return new RawImage(protocol, await protocol.size());
  }

  get readOnly(): boolean {
    return this.protocol.readOnly;
  }

  /** The protocol's own snapshots (RBD), when it keeps any: raw has none of its own. */
  get snapshots(): BlockImage['snapshots'] {
    const s = this.protocol.snapshots;
    if (!s) return undefined;
    return {
      list: () => s.list(),
      create: (name) => s.create(name),
      apply: async (nameOrId) => {
        await s.apply(nameOrId);
        this.size = await this.protocol.size();
      },
      delete: (nameOrId) => s.delete(nameOrId),
      open: async (nameOrId) => RawImage.open(await s.open(nameOrId)),
    };
  }

  private range(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new BlockError(`Request [${offset}, +${length}) is outside the image (size ${this.size})`, 'EINVAL');
    }
  }

  private writable(): void {
    if (this.readOnly) throw new BlockError(`Image '${this.protocol.filename}' is read-only`, 'EROFS');
  }

  // Not async: the protocol's promise is the answer (one frame less on every read); a throw
  // still comes back as a rejection.
  read(buf: Uint8Array, offset: number): Promise<void> {
    try {
      this.range(offset, buf.length);
      return this.protocol.pread(buf, offset);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    try {
      this.writable();
      this.range(offset, buf.length);
      return this.protocol.pwrite(buf, offset);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  flush(): Promise<void> {
    return this.protocol.flush();
  }

  async discard(offset: number, length: number): Promise<void> {
    this.writable();
    this.range(offset, length);
    if (this.protocol.discard) await this.protocol.discard(offset, length);
  }

  async writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    this.writable();
    this.range(offset, length);
    if (this.protocol.writeZeroes) return this.protocol.writeZeroes(offset, length, unmap);
    const chunk = new Uint8Array(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += chunk.length) {
      const n = Math.min(chunk.length, length - done);
      await this.protocol.pwrite(n === chunk.length ? chunk : chunk.subarray(0, n), offset + done);
    }
  }

  async blockStatus(offset: number, length: number): Promise<BlockExtent[]> {
    this.range(offset, length);
    if (!length) return [];
    if (this.protocol.blockStatus) return this.protocol.blockStatus(offset, length);
    return [{ offset, length, data: true, zero: false, depth: 0, hostOffset: offset }];
  }

  async hostMap(offset: number, length: number): Promise<HostRun[] | null> {
    this.range(offset, length);
    const fd = this.protocol.fd;
    return fd === undefined ? null : [{ length, fd, hostOffset: offset }];
  }

  async resize(size: number): Promise<void> {
    this.writable();
    await this.protocol.truncate(size);
    this.size = size;
  }

  async getInfo(): Promise<ImageInfo> {
    return {
      filename: this.protocol.filename,
      format: 'raw',
      virtualSize: this.size,
      actualSize: await this.protocol.allocatedSize?.(),
      snapshots: (await this.protocol.snapshots?.list()) ?? [],
    };
  }

  async check(): Promise<CheckResult> {
    throw new BlockError(`This image format does not support checks`, 'ENOTSUP');
  }

  close(): Promise<void> {
    return this.protocol.close();
  }
}
