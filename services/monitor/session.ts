/**
 * One client of the monitor, on whatever transport carries it (socket, TLS, WebSocket).
 *
 * QMP (qemu docs/interop/qmp-spec): the greeting, then `qmp_capabilities` before anything
 * else; requests are served one after another in the order they came (a slow one delays
 * only this client); events go out as they happen once negotiation is done. A client that
 * sends too much at once stops being read until its queue drains (QEMU queues 8); one
 * that does not read its replies is dropped.
 *
 * HMP: a prompt, a line editor with echo, and hmp.ts behind it.
 */
import { StringDecoder } from 'node:string_decoder';
import { JsonSplitter, parseJson, toJson, JsonError, DEFAULT_LIMITS, type Json } from './json.js';
import { checkMembers, ArgumentError, COMMANDS } from './schema.js';
import { runCommand, QmpError, versionInfo, type CommandContext } from './commands.js';
import { Hmp } from './hmp.js';
import type { MachineLink, QmpEvent } from './machine-link.js';
import { logger } from '../common/log.js';
import { version } from '../common/version.js';

const log = logger('monitor');

/** What a session needs from its transport. */
export interface Transport {
  /** Queues text for the client; false once the client is gone. */
  write(text: string): boolean;
  /** Bytes written but not yet taken by the client. */
  buffered(): number;
  pause(): void;
  resume(): void;
  /** Ends the connection (after what was written). */
  close(): void;
  readonly peer: string;
}

/** Requests queued per client before we stop reading it (QEMU's QMP_REQ_QUEUE_LEN_MAX). */
const QUEUE_MAX = 8;
/** How long a client of an endpoint with a secret has to give it. */
const AUTH_TIMEOUT_MS = 30000;
/** Replies a client may leave unread before it is dropped. */
const MAX_UNREAD = 16 << 20;

export interface SessionOptions {
  link: MachineLink;
  /** A secret the client must give (`authenticate`) before anything else. */
  secret?: (given: string, peer: string) => boolean;
  onClose?: () => void;
}

export abstract class Session {
  protected closed = false;
  protected readonly decoder = new StringDecoder('utf8');
  protected readonly hmp: Hmp;
  protected readonly ctx: CommandContext;

  constructor(
    protected readonly t: Transport,
    protected readonly opts: SessionOptions,
  ) {
    this.hmp = new Hmp(opts.link);
    this.ctx = { link: opts.link, hmp: this.hmp };
  }

  abstract start(): void;
  protected abstract isAuthenticated(): boolean;

  /** A client that must give a secret and does not within AUTH_TIMEOUT_MS is dropped. */
  protected authDeadline(): void {
    if (!this.opts.secret) return;
    setTimeout(() => {
      if (!this.closed && !this.isAuthenticated()) {
        log.warn(`monitor client ${this.t.peer} did not authenticate in time: dropped`);
        this.close();
      }
    }, AUTH_TIMEOUT_MS).unref();
  }
  /** Resolves when no request of this client is in flight. */
  abstract idle(): Promise<void>;
  abstract input(chunk: Buffer | string): void;

  protected send(text: string): void {
    if (this.closed) return;
    if (!this.t.write(text) || this.t.buffered() > MAX_UNREAD) {
      log.warn(`monitor client ${this.t.peer} does not read its replies: dropped`);
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.t.close();
    this.opts.onClose?.();
  }

  ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.onClose?.();
  }
}

interface Request {
  id?: Json;
  hasId: boolean;
  execute: string;
  args: Record<string, Json>;
  /** exec-oob instead of execute. */
  oob: boolean;
}

export class QmpSession extends Session {
  private negotiated = false;
  /** Out-of-band execution was enabled at negotiation. */
  private oob = false;
  private authenticated: boolean;
  private readonly splitter = new JsonSplitter(DEFAULT_LIMITS);
  private readonly queue: (Request | { reply: string })[] = [];
  private busy = false;
  private paused = false;
  private readonly onEvent = (e: QmpEvent) => {
    if (!this.negotiated || this.closed) return;
    const msg: Record<string, unknown> = { timestamp: e.timestamp, event: e.event };
    if (e.data) msg.data = e.data;
    this.send(`${toJson(msg)}\r\n`);
  };

  constructor(t: Transport, opts: SessionOptions) {
    super(t, opts);
    this.authenticated = !opts.secret;
  }

  protected isAuthenticated(): boolean {
    return this.authenticated;
  }

