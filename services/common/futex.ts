/**
 * Cross-process wait and wake on 32-bit words of shared memory (Linux futex, not private).
 *
 * Use these, not Atomics.wait/notify, for every word another process may wake: the two do
 * not wake each other. Waiting blocks the calling thread, so harts (worker threads) wait
 * with `wait`; an event loop that must keep serving uses `waitAsync`.
 */
import { native, type FutexResult } from './native.js';

export type { FutexResult };

/** Sleeps while `arr[index] === expected`, up to `timeoutMs` (default: forever). */
export function wait(arr: Int32Array, index: number, expected: number, timeoutMs?: number): FutexResult {
  return native().futexWait(arr, index, expected, timeoutMs);
}

/** Like wait, on a thread of its own, without blocking the event loop. */
export function waitAsync(arr: Int32Array, index: number, expected: number, timeoutMs?: number): Promise<FutexResult> {
  return native().futexWaitAsync(arr, index, expected, timeoutMs);
}

/** Wakes up to `count` waiters (default all) on `arr[index]`; returns how many woke. */
export function wake(arr: Int32Array, index: number, count?: number): number {
  return native().futexWake(arr, index, count);
}
