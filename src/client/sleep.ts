/** A function that waits `ms` milliseconds, or rejects with `signal.reason` once it aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * Waits `ms` milliseconds on a timer, and stops waiting as soon as `signal` aborts: the promise
 * then rejects with the signal's reason, as `fetch` does, so a caller who gives up is not kept
 * waiting for a retry it no longer wants.
 *
 * @param ms - how long to wait
 * @param signal - the caller's abort signal, if any
 *
 * @example
 * ```ts
 * await sleep(250);
 * await sleep(10_000, AbortSignal.timeout(1_000)); // rejects with a TimeoutError after 1 s
 * ```
 */
export const sleep: Sleep = function sleep(ms, signal) {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
};
