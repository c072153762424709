import { DurableObject } from "cloudflare:workers";
import { DeliveryBudget, streamed } from "./body-stream";
import type { ExecuteCommand, FinalReply, Moved, Policy, RecordView, Reply } from "./protocol";
import type { PageQuery, RecordSummary, ResolveResult } from "./admin-protocol";
import {
  RECORDS_BY_STATE,
  addMissingColumns,
  endedLeases,
  identitiesStartingWith,
  pageOfRecords,
} from "./record-queries";
import { claim, decide, type KeyRecord, type RecordState } from "../core/record";
import type { MappingReport, MappingVerdict } from "../core/mapping";
import { REGISTRY_SCHEMA, reportMapping } from "./mapping-registry";
import { MOVED_SCHEMA, collectMoved, hasMoved, markMoved, movedTo } from "./moved-keys";
import { callOrigin } from "./origin-call";
import { originBinding } from "../env";
import { HOP_HEADER } from "../core/header-names";
import { markContact, markSuspect, needsProbe, probeOrigin } from "./origin-probe";
import {
  MAX_STORED_HEADER_BYTES,
  decodeHeaders,
  encodeHeaders,
  joinChunks,
  splitBody,
  type StoredResponse,
} from "../core/stored-response";

/**
 * The coordinator: the Durable Object that owns a set of keys (one key, or a shard of them).
 *
 * - It is the only caller of the origin for its keys (docs/adr/0001): the record that claims a
 *   key is written before the origin call, and the output gate holds the outgoing request until
 *   that write is durable, so no crash can lead to a second forward.
 * - Concurrent duplicates meet the first request's promise in memory (`#inflight`): the input
 *   gate opens while the origin call is awaited, which is what lets them in.
 * - Records live in SQLite (schema in docs/storage-schema.md); the alarm only collects expired
 *   records, expiry itself is checked on every read.
 */
