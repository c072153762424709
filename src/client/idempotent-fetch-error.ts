/**
 * Thrown by an idempotent fetch when no attempt got an answer (every attempt failed on the
 * network) and the attempts or the deadline ran out. `cause` is the last network error.
 *
 * The request may or may not have reached the gateway. Retrying later with the same `key` is
 * always safe: the gateway answers a key it has seen with the stored answer.
 *
 * @example
 * ```ts
 * try {
 *   await idempotentFetch(url, init);
 * } catch (error) {
 *   if (error instanceof IdempotentFetchError) queueRetry(error.key);
 *   else throw error;
 * }
 * ```
 */
export class IdempotentFetchError extends Error {
  override readonly name = "IdempotentFetchError";
  /** The `Idempotency-Key` every attempt carried: retry with this one, never a new one. */
  readonly key: string;
  /** How many attempts were made. */
  readonly attempts: number;

  /**
   * @param message - what happened
   * @param details - the key, the number of attempts and the last error
   */
  constructor(
    message: string,
    { key, attempts, cause }: { key: string; attempts: number; cause: unknown },
  ) {
    super(message, { cause });
    this.key = key;
    this.attempts = attempts;
  }
}