  private idleWaiters: (() => void)[] = [];

  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  start(): void {
    this.authDeadline();
    this.opts.link.on('event', this.onEvent);
    this.send(`${toJson({ QMP: { version: versionInfo(), capabilities: ['oob'] } })}\r\n`);
  }

  override close(): void {
    this.opts.link.off('event', this.onEvent);
    super.close();
  }

  override ended(): void {
    this.opts.link.off('event', this.onEvent);
    super.ended();
  }

  /** One piece of text from the client: zero or more whole JSON messages. */
  input(chunk: Buffer | string): void {
    if (this.closed) return;
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    for (const p of this.splitter.push(text)) {
      if ('error' in p) {
        this.enqueue({ reply: this.error(undefined, false, 'GenericError', p.error) });
        if (p.fatal) {
          log.warn(`monitor client ${this.t.peer}: ${p.error}: dropped`);
          this.flushThenClose();
          return;
        }
        continue;
      }
      this.enqueue(this.parse(p.text));
    }
  }

  /** A whole message from a framed transport (WebSocket): one JSON value. */
  message(text: string): void {
    if (this.closed) return;
    if (text.length > DEFAULT_LIMITS.maxMessage) {
      this.enqueue({ reply: this.error(undefined, false, 'GenericError', `JSON message longer than ${DEFAULT_LIMITS.maxMessage} bytes`) });
      this.flushThenClose();
      return;
    }
    this.enqueue(this.parse(text));
  }

  private flushThenClose(): void {
    this.queue.push({ reply: '' });
    this.closing = true;
    void this.drain();
  }

  private closing = false;

  private error(id: Json | undefined, hasId: boolean, cls: string, desc: string): string {
    const e = { class: cls, desc };
    return `${toJson(hasId ? { id, error: e } : { error: e })}\r\n`;
  }

  /** Checks a request's envelope as QEMU's qmp_dispatch does; an error becomes its reply. */
  private parse(text: string): Request | { reply: string } {
    let v: Json;
    try {
      v = parseJson(text);
    } catch (e) {
      return { reply: this.error(undefined, false, 'GenericError', e instanceof JsonError ? e.message : 'JSON parse error') };
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      return { reply: this.error(undefined, false, 'GenericError', 'QMP input must be a JSON object') };
    }
    const hasId = 'id' in v;
    const id = v.id;
    const fail = (desc: string) => ({ reply: this.error(id, hasId, 'GenericError', desc) });
    for (const [k, x] of Object.entries(v)) {
      if (k === 'execute' || (k === 'exec-oob' && this.oob)) {
        if (typeof x !== 'string') return fail(`QMP input member '${k}' must be a string`);
      } else if (k === 'arguments') {
        if (typeof x !== 'object' || x === null || Array.isArray(x)) return fail("QMP input member 'arguments' must be an object");
      } else if (k !== 'id') return fail(`QMP input member '${k}' is unexpected`);
    }
    const oob = 'exec-oob' in v;
    if (oob && 'execute' in v) return fail("QMP input member 'execute' clashes with 'exec-oob'");
    if (!oob && !('execute' in v)) return fail("QMP input lacks member 'execute'");
    return { id, hasId, execute: (oob ? v['exec-oob'] : v.execute) as string, args: (v.arguments ?? {}) as Record<string, Json>, oob };
  }