export class IdempotencyCoordinator extends DurableObject<Env> {
  /** In-flight origin calls of this instance, by key identity. Lost on eviction, by design. */
  readonly #inflight = new Map<string, InFlight>();
  /** Bytes of answers being streamed to callers now. */
  readonly #delivery = new DeliveryBudget();
  /** The alarm time as last read or set; `undefined` until first read. */
  #alarmAt: number | null | undefined;
  /**
   * Whether the `moved` table may hold a marker. Only this object writes it, so a flag read at
   * construction and kept up to date saves a lookup on every first request outside migrations.
   */
  #mayHaveMoved: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA + RECORDS_BY_STATE + MOVED_SCHEMA + REGISTRY_SCHEMA);
    addMissingColumns(ctx.storage.sql);
    this.#mayHaveMoved = hasMoved(ctx.storage.sql);
  }

  /**
   * Handles one covered request for `command.identity`: forwards it, replays the stored answer,
   * joins the request in flight, or refuses it.
   */
  async execute(command: ExecuteCommand): Promise<Reply> {
    const reply = await this.#execute(command);
    if (reply.kind === "moved") return reply;
    const first = reply.outcome === "forwarded" || reply.outcome === "released";
    // Past the delivery budget a duplicate or replay comes back later; its answer is stored.
    return streamed(reply, this.#delivery, first) ?? inProgress(1);
  }

  async #execute(command: ExecuteCommand): Promise<FinalReply | Moved> {
    const now = Date.now();
    const row = this.#readRow(command.identity);
    const inflight = this.#inflight.get(command.identity);
    const decision = decide(row, command.fingerprint, now, inflight !== undefined);
    switch (decision.kind) {
      case "forward": {
        const elsewhere = this.#elsewhere(command, now);
        if (elsewhere !== null)
          return { kind: "moved", outcome: "moved", replayed: false, to: elsewhere };
        return this.#forward(command, now, row !== null);
      }
      case "mismatch":
        return { kind: "problem", outcome: "mismatch", replayed: false, problem: MISMATCH };
      case "join":
        // `decide` answers "join" only when the promise exists.
        return this.#join(inflight as InFlight, command.policy);
      case "replay":
        return this.#replay(row as RecordRow);
      case "unknown":
        return unknownReply((row as RecordRow).detail, true);
      case "in-progress":
        return inProgress(decision.retryAfterSeconds);
      case "lease-expired": {
        this.#markUnknown(command.identity, LOST_TRACK);
        return unknownReply(LOST_TRACK, true);
      }
    }
  }

  /**
   * The registry's verdict on a Worker's key mapping (only on the `mapping-registry` object).
   */
  reportMapping(report: MappingReport): MappingVerdict {
    return reportMapping(this.ctx.storage.sql, report, Date.now());
  }

  /**
   * The record of `identity` for operators, or `null`. Expired records are absent. The stored
   * answer is included only when asked for.
   */
  lookup(identity: string, includeResponse = false): RecordView | null {
    const now = Date.now();
    const found = this.#readRow(identity);
    if (found === null || (found.expiresAt <= now && !this.#inflight.has(identity))) return null;
    const row = this.#settle(found, now);
    const replay = includeResponse && row.state === "completed" ? this.#replay(row) : null;
    return {
      ...(replay?.kind === "response" ? { response: replay.response } : {}),
      state: row.state,
      fingerprint: row.fingerprint,
      method: row.method,
      path: row.path,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      status: row.status,
      bodyBytes: row.bodyBytes,
      detail: row.detail,
      resolvedAt: row.resolvedAt,
    };
  }

  /**
   * This object's newest live records after a position, for a listing across objects (README,
   * "Operating it"). In-flight records whose lease has ended and that no instance holds become
   * `unknown` first, as the next request with their key would make them.
   */
  listRecords(query: PageQuery): RecordSummary[] {
    const now = Date.now();
    for (const identity of endedLeases(this.ctx.storage.sql, now)) {
      if (!this.#inflight.has(identity)) this.#markUnknown(identity, LOST_TRACK);
    }
    return pageOfRecords(this.ctx.storage.sql, query, now);
  }

  /**
   * The identities of this object's live records whose identity starts with `keyHash`: none, the
   * one, or two when the prefix is ambiguous (README, "Reconciling an unknown outcome").
   */
  findByKeyHash(keyHash: string): string[] {
    return identitiesStartingWith(this.ctx.storage.sql, keyHash, Date.now(), 2);
  }

  /**
   * Stores `response` as the answer of the `unknown` record of `identity`, exactly as a completed
   * origin answer is stored (chunked, and replayed only to the same fingerprint), so that the
   * client's next retry gets it instead of `504`. The caller has already applied the limits an
   * origin answer gets (size, hop-by-hop fields). An in-flight record whose lease has ended and
   * that no instance holds counts as unknown, as it would for the next request.
   */
  resolve(identity: string, response: StoredResponse): ResolveResult {
    const now = Date.now();
    const found = this.#readRow(identity);
    if (found === null || (found.expiresAt <= now && !this.#inflight.has(identity))) {
      return { kind: "absent" };
    }
    if (this.#inflight.has(identity)) return { kind: "not-unknown", state: "in_flight" };
    const row = this.#settle(found, now);
    if (row.state !== "unknown") return { kind: "not-unknown", state: row.state };
    // Synchronous from the read above: no request can interleave, and both writes commit together.
    this.#complete(identity, response, encodeHeaders(response.headers));
    this.ctx.storage.sql.exec(
      "UPDATE records SET resolved_at = ? WHERE identity = ?",
      now,
      identity,
    );
    const view = this.lookup(identity);
    if (view === null) throw new Error("a record vanished while it was resolved");
    return { kind: "resolved", view };
  }

  /**
   * Removes the record of `identity`, so its next request is forwarded again. A key whose origin
   * call may still be running cannot be purged: in this instance's memory, or claimed by an
   * instance that is gone but whose lease has not ended (its call may still reach the origin).
   */
  purge(identity: string): "purged" | "absent" | "in-flight" {
    if (this.#inflight.has(identity)) return "in-flight";
    const row = this.#readRow(identity);
    if (row?.state === "in_flight" && row.leaseUntil > Date.now()) return "in-flight";
    return this.#delete(identity) ? "purged" : "absent";
  }

  /** Garbage collection: removes expired records, then re-arms for the next expiry. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const expired = this.ctx.storage.sql
      .exec<{ identity: string }>("SELECT identity FROM records WHERE expires_at <= ?", now)
      .toArray();
    for (const { identity } of expired) {
      // An expired record whose origin call is still running here is its owner's to finish.
      if (!this.#inflight.has(identity)) this.#delete(identity);
    }
    const nextRecord = this.ctx.storage.sql
      .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM records")
      .one().next;
    const nextMoved = collectMoved(this.ctx.storage.sql, now);
    this.#mayHaveMoved = nextMoved !== null;
    const next =
      nextRecord === null
        ? nextMoved
        : nextMoved === null
          ? nextRecord
          : Math.min(nextRecord, nextMoved);
    if (next === null) {
      this.#alarmAt = null;
      return;
    }
    // Collect in batches: under steady traffic the next expiry is milliseconds away, and an alarm
    // per record would cost an invocation and a row write each. Expiry is checked on every read,
    // so a record collected up to a minute late is never served late. (Records still in flight
    // here, the only ones that can be expired now, are looked at again a minute later too.)
    this.#alarmAt = Math.max(next, now + ALARM_BATCH_MS);
    await this.ctx.storage.setAlarm(this.#alarmAt);
  }

  /**
   * Where a key this object holds no live record of must go instead of being claimed here: where
   * an earlier request sent it, or — when the Worker is migrating the mapping — to its object
   * under the new mapping (recorded first, so that a Worker that knows only this mapping is sent
   * there too). `null`: claim it here.
   */
  #elsewhere(command: ExecuteCommand, now: number): string | null {
    const sql = this.ctx.storage.sql;
    const marked = this.#mayHaveMoved ? movedTo(sql, command.identity, now) : null;
    const destination = marked ?? command.next ?? null;
    if (destination === null) return null;
    markMoved(sql, command.identity, destination, now + command.policy.ttlSeconds * 1000);
    this.#mayHaveMoved = true;
    return destination;
  }

  #forward(command: ExecuteCommand, now: number, replacing: boolean): Promise<FinalReply> {
    const { identity, fingerprint, policy } = command;
    // Each call holds its request and, soon, its answer in memory: past the bound, new keys are
    // told to come back, and nothing is claimed.
    if (this.#inflight.size >= MAX_INFLIGHT_CALLS) return Promise.resolve(inProgress(1));
    const record = claim(fingerprint, now, policy.ttlSeconds * 1000, policy.originTimeoutMs);
    if (replacing) this.#delete(identity);
    // Synchronous: no other event can interleave between the read in `execute` and this claim.
    this.ctx.storage.sql.exec(
      "INSERT INTO records (identity, fingerprint, state, created_at, expires_at, lease_until, method, path) VALUES (?, ?, 'in_flight', ?, ?, ?, ?, ?)",
      identity,
      fingerprint,
      record.createdAt,
      record.expiresAt,
      record.leaseUntil,
      command.request.method,
      command.path ?? null,
    );
    const answer = this.#callAndRecord(command, record).finally(() => {
      this.#inflight.delete(identity);
    });
    this.#inflight.set(identity, { answer, waiters: 0 });
    // Keeps the object alive until the origin has answered and the record is written, even if
    // the client has gone (compat >= 2026-10-01: durable_object_io_tasks_prevent_eviction).
    this.ctx.waitUntil(answer);
    return answer;
  }

  async #callAndRecord(command: ExecuteCommand, record: KeyRecord): Promise<FinalReply> {
    const { identity, policy, request } = command;
    await this.#ensureAlarm(record.expiresAt);
    if (
      needsProbe(policy.originUrl, Date.now(), originBinding(this.env)) &&
      (await probeOrigin(policy.originUrl, hopOnly(request.headers))) === "unreachable"
    ) {
      // The request was never sent: nothing reached the origin, so the key is released.
      this.#delete(identity);
      return {
        kind: "problem",
        outcome: "unreachable",
        replayed: false,
        problem: {
          code: "origin-unreachable",
          detail: "The origin could not be reached (connection refused or name not resolved).",
        },
      };
    }
    const started = Date.now();
    const result = await callOrigin(request, {
      binding: originBinding(this.env),
      timeoutMs: policy.originTimeoutMs,
      maxResponseBytes: policy.maxResponseBytes,
    });
    const originMs = Date.now() - started;
    if (result.kind === "unknown") {
      if (result.cause === "connection") markSuspect(policy.originUrl, Date.now());
      this.#markUnknown(identity, result.detail);
      return { ...unknownReply(result.detail, false), originMs };
    }
    markContact(policy.originUrl, Date.now());
    const { response } = result;
    const base = {
      kind: "response",
      replayed: false,
      response,
      originStatus: response.status,
      originMs,
    } as const;
    if (policy.retryStatuses.includes(response.status)) {
      // The origin asked for a retry: nothing happened there that a retry could duplicate.
      this.#delete(identity);
      return { ...base, outcome: "released" };
    }
    const headers = encodeHeaders(response.headers);
    if (headers.length > MAX_STORED_HEADER_BYTES) {
      const detail = "The origin's response headers were too large to keep for replay.";
      this.#markUnknown(identity, detail);
      return { ...base, outcome: "forwarded" };
    }
    try {
      this.#complete(identity, response, headers);
      return { ...base, outcome: "forwarded", storedUntil: record.expiresAt };
    } catch (error) {
      // The origin answered, so this caller gets that answer. The record stays "in flight" and
      // fails closed once its lease ends: never a second forward.
      console.error(
        JSON.stringify({ event: "store-failed", error: String(error), status: response.status }),
      );
    }
    return { ...base, outcome: "forwarded" };
  }

  #join(first: InFlight, policy: Policy): Promise<FinalReply> {
    // Each waiter holds a promise and a timer: past the bound, duplicates are told to come back.
    if (policy.concurrency === "reject" || first.waiters >= MAX_WAITERS_PER_KEY) {
      return Promise.resolve(inProgress(retryAfter(policy.originTimeoutMs)));
    }
    first.waiters++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<FinalReply>((resolve) => {
      timer = setTimeout(
        () => resolve(inProgress(retryAfter(policy.originTimeoutMs))),
        policy.waitMs,
      );
    });
    const coalesced = first.answer.then((answer): FinalReply => ({
      ...answer,
      outcome: "coalesced",
      replayed: true,
    }));
    return Promise.race([coalesced, timeout]).finally(() => {
      clearTimeout(timer);
      first.waiters--;
    });
  }

  #replay(row: RecordRow): FinalReply {
    let body: Uint8Array = new Uint8Array(row.body ?? new ArrayBuffer(0));
    if (row.chunkCount > 1) {
      const rest = this.ctx.storage.sql
        .exec<{ data: ArrayBuffer }>(
          "SELECT data FROM chunks WHERE identity = ? ORDER BY seq",
          row.identity,
        )
        .toArray()
        .map(({ data }) => new Uint8Array(data));
      body = joinChunks([body, ...rest]);
    }
    const response: StoredResponse = {
      status: row.status ?? 500,
      headers: decodeHeaders(row.headers ?? "[]"),
      body,
    };
    return {
      kind: "response",
      outcome: "replayed",
      replayed: true,
      response,
      storedUntil: row.expiresAt,
    };
  }

  #complete(identity: string, response: StoredResponse, headers: string): void {
    const [first = new Uint8Array(0), ...rest] = splitBody(response.body);
    const sql = this.ctx.storage.sql;
    const write = () => {
      sql.exec(
        "UPDATE records SET state = 'completed', status = ?, headers = ?, body = ?, body_bytes = ?, chunk_count = ? WHERE identity = ?",
        response.status,
        headers,
        first,
        response.body.byteLength,
        1 + rest.length,
        identity,
      );
      rest.forEach((chunk, index) => {
        sql.exec(
          "INSERT INTO chunks (identity, seq, data) VALUES (?, ?, ?)",
          identity,
          index + 1,
          chunk,
        );
      });
    };
    // One statement is atomic by itself; only a chunked answer needs the transaction's savepoint.
    if (rest.length === 0) write();
    else this.ctx.storage.transactionSync(write);
  }

  #markUnknown(identity: string, detail: string): void {
    this.ctx.storage.sql.exec(
      "UPDATE records SET state = 'unknown', detail = ? WHERE identity = ?",
      detail,
      identity,
    );
  }

  #delete(identity: string): boolean {
    const sql = this.ctx.storage.sql;
    return this.ctx.storage.transactionSync(() => {
      sql.exec("DELETE FROM chunks WHERE identity = ?", identity);
      return sql.exec("DELETE FROM records WHERE identity = ?", identity).rowsWritten > 0;
    });
  }

  /**
   * `row` as the next request would find it: an in-flight record that no instance holds and
   * whose lease has ended is `unknown` (written so).
   */
  #settle(row: RecordRow, now: number): RecordRow {
    if (row.state !== "in_flight" || row.leaseUntil > now || this.#inflight.has(row.identity)) {
      return row;
    }
    this.#markUnknown(row.identity, LOST_TRACK);
    return { ...row, state: "unknown", detail: LOST_TRACK };
  }

  #readRow(identity: string): RecordRow | null {
    const row = this.ctx.storage.sql
      .exec<RawRow>(
        "SELECT identity, fingerprint, state, created_at, expires_at, lease_until, status, headers, body, body_bytes, chunk_count, detail, method, path, resolved_at FROM records WHERE identity = ?",
        identity,
      )
      .toArray()[0];
    if (row === undefined) return null;
    return {
      identity: row.identity,
      fingerprint: row.fingerprint,
      state: row.state,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      leaseUntil: row.lease_until,
      status: row.status,
      headers: row.headers,
      body: row.body,
      bodyBytes: row.body_bytes,
      chunkCount: row.chunk_count ?? 0,
      detail: row.detail,
      method: row.method,
      path: row.path,
      resolvedAt: row.resolved_at,
    };
  }

  async #ensureAlarm(expiresAt: number): Promise<void> {
    if (this.#alarmAt === undefined) this.#alarmAt = await this.ctx.storage.getAlarm();
    if (this.#alarmAt === null || this.#alarmAt > expiresAt) {
      this.#alarmAt = expiresAt;
      await this.ctx.storage.setAlarm(expiresAt);
    }
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  identity TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  status INTEGER,
  headers TEXT,
  body BLOB,
  body_bytes INTEGER,
  chunk_count INTEGER,
  detail TEXT,
  method TEXT,
  path TEXT,
  resolved_at INTEGER
);
CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires_at);
CREATE TABLE IF NOT EXISTS chunks (
  identity TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (identity, seq)
);
`;

type RawRow = {
  identity: string;
  fingerprint: string;
  state: RecordState;
  created_at: number;
  expires_at: number;
  lease_until: number;
  status: number | null;
  headers: string | null;
  body: ArrayBuffer | null;
  body_bytes: number | null;
  chunk_count: number | null;
  detail: string | null;
  method: string | null;
  path: string | null;
  resolved_at: number | null;
};

interface RecordRow extends KeyRecord {
  identity: string;
  status: number | null;
  headers: string | null;
  body: ArrayBuffer | null;
  bodyBytes: number | null;
  chunkCount: number;
  detail: string | null;
  method: string | null;
  path: string | null;
  resolvedAt: number | null;
}

const MISMATCH = { code: "idempotency-key-reused" } as const;

/** Why an in-flight record that no instance holds became `unknown` once its lease ended. */
const LOST_TRACK =
  "The gateway lost track of the request while it was at the origin (restart or eviction).";

/** The shortest time between two garbage-collecting alarms of one object. */
export const ALARM_BATCH_MS = 60_000;

/**
 * Most duplicates that may wait on one in-flight key in one object. Beyond it they get
 * `409 request-in-progress` at once, which keeps memory per key bounded under a retry storm.
 */
export const MAX_WAITERS_PER_KEY = 1000;

/**
 * Most origin calls one object runs at once: each holds its request body (up to
 * `IDEMPOTENCY_MAX_BODY_BYTES`) and then its answer in memory. Beyond it, a new key gets
 * `409 request-in-progress` at once, with nothing claimed or forwarded.
 */
export const MAX_INFLIGHT_CALLS = 128;

/** A key's origin call in progress in this instance, and how many duplicates wait for it. */
interface InFlight {
  answer: Promise<FinalReply>;
  waiters: number;
}

/** The hop marker of a forwarded request, for its probe (a route loop is caught as usual). */
function hopOnly(headers: [string, string][]): [string, string][] {
  const hop = HOP_HEADER.toLowerCase();
  return headers.filter(([name]) => name === hop);
}

function retryAfter(originTimeoutMs: number): number {
  return Math.max(1, Math.ceil(originTimeoutMs / 1000));
}

function inProgress(retryAfterSeconds: number): FinalReply {
  return {
    kind: "problem",
    outcome: "rejected",
    replayed: false,
    problem: { code: "request-in-progress", retryAfterSeconds },
  };
}

function unknownReply(detail: string | null, replayed: boolean): FinalReply {
  return {
    kind: "problem",
    outcome: "outcome-unknown",
    replayed,
    problem: {
      code: "origin-outcome-unknown",
      detail: detail ?? "The outcome of the request at the origin is unknown.",
    },
  };
}
