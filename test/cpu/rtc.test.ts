/**
 * The goldfish RTC (services/cpu/board/goldfish-rtc.ts): the time and its latch, setting
 * the time, the alarm and its interrupt, as Linux's rtc-goldfish driver uses them; the
 * alarm fired in time by the watcher; and a scripted sequence run against QEMU's own
 * goldfish RTC (qemu-system-riscv64 -qtest, its clock stopped at a fixed date).
 */
import test from 'ava';
import { GoldfishRtc, hostClockNs, RTC_BASE, RTC_IRQ, RTC_SIZE, RTC_STATE_BYTES } from '../../services/cpu/board/goldfish-rtc.js';
import { Plic } from '../../services/cpu/board/plic.js';
import { CTL } from '../../services/cpu/hart/state.js';
import { MIP_SEIP } from '../../services/cpu/hart/csr.js';
import { sleep, spawnChild, waitFor } from '../helpers/procs.js';

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;

const SEC = 1_000_000_000n;

/** An RTC over fresh shared memory with a clock the test moves, and its interrupt line. */
function makeRtc(start: bigint) {
  const buffer = new SharedArrayBuffer(RTC_STATE_BYTES);
  const clock = { now: start };
  const line = { level: false, changes: 0 };
  const raise = (l: boolean) => {
    if (l !== line.level) line.changes++;
    line.level = l;
  };
  const rtc = new GoldfishRtc(buffer, 0, raise, true, () => clock.now);
  const r = (off: number) => rtc.read(off, 4);
  const w = (off: number, v: number | bigint) => rtc.write(off, 4, Number(BigInt.asUintN(32, BigInt(v))));
  const time = () => {
    const lo = BigInt(r(TIME_LOW));
    return (BigInt(r(TIME_HIGH)) << 32n) | lo;
  };
  const setAlarm = (ns: bigint) => {
    w(ALARM_HIGH, ns >> 32n);
    w(ALARM_LOW, ns & 0xffffffffn);
  };
  return { buffer, clock, line, rtc, r, w, time, setAlarm };
}

const T0 = 1_577_836_800n * SEC; // 2020-01-01T00:00:00Z

test('the map: QEMU virt address, PLIC source 11', (t) => {
  t.is(RTC_BASE, 0x101000);
  t.is(RTC_SIZE, 0x1000);
  t.is(RTC_IRQ, 11);
});

test('time: ns since the epoch; reading TIME_LOW latches TIME_HIGH', (t) => {
  const { clock, r, time } = makeRtc(T0);
  t.is(time(), T0);
  clock.now = 0x1_ffff_fff0n;
  t.is(r(TIME_LOW), 0xfffffff0);
  clock.now = 0x2_0000_0010n; // the low half wraps between the two reads
  t.is(r(TIME_HIGH), 1, 'the high half of the time TIME_LOW was read at');
  t.is(r(TIME_HIGH), 1, 'until the next TIME_LOW read');
  t.is(r(TIME_LOW), 0x10);
  t.is(r(TIME_HIGH), 2);
});

test('the host clock is the wall clock', (t) => {
  const rtc = new GoldfishRtc(new SharedArrayBuffer(RTC_STATE_BYTES), 0, () => {}, true);
  const lo = BigInt(rtc.read(TIME_LOW, 4));
  const ns = (BigInt(rtc.read(TIME_HIGH, 4)) << 32n) | lo;
  const wall = BigInt(Date.now()) * 1_000_000n;
  t.true(ns > wall - 2n * SEC && ns < wall + 2n * SEC, `${ns} vs ${wall}`);
  t.true(hostClockNs() >= ns);
});

test('setting the time: each half written replaces that half, and the clock runs on from there', (t) => {
  const { clock, w, time } = makeRtc(T0);
  const want = 1_700_000_000n * SEC + 123n;
  // Linux's set_time writes TIME_HIGH, then TIME_LOW
  w(TIME_HIGH, want >> 32n);
  w(TIME_LOW, want & 0xffffffffn);
  t.is(time(), want);
  clock.now += 5n * SEC;
  t.is(time(), want + 5n * SEC);
  // backwards too
  w(TIME_HIGH, 0);
  w(TIME_LOW, 1000);
  t.is(time(), 1000n);
});

