/**
 * The NBD wire format (NetworkBlockDevice/nbd doc/proto.md), shared by the client
 * (protocol/nbd.ts) and the server (nbd/server.ts): magic numbers, option, command, reply
 * and flag values, the errno mapping, and encoders for the fixed-size messages.
 *
 * All integers are big-endian. 64-bit fields (sizes, offsets, cookies) are written as two
 * 32-bit halves: offsets are below 2^53, and a cookie is (tag, slot) as the client picks it.
 */

/** "NBDMAGIC", then "IHAVEOPT": the newstyle greeting. */
export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
/** The oldstyle greeting's second magic (we refuse oldstyle servers). */
export const CLISERV_MAGIC = 0x00420281861253n;
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;

export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** IANA's port for NBD. */
export const NBD_PORT = 10809;

// Handshake flags (server) and client flags.
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

// Transmission flags.
export const FLAG_HAS_FLAGS = 1 << 0;
export const FLAG_READ_ONLY = 1 << 1;
export const FLAG_SEND_FLUSH = 1 << 2;
export const FLAG_SEND_FUA = 1 << 3;
export const FLAG_ROTATIONAL = 1 << 4;
export const FLAG_SEND_TRIM = 1 << 5;
export const FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const FLAG_SEND_DF = 1 << 7;
export const FLAG_CAN_MULTI_CONN = 1 << 8;
export const FLAG_SEND_CACHE = 1 << 10;
export const FLAG_SEND_FAST_ZERO = 1 << 11;

// Options.
export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_LIST = 3;
export const OPT_STARTTLS = 5;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_LIST_META_CONTEXT = 9;
export const OPT_SET_META_CONTEXT = 10;

// Option replies; errors have bit 31 set.
export const REP_ACK = 1;
export const REP_SERVER = 2;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
export const REP_FLAG_ERROR = 0x80000000;
export const REP_ERR_UNSUP = 0x80000001;
export const REP_ERR_POLICY = 0x80000002;
export const REP_ERR_INVALID = 0x80000003;
export const REP_ERR_PLATFORM = 0x80000004;
export const REP_ERR_TLS_REQD = 0x80000005;
export const REP_ERR_UNKNOWN = 0x80000006;
export const REP_ERR_SHUTDOWN = 0x80000007;
export const REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
export const REP_ERR_TOO_BIG = 0x80000009;

// NBD_REP_INFO types.
export const INFO_EXPORT = 0;
export const INFO_NAME = 1;
export const INFO_DESCRIPTION = 2;
export const INFO_BLOCK_SIZE = 3;

// Commands and command flags.
export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_TRIM = 4;
export const CMD_CACHE = 5;
export const CMD_WRITE_ZEROES = 6;
export const CMD_BLOCK_STATUS = 7;

export const CMD_FLAG_FUA = 1 << 0;
export const CMD_FLAG_NO_HOLE = 1 << 1;
export const CMD_FLAG_DF = 1 << 2;
export const CMD_FLAG_REQ_ONE = 1 << 3;
export const CMD_FLAG_FAST_ZERO = 1 << 4;

// Structured replies.
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
export const REPLY_TYPE_ERROR = 0x8001;
export const REPLY_TYPE_ERROR_OFFSET = 0x8002;
export const REPLY_TYPE_IS_ERROR = 0x8000;

// base:allocation flags.
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;
export const BASE_ALLOCATION = 'base:allocation';

/** Sizes of the fixed parts of messages. */
export const REQUEST_SIZE = 28;
export const SIMPLE_REPLY_SIZE = 16;
export const STRUCTURED_REPLY_SIZE = 20;
export const OPTION_HEADER_SIZE = 16;
export const OPTION_REPLY_HEADER_SIZE = 20;

/** Limits: the spec's default maximum payload, and its cap on strings (names, messages). */
export const DEFAULT_MAX_PAYLOAD = 32 << 20;
export const MAX_STRING = 4096;
/** The spec's cap on descriptors in one block status chunk (2^20). */
export const MAX_EXTENTS = 1 << 20;

// Error values on the wire.
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

const errnoNames: Record<number, string> = {
  [NBD_EPERM]: 'EPERM',
  [NBD_EIO]: 'EIO',
  [NBD_ENOMEM]: 'ENOMEM',
  [NBD_EINVAL]: 'EINVAL',
  [NBD_ENOSPC]: 'ENOSPC',
  [NBD_EOVERFLOW]: 'EOVERFLOW',
  [NBD_ENOTSUP]: 'ENOTSUP',
  [NBD_ESHUTDOWN]: 'ESHUTDOWN',
};

/** The errno name for an NBD error value (unknown values read as EINVAL, as the spec asks). */
export function errnoFromWire(e: number): string {
  return errnoNames[e] ?? 'EINVAL';
}

