/** The knobs of {@link fullJitterDelay}. */
export interface BackoffOptions {
  /** The ceiling of the first wait, in milliseconds; it doubles on each retry. */
  baseDelayMs: number;
  /** No wait is longer than this, in milliseconds. */
  maxDelayMs: number;
  /** A source of numbers in [0, 1), such as `Math.random`. */
  random: () => number;
}

/**
 * The wait before retry number `retry` (0 for the wait before the second attempt), using
 * exponential backoff with "full jitter": a uniformly random delay between 0 and
 * `min(maxDelayMs, baseDelayMs × 2^retry)`.
 *
 * Full jitter spreads the retries of many clients that failed together (an origin outage, a
 * deploy) instead of bringing them back in synchronised waves; see "Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015.
 *
 * @param retry - how many retries came before this one (0-based)
 * @param options - base delay, cap and random source
 * @returns the delay in whole milliseconds
 *
 * @example
 * ```ts
 * fullJitterDelay(0, { baseDelayMs: 500, maxDelayMs: 10_000, random: Math.random }); // 0–499
 * fullJitterDelay(3, { baseDelayMs: 500, maxDelayMs: 10_000, random: () => 0.5 }); // 2000
 * ```
 */
export function fullJitterDelay(
  retry: number,
  { baseDelayMs, maxDelayMs, random }: BackoffOptions,
) {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}