test('alarm: armed by ALARM_LOW, fires when the time reaches it, raises the line only while enabled', (t) => {
  const { clock, line, r, w, setAlarm } = makeRtc(T0);
  setAlarm(T0 + 10n * SEC);
  t.is(r(ALARM_STATUS), 1);
  t.is((BigInt(r(ALARM_HIGH)) << 32n) | BigInt(r(ALARM_LOW)), T0 + 10n * SEC);
  clock.now = T0 + 10n * SEC - 1n;
  t.is(r(ALARM_STATUS), 1);
  t.false(line.level);
  clock.now = T0 + 10n * SEC;
  t.is(r(ALARM_STATUS), 0, 'fired');
  t.false(line.level, 'interrupt not enabled');
  w(IRQ_ENABLED, 1);
  t.true(line.level, 'the fired alarm is pending: enabling raises the line');
  t.is(r(IRQ_ENABLED), 1);
  w(IRQ_ENABLED, 0);
  t.false(line.level);
  w(IRQ_ENABLED, 1);
  t.true(line.level);
  w(CLEAR_INTERRUPT, 1);
  t.false(line.level);
  t.is(line.changes, 4);
});

test('alarm: one already due fires at once; CLEAR_ALARM disarms; re-arming replaces', (t) => {
  const { clock, line, r, w, setAlarm } = makeRtc(T0);
  w(IRQ_ENABLED, 1);
  setAlarm(T0 - 1n);
  t.is(r(ALARM_STATUS), 0);
  t.true(line.level);
  w(CLEAR_INTERRUPT, 0);
  setAlarm(T0 + SEC);
  w(CLEAR_ALARM, 1);
  t.is(r(ALARM_STATUS), 0);
  clock.now = T0 + 2n * SEC;
  t.is(r(ALARM_STATUS), 0);
  t.false(line.level, 'a disarmed alarm does not fire');
  setAlarm(T0 + 3n * SEC);
  setAlarm(T0 + 5n * SEC);
  clock.now = T0 + 4n * SEC;
  t.is(r(ALARM_STATUS), 1);
  t.false(line.level);
  clock.now = T0 + 5n * SEC;
  t.is(r(ALARM_STATUS), 0);
  t.true(line.level);
});

test('alarm: setting the time past an armed alarm fires it', (t) => {
  const { line, w, r, setAlarm } = makeRtc(T0);
  w(IRQ_ENABLED, 1);
  setAlarm(T0 + 60n * SEC);
  const later = T0 + 120n * SEC;
  w(TIME_HIGH, later >> 32n);
  w(TIME_LOW, later & 0xffffffffn);
  t.is(r(ALARM_STATUS), 0);
  t.true(line.level);
});

test('poll: fires a due alarm and tells how long until the next', (t) => {
  const { clock, line, w, rtc, setAlarm } = makeRtc(T0);
  t.is(rtc.poll(), undefined);
  w(IRQ_ENABLED, 1);
  setAlarm(T0 + 1500n * 1_000_000n);
  t.is(rtc.poll(), 1500);
  clock.now = T0 + 2n * SEC;
  t.is(rtc.poll(), undefined);
  t.true(line.level);
});

test('the state is shared: a second RTC over the same words sees the same registers', (t) => {
  const { buffer, clock, r, w, setAlarm } = makeRtc(T0);
  const other = new GoldfishRtc(buffer, 0, () => {}, false, () => clock.now);
  w(IRQ_ENABLED, 1);
  setAlarm(T0 + SEC);
  t.is(other.read(ALARM_STATUS, 4), 1);
  t.is(other.read(IRQ_ENABLED, 4), 1);
  other.write(CLEAR_ALARM, 4, 1);
  t.is(r(ALARM_STATUS), 0);
});

