/**
 * Adaptive coalescing: items submitted while every call slot is busy wait and
 * ride in the next call together; when a slot is free the items that arrived
 * in the same event-loop turn go out at once. At low load that is a batch of
 * one with no added wait; under load, batches grow with the load.
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

interface Waiter<Req, Res> {
  item: Req;
  queuedAt: number;
  resolve: (value: Res) => void;
  reject: (err: unknown) => void;
}

export class Coalescer<Req, Res> {
  private queue: Waiter<Req, Res>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: CoalescerOptions<Req, Res>) {}

  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  submit(item: Req): Promise<Res> {
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(new OverloadedError(`too many requests waiting (${this.queue.length}); try again shortly`));
    }
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ item, queuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
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
    for (const w of this.queue.splice(0, n)) w.reject(error);
  }

  private flush(): void {
    this.refuseExpired();
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      if (this.options.onBatch) {
        const now = performance.now();
        let waited = 0;
        for (const w of batch) waited += now - w.queuedAt;
        this.options.onBatch(batch.length, waited);
      }
      let sent: Promise<Array<Res | Error>>;
      try {
        sent = this.options.send(batch.map((w) => w.item));
      } catch (err) {
        sent = Promise.reject(err);
      }
      sent
        .then((results) => {
          if (results.length !== batch.length) throw new Error(`downstream answered ${results.length} of ${batch.length} items`);
          batch.forEach((w, i) => {
            const result = results[i]!;
            if (result instanceof Error) w.reject(result);
            else w.resolve(result);
          });
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
