/**
 * A small WebSocket server side (RFC 6455) for browser tools: the HTTP upgrade, then
 * text frames in both directions (one QMP message per frame, as QEMU's websocket
 * chardev carries them), ping/pong and close. Fragmented messages are joined; a
 * message over the limit, a binary or unmasked frame from the client ends the connection.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface Upgrade {
  path: string;
  headers: Record<string, string>;
}

/** Reads the HTTP request head; undefined until it is complete. Throws on garbage. */
export function parseUpgrade(head: string): Upgrade | undefined {
  const end = head.indexOf('\r\n\r\n');
  if (end < 0) {
    if (head.length > 16384) throw new Error('request head too long');
    return undefined;
  }
  const [first, ...lines] = head.slice(0, end).split('\r\n');
  const m = /^GET (\S+) HTTP\/1\.1$/.exec(first ?? '');
  if (!m) throw new Error('not a WebSocket request');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  if ((headers.upgrade ?? '').toLowerCase() !== 'websocket' || !headers['sec-websocket-key']) throw new Error('not a WebSocket request');
  return { path: m[1]!, headers };
}

export function acceptResponse(key: string, protocol?: string): string {
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return (
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n` +
    (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
    '\r\n'
  );
}

/** A frame the server sends: unmasked, FIN set. */
export function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126) {
    head[0] = 0x80 | opcode;
    if (n < 65536) {
      head[1] = 126;
      head.writeUInt16BE(n, 2);
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(n), 2);
    }
  }
  return Buffer.concat([head, payload]);
}

/** Decodes client frames from a byte stream into whole text messages. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private partLen = 0;

  constructor(
    private readonly maxMessage: number,
    private readonly on: {
      text(msg: string): void;
      ping(payload: Buffer): void;
      close(code: number, why: string): void;
    },
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(this.maxMessage)) return this.on.close(1009, 'message too big');
        len = Number(big);
        off = 10;
      }
      if (!masked) return this.on.close(1002, 'client frames must be masked');
      if (len > this.maxMessage || this.partLen + len > this.maxMessage) return this.on.close(1009, 'message too big');
      if (b.length < off + 4 + len) return;
      const mask = b.subarray(off, off + 4);
      const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < len; i++) payload[i]! ^= mask[i & 3]!;
      this.buf = b.subarray(off + 4 + len);
      if (opcode === 0x8) return this.on.close(1000, 'bye');
      if (opcode === 0x9) {
        this.on.ping(payload);
        continue;
      }
      if (opcode === 0xa) continue;
      if (opcode === 0x2) return this.on.close(1003, 'QMP takes text frames');
      if (opcode !== 0x1 && opcode !== 0x0) return this.on.close(1002, 'bad opcode');
      this.parts.push(payload);
      this.partLen += len;
      if (fin) {
        const msg = Buffer.concat(this.parts).toString('utf8');
        this.parts = [];
        this.partLen = 0;
        this.on.text(msg);
      }
    }
  }
}

/**
 * Runs the handshake on a connected socket; resolves with the upgrade request and any
 * bytes that came after it. `check` may refuse (e.g. a bad token) with a status line.
 */
export function handshake(sock: Duplex, check: (u: Upgrade) => string | undefined): Promise<{ up: Upgrade; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      let up: Upgrade | undefined;
      try {
        up = parseUpgrade(head.toString('latin1'));
      } catch (e) {
        sock.off('data', onData);
        sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        reject(e);
        return;
      }
      if (!up) return;
      sock.off('data', onData);
      let refused: string | undefined;
      try {
        refused = check(up);
      } catch {
        refused = '400 Bad Request';
      }
      if (refused) {
        sock.end(`HTTP/1.1 ${refused}\r\nConnection: close\r\n\r\n`);
        reject(new Error(refused));
        return;
      }
      const proto = up.headers['sec-websocket-protocol']?.split(',')[0]?.trim();
      sock.write(acceptResponse(up.headers['sec-websocket-key']!, proto));
      const end = head.indexOf('\r\n\r\n');
      resolve({ up, rest: head.subarray(end + 4) });
    };
    sock.on('data', onData);
    sock.once('close', () => reject(new Error('closed during handshake')));
  });
}