test('reset: alarm disarmed, interrupt cleared and disabled; the time set by the guest runs on', (t) => {
  const { clock, line, r, w, rtc, setAlarm, time } = makeRtc(T0);
  w(TIME_HIGH, 0x200);
  w(IRQ_ENABLED, 1);
  setAlarm(0x200n << 32n); // due: fires
  t.true(line.level);
  setAlarm((0x300n << 32n));
  rtc.reset();
  t.false(line.level);
  t.is(r(ALARM_STATUS), 0);
  t.is(r(IRQ_ENABLED), 0);
  t.is(r(ALARM_LOW) | r(ALARM_HIGH), 0);
  clock.now += SEC;
  t.is(time() >> 32n, 0x200n);
});

test('wired to the PLIC as on the board: the alarm reaches the hart as SEIP through source 11', (t) => {
  const harts = 1;
  const buffer = new SharedArrayBuffer(Plic.bytesFor(harts) + 256 + RTC_STATE_BYTES);
  const ctl = new Int32Array(buffer, Plic.bytesFor(harts), 64);
  const plic = new Plic(buffer, 0, harts, () => ctl, true);
  const clock = { now: T0 };
  const rtc = new GoldfishRtc(buffer, Plic.bytesFor(harts) + 256, plic.line(RTC_IRQ), true, () => clock.now);
  plic.write(4 * RTC_IRQ, 4, 1); // priority 1
  plic.write(0x2080, 4, 1 << RTC_IRQ); // enabled in context 1: hart 0, S-mode
  rtc.write(IRQ_ENABLED, 4, 1);
  rtc.write(ALARM_HIGH, 4, Number((T0 + SEC) >> 32n));
  rtc.write(ALARM_LOW, 4, Number((T0 + SEC) & 0xffffffffn));
  t.is(Atomics.load(ctl, CTL.IRQ) & MIP_SEIP, 0);
  clock.now = T0 + SEC;
  t.is(rtc.poll(), undefined, 'fired');
  t.is(Atomics.load(ctl, CTL.IRQ) & MIP_SEIP, MIP_SEIP);
  // Linux's handler: claim, clear the device's interrupt, complete
  t.is(plic.read(0x201004, 4), RTC_IRQ);
  rtc.write(CLEAR_INTERRUPT, 4, 1);
  plic.write(0x201004, 4, RTC_IRQ);
  t.is(Atomics.load(ctl, CTL.IRQ) & MIP_SEIP, 0);
  t.is(plic.read(0x1000, 4), 0, 'nothing pending again');
});

test('the alarm watcher fires an alarm in time, woken when another thread arms it', async (t) => {
  const buffer = new SharedArrayBuffer(RTC_STATE_BYTES);
  let raisedAt = 0;
  const watcherSide = new GoldfishRtc(buffer, 0, (l) => {
    if (l && raisedAt === 0) raisedAt = Date.now();
  }, true);
  const stop = watcherSide.watchAlarms();
  t.teardown(stop);
  await sleep(50); // the watcher is asleep now, with no alarm armed (up to a minute)
  const hartSide = new GoldfishRtc(buffer, 0, () => {});
  hartSide.write(IRQ_ENABLED, 4, 1);
  const lo = BigInt(hartSide.read(TIME_LOW, 4));
  const now = (BigInt(hartSide.read(TIME_HIGH, 4)) << 32n) | lo;
  const at = now + 150_000_000n; // 150 ms
  const armedAt = Date.now();
  hartSide.write(ALARM_HIGH, 4, Number(at >> 32n));
  hartSide.write(ALARM_LOW, 4, Number(at & 0xffffffffn));
  await waitFor(() => raisedAt !== 0, 10_000, 'the alarm interrupt');
  t.true(raisedAt - armedAt >= 140, `fired after ${raisedAt - armedAt} ms`);
  t.is(hartSide.read(ALARM_STATUS, 4), 0);
});

// ---- against QEMU ----

