import { MAX_BODY_LIMIT } from "../config/settings";

/**
 * The bytes one object's origin calls hold in memory while they run (docs/security.md, "Reliability and
 * security": bounds).
 *
 * Each call holds its request body until the origin has answered, then the answer it buffers
 * for the record. An isolate has 128 MB, and a reset on running out of it turns every key in
 * flight on the object `unknown`, so these bytes are bounded, in two pools:
 *
 * - **Calls** (`INFLIGHT_BUDGET_BYTES`): admitting a new key reserves its request body plus
 *   `ANSWER_RESERVE_BYTES` for its answer, at once or not at all. A key that does not fit is
 *   refused before anything is claimed or sent, so waiting is never an option here.
 * - **Large answers** (`LARGE_ANSWER_POOL_BYTES`): an answer that outgrows the reserve asks for
 *   the rest and waits, first come first served, until the pool has room. The origin has already
 *   acted by then, so refusing would lose its answer; waiting cannot deadlock, because a holder
 *   of pool bytes waits for nothing but its own origin stream, and the pool holds the largest
 *   answer allowed (checked at construction), so every request can be granted once the holders
 *   ahead of it finish. Strict FIFO: a small request never overtakes a large one, which would
 *   otherwise wait for as long as small ones keep coming.
 *
 * Pure bookkeeping: no I/O, no clock. The owner releases an admission once its answer has been
 * recorded (from then on the delivery budget of `./body-stream.ts` counts its bytes).
 */

/**
 * Bytes of requests and answer reserves one object's calls may hold at once: a 16 MiB request
 * (the largest allowed) always fits alone, and 378 payment requests of 1 KB fit at a time.
 */
export const INFLIGHT_BUDGET_BYTES = 24 * 1024 * 1024;

/**
 * Bytes of answer each admitted call may hold without asking: a payment API answers in a few KB,
 * so nearly every call never touches the large-answer pool.
 */
export const ANSWER_RESERVE_BYTES = 64 * 1024;

/**
 * Bytes of answers beyond their reserve that one object's calls may hold at once: twice the
 * largest answer allowed (`IDEMPOTENCY_MAX_RESPONSE_BYTES` ≤ 16 MiB), so that one call at the
 * limit does not hold up every other large answer.
 */
export const LARGE_ANSWER_POOL_BYTES = 32 * 1024 * 1024;

/** The sizes an `InflightBudget` works with (the defaults are the constants above). */
export interface InflightBudgetLimits {
  /** The calls pool: request bodies plus answer reserves. */
  budgetBytes: number;
  /** What each admission reserves for its answer. */
  answerReserveBytes: number;
  /** The pool that answers larger than their reserve draw on. */
  largeAnswerPoolBytes: number;
  /** The largest request body a call can carry (`IDEMPOTENCY_MAX_BODY_BYTES` at most). */
  largestRequestBytes: number;
  /** The largest answer a call can keep (`IDEMPOTENCY_MAX_RESPONSE_BYTES` at most). */
  largestAnswerBytes: number;
}

/** What reading an origin's answer needs of its budget (`callOrigin`'s `answerBudget`). */
export interface AnswerBudget {
  /** Bytes of answer already reserved: held without asking. */
  readonly reserveBytes: number;
  /**
   * Takes exactly `bytes` more from the large-answer pool; resolves once they are granted (FIFO).
   * Rejects with a `RangeError`, at once, when the pool could never hold them together with what
   * this admission already has, and with an `Error` once the admission is released.
   */
  growAnswer(bytes: number): Promise<void>;
}

/** One admitted call's share of the budget. */
export interface Admission extends AnswerBudget {
  /** Returns everything this admission holds, and drops its pending requests. Idempotent. */
  release(): void;
}

/** A pending `growAnswer`. */
interface Waiter {
  holder: Holder;
  bytes: number;
  grant: () => void;
  refuse: (error: Error) => void;
}

/** What one admission holds. */
interface Holder {
  callBytes: number;
  largeBytes: number;
  /** Granted plus pending large-pool bytes: what the pool must be able to hold at once. */
  askedBytes: number;
  released: boolean;
}

/** The in-flight budget of one object: create one per object, admit each new key. */
export class InflightBudget {
  readonly #limits: InflightBudgetLimits;
  #callBytes = 0;
  #largeBytes = 0;
  readonly #queue: Waiter[] = [];