  private enqueue(r: Request | { reply: string }): void {
    if (this.closing) return;
    this.queue.push(r);
    if (this.queue.length >= QUEUE_MAX && !this.paused) {
      this.paused = true;
      this.t.pause();
    }
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length && !this.closed) {
        const r = this.queue.shift()!;
        if (this.paused && this.queue.length < QUEUE_MAX) {
          this.paused = false;
          this.t.resume();
        }
        if ('reply' in r) {
          if (r.reply) this.send(r.reply);
          else if (this.closing) this.close();
          continue;
        }
        this.send(await this.execute(r));
      }
    } finally {
      this.busy = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async execute(r: Request): Promise<string> {
    const ok = (ret: Json) => `${toJson(r.hasId ? { return: ret, id: r.id } : { return: ret })}\r\n`;
    const err = (cls: string, desc: string) => this.error(r.id, r.hasId, cls, desc);
    if (!this.authenticated) {
      if (r.execute !== 'authenticate') return err('GenericError', "Authentication required: execute 'authenticate' with the endpoint's secret");
      const s = r.args.secret;
      if (typeof s === 'string' && this.opts.secret!(s, this.t.peer)) {
        this.authenticated = true;
        return ok({});
      }
      // the reply goes out, then the connection is closed
      this.closing = true;
      this.queue.push({ reply: '' });
      return err('GenericError', 'Authentication failed');
    }
    if (!this.negotiated) {
      if (r.execute !== 'qmp_capabilities') return err('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
      try {
        checkMembers(COMMANDS.qmp_capabilities!.args!, r.args);
      } catch (e) {
        return err('GenericError', (e as Error).message);
      }
      // 'oob' is the only capability (the schema checked the names); no command of ours
      // runs out of band, so every exec-oob is refused by name
      this.oob = ((r.args.enable as string[] | undefined) ?? []).includes('oob');
      this.negotiated = true;
      return ok({});
    }
    if (r.execute === 'qmp_capabilities') return err('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    const def = COMMANDS[r.execute];
    if (!def) return err('CommandNotFound', `The command ${r.execute} has not been found`);
    if (r.oob) return err('GenericError', `The command ${r.execute} does not support OOB`);
    try {
      checkMembers(def.args ?? {}, r.args);
      const ret = await runCommand(this.ctx, r.execute, r.args);
      return ok(ret);
    } catch (e) {
      if (e instanceof QmpError) return err(e.errorClass, e.message);
      if (e instanceof ArgumentError) return err('GenericError', e.message);
      const msg = (e as { details?: string }).details ?? (e as Error).message;
      log.warn(`${r.execute} failed: ${msg}`);
      return err('GenericError', msg);
    }
  }
}

/** The banner and prompt of QEMU's HMP, with tsemu's name. */
export const HMP_BANNER = `tsemu ${version()} monitor - type 'help' for more information\r\n`;
const PROMPT = '(qemu) ';
const MAX_LINE = 4096;

export class HmpSession extends Session {
  private line = '';
  private escape = 0;
  private busy: Promise<void> = Promise.resolve();
  private pendingLines = 0;
  private authenticated: boolean;

  constructor(t: Transport, opts: SessionOptions) {
    super(t, opts);
    this.authenticated = !opts.secret;
  }

  protected isAuthenticated(): boolean {
    return this.authenticated;
  }

  idle(): Promise<void> {
    return this.busy;
  }

  start(): void {
    this.authDeadline();
    if (!this.authenticated) {
      this.send('Password: ');
      return;
    }
    this.send(HMP_BANNER + PROMPT);
  }

  input(chunk: Buffer | string): void {
    if (this.closed) return;
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let echo = '';
    for (const ch of text) {
      const c = ch.charCodeAt(0);
      if (this.escape) {
        // ESC [ ... final byte: cursor keys and the like, ignored
        if (this.escape === 1 && ch === '[') this.escape = 2;
        else if (this.escape === 2 && !(c >= 0x40 && c <= 0x7e)) continue;
        else this.escape = 0;
        continue;
      }
      if (c === 0x1b) {
        this.escape = 1;
        continue;
      }
      if (ch === '\r' || ch === '\n') {
        if (ch === '\n' && this.lastWasCr) {
          this.lastWasCr = false;
          continue;
        }
        this.lastWasCr = ch === '\r';
        if (this.authenticated) echo += '\r\n';
        const line = this.line;
        this.line = '';
        this.flushEcho(echo);
        echo = '';
        this.submit(line);
        continue;
      }
      this.lastWasCr = false;
      if (c === 0x7f || c === 0x08) {
        if (this.line.length) {
          this.line = this.line.slice(0, -1);
          if (this.authenticated) echo += '\b \b';
        }
        continue;
      }
      if (c < 0x20) continue;
      if (this.line.length >= MAX_LINE) continue;
      this.line += ch;
      if (this.authenticated) echo += ch;
    }
    this.flushEcho(echo);
  }

  private lastWasCr = false;

  private flushEcho(echo: string): void {
    if (echo) this.send(echo);
  }

  private submit(line: string): void {
    if (++this.pendingLines >= QUEUE_MAX) this.t.pause();
    this.busy = this.busy.then(async () => {
      if (this.closed) return;
      if (!this.authenticated) {
        if (this.opts.secret!(line, this.t.peer)) {
          this.authenticated = true;
          this.send(`\r\n${HMP_BANNER}${PROMPT}`);
        } else this.close();
        return;
      }
      let out: string;
      try {
        out = await this.hmp.run(line);
      } catch (e) {
        out = `${(e as { details?: string }).details ?? (e as Error).message}\r\n`;
      }
      this.send(out);
      if (this.hmp.quitRequested) this.close();
      else this.send(PROMPT);
      if (--this.pendingLines < QUEUE_MAX) this.t.resume();
    });
  }
}