test("a scripted sequence agrees with QEMU's goldfish RTC", async (t) => {
  const PLIC_QOM = '/machine/unattached/device[2]'; // its inputs show the RTC's line (source 11)
  const child = spawnChild(
    t,
    ['-M', 'virt', '-S', '-display', 'none', '-rtc', 'base=2020-01-01T00:00:00,clock=vm', '-qtest', 'stdio', '-qtest-log', '/dev/null'],
    { command: 'qemu-system-riscv64' },
  );
  child.child.on('error', () => {});
  let qemuLine = false;
  const cmd = async (line: string): Promise<string> => {
    child.child.stdin!.write(`${line}\n`);
    for (;;) {
      const l = await child.out.next(10000);
      const m = /^IRQ (raise|lower) (\d+)$/.exec(l);
      if (m) {
        if (Number(m[2]) === RTC_IRQ) qemuLine = m[1] === 'raise';
        continue;
      }
      if (l.startsWith('FAIL')) throw new Error(`qtest: ${line}: ${l}`);
      if (l.startsWith('OK')) return l.slice(2).trim();
    }
  };
  try {
    await cmd(`irq_intercept_in ${PLIC_QOM}`);
  } catch (e) {
    throw new Error(`qemu-system-riscv64 (Debian package qemu-system-misc) with qtest: ${(e as Error).message}; ${child.stderr()}`);
  }
  // QEMU's clock stands still (-S, clock=vm): ours does too, at the same instant
  const { line, rtc } = makeRtc(T0);
  const hex = (v: bigint | number) => `0x${BigInt(v).toString(16)}`;
  const now = T0;
  const script: Array<['r' | 'w', number, bigint?]> = [
    ['r', TIME_HIGH], // nothing latched yet
    ['r', TIME_LOW],
    ['r', TIME_HIGH],
    ['r', ALARM_STATUS],
    ['r', IRQ_ENABLED],
    // an alarm in the past fires at once; the line waits for IRQ_ENABLED
    ['w', ALARM_HIGH, (now - SEC) >> 32n],
    ['w', ALARM_LOW, (now - SEC) & 0xffffffffn],
    ['r', ALARM_STATUS],
    ['r', ALARM_LOW],
    ['r', ALARM_HIGH],
    ['w', IRQ_ENABLED, 1n],
    ['r', IRQ_ENABLED],
    ['w', CLEAR_INTERRUPT, 1n],
    ['w', IRQ_ENABLED, 0n],
    // an alarm in the future stays armed until cleared
    ['w', ALARM_HIGH, (now + 10n * SEC) >> 32n],
    ['w', ALARM_LOW, (now + 10n * SEC) & 0xffffffffn],
    ['r', ALARM_STATUS],
    ['w', IRQ_ENABLED, 3n],
    ['r', IRQ_ENABLED],
    ['w', CLEAR_ALARM, 1n],
    ['r', ALARM_STATUS],
    // an alarm exactly now fires
    ['w', ALARM_LOW, now & 0xffffffffn],
    ['w', ALARM_HIGH, now >> 32n],
    ['w', ALARM_LOW, now & 0xffffffffn],
    ['r', ALARM_STATUS],
    ['w', CLEAR_INTERRUPT, 0n],
    // setting the time, one half at a time
    ['w', TIME_HIGH, 0x100n],
    ['r', TIME_LOW],
    ['r', TIME_HIGH],
    ['w', TIME_LOW, 0x1234n],
    ['r', TIME_LOW],
    ['r', TIME_HIGH],
    // the alarm compares with the time as set: now 0x100_00001234
    ['w', ALARM_HIGH, 0x100n],
    ['w', ALARM_LOW, 0x1000n],
    ['r', ALARM_STATUS],
    ['w', ALARM_LOW, 0x2000n],
    ['r', ALARM_STATUS],
    ['w', CLEAR_ALARM, 0n],
    ['w', IRQ_ENABLED, 0n],
    ['w', CLEAR_INTERRUPT, 0n],
    ['r', CLEAR_INTERRUPT],
    ['r', 0x20],
    ['r', 0xffc],
  ];
  for (const [k, off, v] of script) {
    const addr = hex(RTC_BASE + off);
    const step = `${k} 0x${off.toString(16)}${v === undefined ? '' : ` ${hex(v)}`}`;
    if (k === 'r') {
      const q = BigInt(await cmd(`readl ${addr}`));
      t.is(BigInt(rtc.read(off, 4)), q, step);
    } else {
      await cmd(`writel ${addr} ${hex(v!)}`);
      rtc.write(off, 4, Number(v!));
    }
    t.is(line.level, qemuLine, `the line after ${step}`);
  }
  t.true(line.changes >= 4, 'the line moved during the script');
  child.child.stdin!.end();
});