  /**
   * @param limits - sizes (defaults: `INFLIGHT_BUDGET_BYTES`, `ANSWER_RESERVE_BYTES`,
   *   `LARGE_ANSWER_POOL_BYTES`, and `MAX_BODY_LIMIT` for the largest request and answer)
   * @throws when a call allowed by the settings could never be admitted, or an answer allowed by
   *   them never granted: the error names the limit
   * @example
   * const budget = new InflightBudget();
   * const admission = budget.admit(request.body?.byteLength ?? 0);
   * if (admission === null) return busy();
   * try {
   *   const result = await callOrigin(request, { timeoutMs, maxResponseBytes, answerBudget: admission });
   * } finally {
   *   admission.release();
   * }
   */
  constructor({
    budgetBytes = INFLIGHT_BUDGET_BYTES,
    answerReserveBytes = ANSWER_RESERVE_BYTES,
    largeAnswerPoolBytes = LARGE_ANSWER_POOL_BYTES,
    largestRequestBytes = MAX_BODY_LIMIT,
    largestAnswerBytes = MAX_BODY_LIMIT,
  }: Partial<InflightBudgetLimits> = {}) {
    const limits = {
      budgetBytes,
      answerReserveBytes,
      largeAnswerPoolBytes,
      largestRequestBytes,
      largestAnswerBytes,
    };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(
          `InflightBudget: ${name} must be a whole number of bytes, not ${value}`,
        );
      }
    }
    // A request that could never be admitted would be refused as "busy" forever.
    if (budgetBytes < largestRequestBytes + answerReserveBytes) {
      throw new RangeError(
        `InflightBudget: budgetBytes (${budgetBytes}) must hold the largest request (${largestRequestBytes}) plus the answer reserve (${answerReserveBytes})`,
      );
    }
    // An answer the pool could never grant would wait forever, with the origin's answer in hand.
    if (largeAnswerPoolBytes < largestAnswerBytes) {
      throw new RangeError(
        `InflightBudget: largeAnswerPoolBytes (${largeAnswerPoolBytes}) must hold the largest answer (${largestAnswerBytes})`,
      );
    }
    this.#limits = limits;
  }

  /**
   * Reserves `requestBytes` plus the answer reserve for a new call, or answers `null` when they do
   * not fit now: the caller refuses the key, with nothing claimed.
   */
  admit(requestBytes: number): Admission | null {
    const { budgetBytes, answerReserveBytes, largestRequestBytes } = this.#limits;
    if (!Number.isSafeInteger(requestBytes) || requestBytes < 0) {
      throw new RangeError(`InflightBudget: a request of ${requestBytes} bytes`);
    }
    if (requestBytes > largestRequestBytes) {
      throw new RangeError(
        `InflightBudget: a request of ${requestBytes} bytes is over the largest allowed (${largestRequestBytes})`,
      );
    }
    const callBytes = requestBytes + answerReserveBytes;
    if (this.#callBytes + callBytes > budgetBytes) return null;
    this.#callBytes += callBytes;
    const holder: Holder = { callBytes, largeBytes: 0, askedBytes: 0, released: false };
    return {
      reserveBytes: answerReserveBytes,
      growAnswer: (bytes) => this.#grow(holder, bytes),
      release: () => this.#release(holder),
    };
  }

  /** Bytes held in each pool, and how many `growAnswer` calls wait. */
  get usage(): { callBytes: number; largeBytes: number; waiting: number } {
    return {
      callBytes: this.#callBytes,
      largeBytes: this.#largeBytes,
      waiting: this.#queue.length,
    };
  }

  #grow(holder: Holder, bytes: number): Promise<void> {
    if (holder.released) {
      return Promise.reject(new Error("InflightBudget: growAnswer after release"));
    }
    const pool = this.#limits.largeAnswerPoolBytes;
    if (!Number.isSafeInteger(bytes) || bytes < 0 || holder.askedBytes + bytes > pool) {
      // Waiting would be forever: nothing can free what this holder itself keeps.
      return Promise.reject(
        new RangeError(
          `InflightBudget: ${bytes} more answer bytes, with ${holder.askedBytes} already asked, can never fit the large-answer pool (${pool})`,
        ),
      );
    }
    holder.askedBytes += bytes;
    return new Promise<void>((grant, refuse) => {
      this.#queue.push({ holder, bytes, grant, refuse });
      this.#pump();
    });
  }

  #release(holder: Holder): void {
    if (holder.released) return;
    holder.released = true;
    this.#callBytes -= holder.callBytes;
    this.#largeBytes -= holder.largeBytes;
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const waiter = this.#queue[i];
      if (waiter?.holder !== holder) continue;
      this.#queue.splice(i, 1);
      waiter.refuse(new Error("InflightBudget: released while waiting for answer bytes"));
    }
    this.#pump();
  }

  /** Grants waiting requests in arrival order while the first of them fits. */
  #pump(): void {
    const pool = this.#limits.largeAnswerPoolBytes;
    for (;;) {
      const next = this.#queue[0];
      if (next === undefined || this.#largeBytes + next.bytes > pool) return;
      this.#queue.shift();
      this.#largeBytes += next.bytes;
      next.holder.largeBytes += next.bytes;
      next.grant();
    }
  }
}