/** The NBD error value for an errno name (a BlockError's errno). */
export function errnoToWire(name: string): number {
  switch (name) {
    case 'EPERM': case 'EROFS': case 'EACCES': return NBD_EPERM;
    case 'ENOMEM': return NBD_ENOMEM;
    case 'EINVAL': return NBD_EINVAL;
    case 'ENOSPC': case 'EDQUOT': case 'EFBIG': return NBD_ENOSPC;
    case 'EOVERFLOW': return NBD_EOVERFLOW;
    case 'ENOTSUP': case 'EOPNOTSUPP': return NBD_ENOTSUP;
    case 'ESHUTDOWN': return NBD_ESHUTDOWN;
    default: return NBD_EIO;
  }
}

/** Option reply types in words, for error messages. */
export function optionReplyName(rep: number): string {
  switch (rep >>> 0) {
    case REP_ERR_UNSUP: return 'server does not support this option';
    case REP_ERR_POLICY: return 'option denied by server policy';
    case REP_ERR_INVALID: return 'option is invalid';
    case REP_ERR_PLATFORM: return 'option not supported on this platform';
    case REP_ERR_TLS_REQD: return 'TLS negotiation required before this option';
    case REP_ERR_UNKNOWN: return 'export not available';
    case REP_ERR_SHUTDOWN: return 'server is shutting down';
    case REP_ERR_BLOCK_SIZE_REQD: return 'server requires block size negotiation';
    case REP_ERR_TOO_BIG: return 'option or reply is too large';
    default: return `option reply 0x${(rep >>> 0).toString(16)}`;
  }
}

export const TWO32 = 0x100000000;

/** Writes a 64-bit unsigned `v` (a safe integer) at `at`. */
export function putU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / TWO32), at);
  b.writeUInt32BE(v >>> 0, at + 4);
}

/** Reads a 64-bit unsigned value; above 2^53 it is not exact, which callers treat as out of range. */
export function getU64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * TWO32 + b.readUInt32BE(at + 4);
}

/** A request header: magic, flags, type, cookie (hi, lo), offset, length. */
export function encodeRequest(b: Buffer, at: number, flags: number, type: number, cookieHi: number, cookieLo: number, offset: number, length: number): void {
  b.writeUInt32BE(REQUEST_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(cookieHi >>> 0, at + 8);
  b.writeUInt32BE(cookieLo >>> 0, at + 12);
  b.writeUInt32BE(Math.floor(offset / TWO32), at + 16);
  b.writeUInt32BE(offset >>> 0, at + 20);
  b.writeUInt32BE(length >>> 0, at + 24);
}

/** A simple reply: magic, error, cookie. */
export function encodeSimpleReply(b: Buffer, at: number, error: number, cookieHi: number, cookieLo: number): void {
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, at);
  b.writeUInt32BE(error >>> 0, at + 4);
  b.writeUInt32BE(cookieHi >>> 0, at + 8);
  b.writeUInt32BE(cookieLo >>> 0, at + 12);
}

/** A structured reply chunk header: magic, flags, type, cookie, payload length. */
export function encodeChunkHeader(b: Buffer, at: number, flags: number, type: number, cookieHi: number, cookieLo: number, length: number): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(cookieHi >>> 0, at + 8);
  b.writeUInt32BE(cookieLo >>> 0, at + 12);
  b.writeUInt32BE(length >>> 0, at + 16);
}

/** A client's option: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(data.length, 12);
  b.set(data, OPTION_HEADER_SIZE);
  return b;
}

/** A server's option reply: magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, reply: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(reply >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  b.set(data, OPTION_REPLY_HEADER_SIZE);
  return b;
}

/** A length-prefixed string (u32 length, UTF-8 bytes), as option data spells names and queries. */
export function lengthPrefixed(s: string): Buffer {
  const text = Buffer.from(s, 'utf8');
  const b = Buffer.allocUnsafe(4 + text.length);
  b.writeUInt32BE(text.length, 0);
  text.copy(b, 4);
  return b;
}

/** NBD_OPT_INFO/GO data: name, then the information requests. */
export function encodeGoData(name: string, infos: number[]): Buffer {
  const n = lengthPrefixed(name);
  const b = Buffer.allocUnsafe(n.length + 2 + 2 * infos.length);
  n.copy(b, 0);
  b.writeUInt16BE(infos.length, n.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, n.length + 2 + 2 * i));
  return b;
}

/** NBD_OPT_{SET,LIST}_META_CONTEXT data: export name, then the queries. */
export function encodeMetaContextData(name: string, queries: string[]): Buffer {
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(queries.length, 0);
  return Buffer.concat([lengthPrefixed(name), count, ...queries.map(lengthPrefixed)]);
}

/** What one export is: size, transmission flags, block size constraints. */
export interface ExportInfo {
  size: number;
  flags: number;
  minBlock: number;
  preferredBlock: number;
  maxPayload: number;
  /** Whether the server advertised its block sizes (NBD_INFO_BLOCK_SIZE); else the above are defaults. */
  blockSizesAdvertised?: boolean;
}
