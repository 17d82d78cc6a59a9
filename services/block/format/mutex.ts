/**
 * An image lock (qcow2, QED): any number of readers at once (they only look tables up), or one
 * changer (writes, discards, snapshots, flush) alone. First come, first served, so a stream
 * of reads cannot starve a write.
 */
interface Waiter {
  exclusive: boolean;
  wake: () => void;
}

export class Mutex {
  private readers = 0;
  private writer = false;
  private readonly queue: Waiter[] = [];

  /** Runs `fn` alone. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.with(true, fn);
  }

  /** Runs `fn` alongside other readers. */
  read<T>(fn: () => Promise<T>): Promise<T> {
    return this.with(false, fn);
  }

  private async with<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (!this.canEnter(exclusive) || this.queue.length) {
      await new Promise<void>((wake) => this.queue.push({ exclusive, wake }));
    } else this.enter(exclusive);
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers--;
      this.pump();
    }
  }

  private canEnter(exclusive: boolean): boolean {
    return exclusive ? !this.writer && this.readers === 0 : !this.writer;
  }

  private enter(exclusive: boolean): void {
    if (exclusive) this.writer = true;
    else this.readers++;
  }

  private pump(): void {
    while (this.queue.length && this.canEnter(this.queue[0]!.exclusive)) {
      const w = this.queue.shift()!;
      this.enter(w.exclusive);
      w.wake();
      if (w.exclusive) break;
    }
  }
}
