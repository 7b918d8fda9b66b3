/**
 * Adaptive coalescing: items submitted while every call slot is busy wait and
 * ride in the next call together; when a slot is free the items that arrived
 * in the same event-loop turn go out at once. At low load that is a batch of
 * one with no added wait; under load, batches grow with the load. A run of
 * items submitted together (a batch request) waits and travels as one unit
 * and is answered as one slice of the batch's results.
 */

/** Refused before it was sent, so certainly not applied: safe to send again. */
export class OverloadedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OverloadedError";
  }
}

export interface CoalescerOptions<Req, Res> {
  /** One downstream call for the whole batch; results in item order. An Error in the results fails only its own item. */
  send: (batch: Req[]) => Promise<Array<Res | Error>>;
  /** Items per call; a run is never split, so a call of one run may hold more. */
  maxBatch: number;
  maxInFlight: number;
  /** Items allowed to wait; beyond this submit rejects with OverloadedError. */
  maxQueued: number;
  /**
   * How long an item may wait for a call slot. Older items are refused with
   * OverloadedError when the next call is assembled instead of being sent
   * after their caller's deadline; without it a full queue behind stuck
   * calls can hold an item for several deadlines.
   */
  maxWaitMs?: number;
  /** `waitedMs`: the batch's items' waits in the queue, summed. */
  onBatch?: (size: number, waitedMs: number) => void;
}

/** One submitted item, or a run of them (`run`: answered together, each item with its own result). */
type Waiter<Req, Res> = { queuedAt: number; reject: (err: unknown) => void } & (
  | { run: false; item: Req; resolve: (value: Res) => void }
  | { run: true; items: readonly Req[]; resolve: (values: Array<Res | Error>) => void }
);

const itemsOf = <Req, Res>(w: Waiter<Req, Res>) => (w.run ? w.items.length : 1);

export class Coalescer<Req, Res> {
  private queue: Waiter<Req, Res>[] = [];
  /** Items in the queue (a run counts each of its items). */
  private queuedItems = 0;
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: CoalescerOptions<Req, Res>) {}

  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  submit(item: Req): Promise<Res> {
    const refused = this.refuseFull(1);
    if (refused) return refused;
    return new Promise<Res>((resolve, reject) => this.enqueue({ run: false, item, queuedAt: performance.now(), resolve, reject }, 1));
  }

  /**
   * The items go in one batch, in order; the answer holds each item's result
   * or Error. Rejects as a whole only when the batch's call failed (or was
   * refused before it was sent).
   */
  submitRun(items: readonly Req[]): Promise<Array<Res | Error>> {
    if (items.length === 0) return Promise.resolve([]);
    const refused = this.refuseFull(items.length);
    if (refused) return refused;
    return new Promise((resolve, reject) => this.enqueue({ run: true, items, queuedAt: performance.now(), resolve, reject }, items.length));
  }

  private refuseFull(n: number): Promise<never> | undefined {
    if (this.queuedItems + n <= this.options.maxQueued || this.queuedItems === 0) return undefined;
    return Promise.reject(new OverloadedError(`too many requests waiting (${this.queuedItems}); try again shortly`));
  }

  private enqueue(waiter: Waiter<Req, Res>, n: number): void {
    this.queue.push(waiter);
    this.queuedItems += n;
    this.schedule();
  }

  /** Resolves when nothing is queued or in flight (used on shutdown). */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** The queue is in arrival order, so the items waiting too long are at its front. */
  private refuseExpired(): void {
    const maxWaitMs = this.options.maxWaitMs;
    if (maxWaitMs === undefined) return;
    const cutoff = performance.now() - maxWaitMs;
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.queuedAt < cutoff) n++;
    if (n === 0) return;
    const error = new OverloadedError(`waited more than ${maxWaitMs} ms for a call slot; not sent, try again shortly`);
    for (const w of this.queue.splice(0, n)) {
      this.queuedItems -= itemsOf(w);
      w.reject(error);
    }
  }

  /** Waiters from the front of the queue up to maxBatch items (at least one waiter), and their items in order. */
  private take(): { batch: Waiter<Req, Res>[]; items: Req[] } {
    const items: Req[] = [];
    let n = 0;
    while (n < this.queue.length) {
      const w = this.queue[n]!;
      if (n > 0 && items.length + itemsOf(w) > this.options.maxBatch) break;
      if (w.run) items.push(...w.items);
      else items.push(w.item);
      n++;
    }
    this.queuedItems -= items.length;
    return { batch: this.queue.splice(0, n), items };
  }

  private flush(): void {
    this.refuseExpired();
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const { batch, items } = this.take();
      this.inFlight++;
      if (this.options.onBatch) {
        const now = performance.now();
        let waited = 0;
        for (const w of batch) waited += (now - w.queuedAt) * itemsOf(w);
        this.options.onBatch(items.length, waited);
      }
      let sent: Promise<Array<Res | Error>>;
      try {
        sent = this.options.send(items);
      } catch (err) {
        sent = Promise.reject(err);
      }
      sent
        .then((results) => {
          if (results.length !== items.length) throw new Error(`downstream answered ${results.length} of ${items.length} items`);
          let i = 0;
          for (const w of batch) {
            if (w.run) {
              w.resolve(results.slice(i, i + w.items.length));
              i += w.items.length;
            } else {
              const result = results[i++]!;
              if (result instanceof Error) w.reject(result);
              else w.resolve(result);
            }
          }
        })
        .catch((err) => batch.forEach((w) => w.reject(err)))
        .finally(() => {
          this.inFlight--;
          if (this.queue.length > 0) this.flush();
          else if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
        });
    }
  }
}
