import type { StoredResponse } from "../core/stored-response";

/**
 * Completed answers this isolate has seen, replayed without a trip to the coordinator (README,
 * "Replays at the edge"; docs/adr/0008).
 *
 * A completed record is immutable until it expires or an operator purges it, so a Worker that
 * has seen one may answer a retry of the same request from memory for a bounded time. Nothing
 * else changes: the entry is keyed by the key identity (scope + key), so it never crosses
 * scopes; the fingerprint is compared as the coordinator compares it, so a reused key is still
 * 422; only records the coordinator reports as completed are kept — never `in_flight` or
 * `unknown` — so an edge replay never stands in for a forward.
 */

/** Largest body kept: a payment answer is small; large ones stay with the coordinator. */
export const MAX_ENTRY_BYTES = 64 * 1024;

/** Bytes of answers one isolate keeps (an isolate has 128 MB). */
export const MAX_CACHE_BYTES = 8 * 1024 * 1024;

interface Entry {
  fingerprint: string;
  response: StoredResponse;
  /** When this isolate must stop replaying it (ms). */
  until: number;
  bytes: number;
}

/** What the cache answers for a request. */
export type EdgeLookup =
  { kind: "miss" } | { kind: "replay"; response: StoredResponse } | { kind: "mismatch" };

/** A byte-bounded, least-recently-used map of completed answers by key identity. */
export class EdgeReplays {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  /**
   * The stored answer for `identity`, if this isolate holds a live one.
   *
   * @example
   * const hit = edge.lookup(identity, fingerprint, Date.now());
   * if (hit.kind === "replay") return toResponse(hit.response, true);
   */
  lookup(identity: string, fingerprint: string, now: number): EdgeLookup {
    const entry = this.#entries.get(identity);
    if (entry === undefined) return { kind: "miss" };
    if (entry.until <= now) {
      this.forget(identity);
      return { kind: "miss" };
    }
    // Most recently used last: eviction takes the first.
    this.#entries.delete(identity);
    this.#entries.set(identity, entry);
    if (entry.fingerprint !== fingerprint) return { kind: "mismatch" };
    return { kind: "replay", response: entry.response };
  }

  /**
   * Keeps a completed answer until `until` (the earlier of the record's expiry and the edge
   * replay bound). Answers over `MAX_ENTRY_BYTES` are not kept.
   */
  remember(identity: string, fingerprint: string, response: StoredResponse, until: number): void {
    let bytes = response.body.byteLength;
    for (const [name, value] of response.headers) bytes += name.length + value.length;
    if (bytes > MAX_ENTRY_BYTES) return;
    this.forget(identity);
    this.#entries.set(identity, { fingerprint, response, until, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= MAX_CACHE_BYTES) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  /** Drops `identity` (a purge or resolve made through this isolate takes effect here at once). */
  forget(identity: string): void {
    const entry = this.#entries.get(identity);
    if (entry === undefined) return;
    this.#entries.delete(identity);
    this.#bytes -= entry.bytes;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }
}

/** The isolate's cache, shared by every request it serves. */
export const edgeReplays = new EdgeReplays();
