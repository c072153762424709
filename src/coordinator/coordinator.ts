import { DurableObject } from "cloudflare:workers";
import { DeliveryBudget, streamed } from "./body-stream";
import { InflightBudget, type Admission } from "./inflight-budget";
import type {
  ExecuteCommand,
  FinalReply,
  Moved,
  Policy,
  ProbeReport,
  RecordView,
  Reply,
} from "./protocol";
import type { PageQuery, RecordSummary, ResolveResult } from "./admin-protocol";
import {
  RECORDS_BY_STATE,
  addMissingColumns,
  endedLeases,
  identitiesByKeyHash,
  storedKeyHash,
  pageOfRecords,
} from "./record-queries";
import {
  claim,
  decide,
  reclaim,
  type KeyRecord,
  type RecordState,
  type Reforward,
} from "../core/record";
import { migrationName, type MappingReport, type MappingVerdict } from "../core/mapping";
import type { BusyReason } from "../core/problems";
import { REGISTRY_NAME, REGISTRY_SCHEMA, reportMapping } from "./mapping-registry";
import {
  MappingVerdicts,
  VERDICTS_SCHEMA,
  type Confirmed,
  type Standing,
} from "./mapping-verdicts";
import { isKeyObjectName, relayName } from "./verdict-relay";
import {
  OBJECT_STORAGE_LIMIT_BYTES,
  STORAGE_REFUSE_BYTES,
  busyRetryAfter,
  isStorageFull,
  storageStanding,
  STORAGE_WARN_SHARE,
} from "./capacity";
import {
  MOVED_SCHEMA,
  addMovedColumns,
  collectMoved,
  hasMoved,
  markMoved,
  markerScope,
  movedTo,
} from "./moved-keys";
import { callOrigin } from "./origin-call";
import { StorageGauge } from "./storage-gauge";
import { PURGE_HOLDS_SCHEMA, collectHolds, hasHolds, heldUntil, holdPurged } from "./purge-holds";
import { MAX_EDGE_REPLAY_SECONDS } from "../config/settings";
import { originBinding, type CoordinatorEnv } from "../env";
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
export class IdempotencyCoordinator extends DurableObject<CoordinatorEnv> {
  /** In-flight origin calls of this instance, by key identity. Lost on eviction, by design. */
  readonly #inflight = new Map<string, InFlight>();
  /** Bytes of answers being streamed to callers now. */
  readonly #delivery = new DeliveryBudget();
  /** Bytes the origin calls in flight hold: their requests, then their answers. */
  readonly #budget = new InflightBudget();
  /** The alarm time as last read or set; `undefined` until first read. */
  #alarmAt: number | null | undefined;
  /**
   * Whether the `moved` table may hold a marker. Only this object writes it, so a flag read at
   * construction and kept up to date saves a lookup on every first request outside migrations.
   */
  #mayHaveMoved: boolean;
  /**
   * Whether the `purge_holds` table may hold a hold (`./purge-holds.ts`): kept like
   * `#mayHaveMoved`, so a claim outside the rare purge reads no hold.
   */
  #mayHold: boolean;
  /** The database's size, read again only when it may near the refusal size. */
  readonly #gauge: StorageGauge;
  /** The registry's verdicts on the mappings of the Workers that send commands here (ADR 0009). */
  readonly #verdicts: MappingVerdicts;
  /** When this instance last logged that its storage is high (at most once a minute). */
  #storageWarnedAt = Number.NEGATIVE_INFINITY;

  constructor(ctx: DurableObjectState, env: CoordinatorEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      SCHEMA +
        RECORDS_BY_STATE +
        MOVED_SCHEMA +
        REGISTRY_SCHEMA +
        VERDICTS_SCHEMA +
        PURGE_HOLDS_SCHEMA,
    );
    addMissingColumns(ctx.storage.sql);
    addMovedColumns(ctx.storage.sql);
    this.#mayHaveMoved = hasMoved(ctx.storage.sql);
    this.#mayHold = hasHolds(ctx.storage.sql);
    this.#gauge = new StorageGauge(() => ctx.storage.sql.databaseSize);
    this.#verdicts = new MappingVerdicts(
      ctx.storage.sql,
      (report) => this.#askRegistry(report),
      (promise) => ctx.waitUntil(promise),
    );
  }

  /**
   * Handles one covered request for `command.identity`: forwards it, replays the stored answer,
   * joins the request in flight, or refuses it.
   */
  async execute(command: ExecuteCommand): Promise<Reply> {
    const reply = await this.#execute(command);
    if (reply.kind === "moved") return reply;
    const first =
      reply.outcome === "forwarded" ||
      reply.outcome === "released" ||
      reply.outcome === "reforwarded";
    // Past the delivery budget a duplicate or replay comes back later; its answer is stored.
    return streamed(reply, this.#delivery, first) ?? inProgress(1);
  }

  async #execute(command: ExecuteCommand, confirmed?: Standing): Promise<FinalReply | Moved> {
    const now = Date.now();
    const row = this.#readRow(command.identity);
    const inflight = this.#inflight.get(command.identity);
    const decision = decide(
      row,
      command.fingerprint,
      now,
      inflight !== undefined,
      reforwardRule(command.policy),
    );
    switch (decision.kind) {
      case "forward": {
        // A purged key is not claimed again while a Worker may still replay its old answer
        // (docs/adr/0008): the retry comes back once no isolate can, and is forwarded then.
        const held = this.#mayHold ? heldUntil(this.ctx.storage.sql, command.identity, now) : null;
        if (held !== null) {
          return { ...inProgress(Math.ceil((held - now) / 1000)), outcome: "held" };
        }
        // Only a claim needs the registry's verdict on the Worker's mapping (ADR 0009). Workers
        // older than the `mapping` field asked the registry themselves.
        let drained = false;
        if (command.mapping !== undefined) {
          const standing = confirmed ?? this.#verdicts.standing(command.mapping, now);
          if (standing === null) {
            // The registry is asked; the record is read again afterwards, since other requests
            // may have claimed the key meanwhile.
            const answer = await this.#verdicts.confirm(command.mapping, now);
            return this.#execute(command, answer);
          }
          if (standing.kind === "refused") return misconfigured(standing);
          if (standing.kind === "unavailable") return busy("registry");
          drained = standing.drained;
          if (command.renamed !== undefined && standing.scopeDrained) {
            // The scope headers changed and nothing is claimed under old identities any more:
            // this key, unknown here, lives under its new one (src/core/scope-change.ts).
            const { address, identity } = command.renamed;
            return { kind: "moved", outcome: "moved", replayed: false, to: address, identity };
          }
        }
        const elsewhere = this.#elsewhere(command, now, drained);
        if (elsewhere !== null) {
          // The marker expires like a record, so it needs the alarm too — even in an object
          // that never claims a key (one object per key, under the previous mapping).
          if (elsewhere.expiresAt !== null) await this.#ensureAlarm(elsewhere.expiresAt);
          return { kind: "moved", outcome: "moved", replayed: false, to: elsewhere.to };
        }
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
      case "reforward":
        return this.#reforward(command, row as RecordRow, now);
    }
  }

  /**
   * The registry's verdict on a Worker's key mapping (only on the `mapping-registry` object).
   */
  reportMapping(report: MappingReport): MappingVerdict {
    return reportMapping(this.ctx.storage.sql, report, Date.now());
  }

  /**
   * The registry's verdict on `report`, as this object knows it (only on the relay objects that
   * objects of one key each ask instead of the registry: ADR 0009). Throws when no verdict is
   * known and the registry does not answer.
   */
  async relayVerdict(report: MappingReport): Promise<Confirmed> {
    return this.#verdicts.confirmed(report, Date.now());
  }

  /**
   * How much this object stores, for operators and capacity planning (README, "Bounds"): the
   * SQLite database's size against the platform's limit per object, and its live records.
   */
  storageUse(): { bytes: number; records: number } {
    const sql = this.ctx.storage.sql;
    const records = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM records").one().n;
    return { bytes: sql.databaseSize, records };
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
      reforwardedAt: row.reforwardedAt,
      keyHash: storedKeyHash(this.ctx.storage.sql, identity),
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
   * The identities of this object's live records whose key hash is `keyHash`: none, the one, or
   * two when the hash is ambiguous (docs/operations.md, "Reconciling an unknown outcome").
   */
  findByKeyHash(keyHash: string): string[] {
    return identitiesByKeyHash(this.ctx.storage.sql, keyHash, Date.now(), 2);
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
   * A completed record's key is then held (`./purge-holds.ts`) while a Worker may still replay
   * it: for `edgeReplayMs`, the purging Worker's `IDEMPOTENCY_EDGE_REPLAY_SECONDS`; absent
   * (older Workers), the longest the setting allows.
   */
  async purge(
    identity: string,
    edgeReplayMs: number = MAX_EDGE_REPLAY_SECONDS * 1000,
  ): Promise<"purged" | "absent" | "in-flight"> {
    if (this.#inflight.has(identity)) return "in-flight";
    const now = Date.now();
    const row = this.#readRow(identity);
    if (row?.state === "in_flight" && row.leaseUntil > now) return "in-flight";
    const sql = this.ctx.storage.sql;
    // Synchronous from the read: the hold is in place before any request can claim the key.
    const purged = this.ctx.storage.transactionSync(() => {
      if (!this.#deleteRows(identity)) return false;
      // Only completed answers are kept at the edge, and none past the record's expiry.
      if (row?.state === "completed") {
        holdPurged(sql, identity, Math.min(row.expiresAt, now + edgeReplayMs), now);
        this.#mayHold = true;
        this.#gauge.wrote(CLAIM_BYTES);
      }
      return true;
    });
    if (!purged) return "absent";
    const held = heldUntil(sql, identity, now);
    if (held !== null) await this.#ensureAlarm(held);
    return "purged";
  }

  /**
   * Garbage collection: removes expired records and moved markers, at most `ALARM_BATCH_ROWS` of
   * each per run (a backlog of millions must not load at once nor hold the object for minutes),
   * then re-arms: soon while a backlog remains, else for the next expiry.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    // Records still in flight here are skipped, so the batch reaches past them.
    const expired = sql
      .exec<{ identity: string }>(
        "SELECT identity FROM records WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
        now,
        ALARM_BATCH_ROWS + this.#inflight.size,
      )
      .toArray();
    let collected = 0;
    for (const { identity } of expired) {
      // An expired record whose origin call is still running here is its owner's to finish.
      if (this.#inflight.has(identity)) continue;
      this.#delete(identity);
      collected++;
    }
    const moved = collectMoved(sql, now, ALARM_BATCH_ROWS);
    this.#mayHaveMoved = moved.next !== null;
    if (collected >= ALARM_BATCH_ROWS || moved.more) {
      this.#alarmAt = now + ALARM_BACKLOG_MS;
      await this.ctx.storage.setAlarm(this.#alarmAt);
      return;
    }
    const nextRecord = sql
      .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM records")
      .one().next;
    const nextHold = collectHolds(sql, now);
    this.#mayHold = nextHold !== null;
    const pending = [nextRecord, moved.next, nextHold].filter((at): at is number => at !== null);
    const next = pending.length === 0 ? null : Math.min(...pending);
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
   * there too). `null`: claim it here. Once the migration has drained (`drained`: no Worker that
   * knows only this mapping can claim any more), nothing is recorded: this object takes no
   * writes for keys it does not hold (docs/adr/0006). `expiresAt`: the marker's, when one was
   * written.
   */
  #elsewhere(
    command: ExecuteCommand,
    now: number,
    drained: boolean,
  ): { to: string; expiresAt: number | null } | null {
    const sql = this.ctx.storage.sql;
    const scope = markerScope(command.mapping, command.next !== undefined);
    const marked = this.#mayHaveMoved ? movedTo(sql, command.identity, now, scope) : null;
    const destination = marked?.destination ?? command.next ?? null;
    if (destination === null) return null;
    if (drained) return { to: destination, expiresAt: null };
    const migration =
      marked?.migration ?? (command.mapping === undefined ? null : migrationName(command.mapping));
    const expiresAt = markMoved(
      sql,
      command.identity,
      destination,
      now + command.policy.ttlSeconds * 1000,
      migration,
    );
    this.#mayHaveMoved = true;
    this.#gauge.wrote(CLAIM_BYTES);
    return { to: destination, expiresAt };
  }

  /**
   * Admits one more origin call within this object's bounds, or answers `503 gateway-busy` with
   * nothing claimed.
   */
  #admitCall(command: ExecuteCommand, now: number): Admission | FinalReply {
    // Each call holds its request and, soon, its answer in memory: past the bound, new keys are
    // told to come back later, and nothing is claimed. Overload, not a duplicate: 503.
    if (this.#inflight.size >= MAX_INFLIGHT_CALLS) return busy("calls");
    const refuseBytes = command.storageLimitBytes ?? STORAGE_REFUSE_BYTES;
    // Read only near the warning share: below it, every standing is "ok" (`./storage-gauge.ts`).
    const size = this.#gauge.bound(refuseBytes * STORAGE_WARN_SHARE);
    const storage = storageStanding(size, refuseBytes);
    if (storage !== "ok") this.#warnStorage(size, refuseBytes, now);
    // Near the platform's limit per object, new keys are refused while the keys in flight can
    // still store their answers.
    if (storage === "full") return busy("storage");
    // Each call holds its request body until the origin answers, then its answer: past the
    // object's byte budget a new key is refused, before anything is claimed.
    const admission = this.#budget.admit(command.request.body?.byteLength ?? 0);
    if (admission === null) return busy("bytes");
    return admission;
  }

  #forward(command: ExecuteCommand, now: number, replacing: boolean): Promise<FinalReply> {
    const { identity, fingerprint, policy } = command;
    const admission = this.#admitCall(command, now);
    if ("kind" in admission) return Promise.resolve(admission);
    const sql = this.ctx.storage.sql;
    const refuseBytes = command.storageLimitBytes ?? STORAGE_REFUSE_BYTES;
    const record = claim(fingerprint, now, policy.ttlSeconds * 1000, policy.originTimeoutMs);
    // Synchronous: no other event can interleave between the read in `execute` and this claim.
    const insert = () =>
      sql.exec(
        "INSERT INTO records (identity, fingerprint, state, created_at, expires_at, lease_until, method, path, key_hash) VALUES (?, ?, 'in_flight', ?, ?, ?, ?, ?, ?)",
        identity,
        fingerprint,
        record.createdAt,
        record.expiresAt,
        record.leaseUntil,
        command.request.method,
        command.path ?? null,
        command.keyHash ?? null,
      );
    try {
      // Replacing an expired record takes two statements, which must commit together; a new key
      // takes one, atomic by itself (no savepoint on the common path).
      if (replacing) {
        this.ctx.storage.transactionSync(() => {
          this.#deleteRows(identity);
          insert();
        });
      } else insert();
      this.#gauge.wrote(CLAIM_BYTES);
    } catch (error) {
      // The database is at its size limit (SQLITE_FULL): nothing was claimed or sent.
      admission.release();
      if (isStorageFull(error)) {
        this.#warnStorage(sql.databaseSize, refuseBytes, now);
        return Promise.resolve(busy("storage"));
      }
      throw error;
    }
    return this.#hold(command, record, admission, null);
  }

  /**
   * Forwards `command` again for a record whose outcome is unknown, inside the origin's key
   * window (docs/adr/0011): the record is claimed again as `in_flight` with a new lease, in one
   * synchronous step from the read in `execute` exactly like a first claim, so one call at a
   * time reaches the origin and duplicates join it in memory.
   */
  #reforward(command: ExecuteCommand, row: RecordRow, now: number): Promise<FinalReply> {
    const admission = this.#admitCall(command, now);
    if ("kind" in admission) return Promise.resolve(admission);
    const record = reclaim(row, now, command.policy.originTimeoutMs);
    try {
      this.ctx.storage.sql.exec(
        "UPDATE records SET state = 'in_flight', lease_until = ?, reforwarded_at = ? WHERE identity = ?",
        record.leaseUntil,
        now,
        command.identity,
      );
      this.#gauge.wrote(0);
    } catch (error) {
      admission.release();
      throw error;
    }
    return this.#hold(command, record, admission, row.detail ?? LOST_TRACK);
  }

  /**
   * Runs the origin call of a claimed record, known in memory until it is recorded.
   *
   * @param unknownDetail - for a re-forward, why the outcome was unknown (kept if nothing is
   *   learnt); `null` for a first call
   */
  #hold(
    command: ExecuteCommand,
    record: KeyRecord,
    admission: Admission,
    unknownDetail: string | null,
  ): Promise<FinalReply> {
    const { identity } = command;
    const answer = this.#callAndRecord(command, record, admission, unknownDetail).finally(() => {
      // Recorded: from here the delivery budget counts the answer's bytes.
      admission.release();
      this.#inflight.delete(identity);
    });
    // The call's deadline starts now: by `dueAt` its outcome is known, one way or another.
    const dueAt = Date.now() + command.policy.originTimeoutMs;
    this.#inflight.set(identity, { answer, waiters: 0, dueAt });
    // Keeps the object alive until the origin has answered and the record is written, even if
    // the client has gone (compat >= 2026-10-01: durable_object_io_tasks_prevent_eviction).
    this.ctx.waitUntil(answer);
    return answer;
  }

  /**
   * A call that never reached the origin: a first call releases its key; a re-forward leaves
   * the record `unknown` as it was, since the first attempt may have reached the origin.
   */
  #unsent(identity: string, unknownDetail: string | null): void {
    if (unknownDetail === null) this.#delete(identity);
    else this.#markUnknown(identity, unknownDetail);
  }

  async #callAndRecord(
    command: ExecuteCommand,
    record: KeyRecord,
    admission: Admission,
    unknownDetail: string | null,
  ): Promise<FinalReply> {
    const { identity, policy, request } = command;
    let probe: ProbeReport | null;
    try {
      await this.#ensureAlarm(record.expiresAt);
      probe = await this.#probe(policy, request.headers);
    } catch (error) {
      // A failure before the origin call (arming the alarm, the probe): the request was never
      // sent, so the key is released rather than left to end `unknown`.
      this.#unsent(identity, unknownDetail);
      throw error;
    }
    if (probe?.result === "unreachable") {
      // The request was never sent: nothing reached the origin, so the key is released.
      this.#unsent(identity, unknownDetail);
      return {
        kind: "problem",
        outcome: "unreachable",
        replayed: false,
        problem: {
          code: "origin-unreachable",
          detail: "The origin could not be reached (connection refused or name not resolved).",
        },
        probe,
      };
    }
    const reply = await this.#callAndStore(command, record, admission, unknownDetail);
    return probe === null ? reply : { ...reply, probe };
  }

  /**
   * Probes the origin first when this isolate has no recent proof that it answers (docs/adr/0005),
   * and logs what the probe showed; `null` when no probe was needed (or it is off).
   */
  async #probe(policy: Policy, headers: [string, string][]): Promise<ProbeReport | null> {
    // Workers older than `IDEMPOTENCY_PROBE_PATH` probed `/`.
    const path = policy.probePath === undefined ? "/" : policy.probePath;
    if (!needsProbe(policy.originUrl, Date.now(), originBinding(this.env), path)) return null;
    const started = Date.now();
    const result = await probeOrigin(policy.originUrl, hopOnly(headers), {
      path: path ?? "/",
    });
    const report = { result, ms: Date.now() - started };
    // A probe that did not find the origin answering is worth an operator's look; one that did
    // is routine (at most one per contact window per isolate).
    const line = JSON.stringify({ event: "origin-probe", ...report });
    if (result === "reachable") console.info(line);
    else console.warn(line);
    return report;
  }

  /** Sends the claimed request to the origin and records what came of it. */
  async #callAndStore(
    command: ExecuteCommand,
    record: KeyRecord,
    admission: Admission,
    unknownDetail: string | null,
  ): Promise<FinalReply> {
    const { identity, policy, request } = command;
    const reforwarded = unknownDetail !== null;
    const started = Date.now();
    const result = await callOrigin(request, {
      binding: originBinding(this.env),
      timeoutMs: policy.originTimeoutMs,
      maxResponseBytes: policy.maxResponseBytes,
      answerBudget: admission,
    });
    const originMs = Date.now() - started;
    if (result.kind === "unsent") {
      // Nothing left for the origin: the key is released, and the failure is the gateway's.
      this.#unsent(identity, unknownDetail);
      console.error(JSON.stringify({ event: "unsent", detail: result.detail }));
      return { kind: "problem", outcome: "unsent", replayed: false, problem: INTERNAL_ERROR };
    }
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
    if (reforwarded && response.status === ORIGIN_IN_PROGRESS_STATUS) {
      // The origin is still working on the first attempt (Stripe's `idempotency_key_in_use`,
      // PayPal's `PREVIOUS_REQUEST_IN_PROGRESS`…): not an outcome. The record stays unknown and
      // re-forwardable, and the client is told to come back (docs/adr/0011).
      this.#markUnknown(identity, ORIGIN_STILL_WORKING);
      return {
        ...inProgress(retryAfter(policy.originTimeoutMs)),
        outcome: "reforwarded",
        originMs,
      };
    }
    const answered = reforwarded ? "reforwarded" : "forwarded";
    if (policy.retryStatuses.includes(response.status)) {
      // The origin asked for a retry: nothing happened there that a retry could duplicate — of
      // this call. A re-forward's retry status says nothing of the first attempt, which may have
      // executed: the record stays unknown (re-forwardable inside the origin's window only), or
      // a later retry, past the window, would be forwarded as new (docs/adr/0011).
      this.#unsent(identity, unknownDetail);
      return { ...base, outcome: reforwarded ? "reforwarded" : "released" };
    }
    const headers = encodeHeaders(response.headers);
    if (headers.length > MAX_STORED_HEADER_BYTES) {
      const detail = "The origin's response headers were too large to keep for replay.";
      this.#markUnknown(identity, detail);
      return { ...base, outcome: answered };
    }
    try {
      this.#complete(identity, response, headers);
      return { ...base, outcome: answered, storedUntil: record.expiresAt };
    } catch (error) {
      // The origin answered, so this caller gets that answer. The record stays "in flight" and
      // fails closed once its lease ends: never a second forward.
      console.error(
        JSON.stringify({ event: "store-failed", error: String(error), status: response.status }),
      );
    }
    return { ...base, outcome: answered };
  }

  #join(first: InFlight, policy: Policy): Promise<FinalReply> {
    // Each waiter holds a promise and a timer: past the bound, duplicates are told to come back.
    if (policy.concurrency === "reject" || first.waiters >= MAX_WAITERS_PER_KEY) {
      return Promise.resolve(inProgress(secondsUntil(first.dueAt)));
    }
    first.waiters++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<FinalReply>((resolve) => {
      timer = setTimeout(() => resolve(inProgress(secondsUntil(first.dueAt))), policy.waitMs);
    });
    // The first request's probe is its own: a duplicate does not count it again.
    const coalesced = first.answer.then(({ probe, ...answer }): FinalReply => ({
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
    this.#gauge.wrote(response.body.byteLength + headers.length);
  }

  #markUnknown(identity: string, detail: string): void {
    this.ctx.storage.sql.exec(
      "UPDATE records SET state = 'unknown', detail = ? WHERE identity = ?",
      detail,
      identity,
    );
    this.#gauge.wrote(detail.length);
  }

  #delete(identity: string): boolean {
    return this.ctx.storage.transactionSync(() => this.#deleteRows(identity));
  }

  /** The deletes of `#delete`, for a caller already inside a transaction. */
  #deleteRows(identity: string): boolean {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM chunks WHERE identity = ?", identity);
    return sql.exec("DELETE FROM records WHERE identity = ?", identity).rowsWritten > 0;
  }

  /** Logs, at most once a minute per instance, that this object's storage is high. */
  #warnStorage(bytes: number, refuseBytes: number, now: number): void {
    if (now - this.#storageWarnedAt < ALARM_BATCH_MS) return;
    this.#storageWarnedAt = now;
    const name = this.ctx.id.name ?? "";
    // The object's name is a shard name, or (one object per key) a key identity, of which a log
    // line must carry nothing: a prefix would confirm a guessed scope and key (src/core/key-hash.ts).
    const object = /^[0-9a-f]{64}/.test(name) ? "one key's object" : name;
    console.warn(
      JSON.stringify({
        event: "storage-high",
        object,
        bytes,
        refuseBytes,
        limitBytes: OBJECT_STORAGE_LIMIT_BYTES,
      }),
    );
  }

  /**
   * Asks the registry for its verdict on `report` — through a relay when this object holds one
   * key only (`IDEMPOTENCY_SHARDS=0`), so that the registry's load does not grow with new keys.
   */
  async #askRegistry(report: MappingReport): Promise<Confirmed> {
    const name = this.ctx.id.name;
    if (name !== undefined && isKeyObjectName(name)) {
      return await this.env.COORDINATOR.getByName(relayName(name)).relayVerdict(report);
    }
    const sentAt = Date.now();
    const verdict = await this.env.COORDINATOR.getByName(REGISTRY_NAME).reportMapping(report);
    return { verdict, confirmedAt: sentAt };
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
        "SELECT identity, fingerprint, state, created_at, expires_at, lease_until, status, headers, body, body_bytes, chunk_count, detail, method, path, resolved_at, reforwarded_at FROM records WHERE identity = ?",
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
      reforwardedAt: row.reforwarded_at,
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
  resolved_at INTEGER,
  reforwarded_at INTEGER
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
  reforwarded_at: number | null;
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
  reforwardedAt: number | null;
}

/**
 * An upper bound of the bytes a claim or marker row stores (identity, fingerprint, key hash,
 * method, path, destination), for the storage gauge.
 */
const CLAIM_BYTES = 4096;

const MISMATCH = { code: "idempotency-key-reused" } as const;

const INTERNAL_ERROR = { code: "internal-error" } as const;

/** Why an in-flight record that no instance holds became `unknown` once its lease ended. */
const LOST_TRACK =
  "The gateway lost track of the request while it was at the origin (restart or eviction).";

/**
 * The status of an origin's "still working on this key" answer to a re-forward, never stored as
 * an outcome: Stripe's `409` `idempotency_key_in_use`, PayPal's `409` `RESOURCE_CONFLICT` with
 * issue `PREVIOUS_REQUEST_IN_PROGRESS`. Any `409` to a re-forward counts (docs/adr/0011): the
 * first attempt's own answer, if it was one, is then learnt by a later re-forward or, past the
 * window, by reconciling.
 */
const ORIGIN_IN_PROGRESS_STATUS = 409;

/** Why a record a re-forward met the origin still working on is unknown again. */
const ORIGIN_STILL_WORKING =
  "The request was forwarded again and the origin answered 409: still working on the first attempt.";

/** The shortest time between two garbage-collecting alarms of one object. */
export const ALARM_BATCH_MS = 60_000;

/** Most records (and, separately, moved markers) one alarm run deletes. */
export const ALARM_BATCH_ROWS = 1_000;

/** How soon the alarm runs again while expired rows remain beyond one batch. */
export const ALARM_BACKLOG_MS = 1_000;

/**
 * Most duplicates that may wait on one in-flight key in one object. Beyond it they get
 * `409 request-in-progress` at once, which keeps memory per key bounded under a retry storm.
 */
export const MAX_WAITERS_PER_KEY = 1000;

/**
 * Most origin calls one object runs at once. Beyond it, a new key gets `503 gateway-busy` at
 * once, with nothing claimed or forwarded (overload, not a duplicate). The bytes of the calls are
 * bounded by `./inflight-budget.ts`; this bounds what each call costs besides its bytes, measured
 * with `bench/inflight-memory.ts` (100 to 400 calls held at the origin, one object): about
 * 10 KiB of the object's isolate per call (150 KiB of workerd's process, connection buffers
 * included). 256 calls add 2.5 MiB to the byte pools' 88 MiB, well under an isolate's 128 MB, and
 * let one object forward 85 first requests per second to an origin that takes 3 s
 * (`bench/README.md`, "Capacity"). Above 378 a cap would change nothing: the byte budget admits
 * at most that many calls, at 64 KiB of answer reserve each.
 */
export const MAX_INFLIGHT_CALLS = 256;

/** A key's origin call in progress in this instance, and how many duplicates wait for it. */
interface InFlight {
  answer: Promise<FinalReply>;
  waiters: number;
  /** When the call's origin deadline ends (epoch ms): its outcome is known by then. */
  dueAt: number;
}

/** The hop marker of a forwarded request, for its probe (a route loop is caught as usual). */
function hopOnly(headers: [string, string][]): [string, string][] {
  const hop = HOP_HEADER.toLowerCase();
  return headers.filter(([name]) => name === hop);
}

/** A route's rule for unknown outcomes; `null` (also for policies of older Workers): fail closed. */
function reforwardRule(policy: Policy): Reforward | null {
  // Workers older than these settings send neither: `undefined` is fail-closed.
  if (policy.unknownOutcome !== "reforward" || policy.originKeySeconds == null) return null;
  return { originKeyMs: policy.originKeySeconds * 1000, originTimeoutMs: policy.originTimeoutMs };
}

function retryAfter(originTimeoutMs: number): number {
  return Math.max(1, Math.ceil(originTimeoutMs / 1000));
}

/**
 * A duplicate's `Retry-After`: the whole seconds until the first call's outcome is due, at least
 * 1. Not a whole origin timeout: SDKs that honour the header as given (Stainless-generated ones
 * sleep exactly that long) would wait that much past the answer (docs/providers.md, "Generated
 * SDKs (Stainless)").
 */
function secondsUntil(dueAt: number): number {
  return Math.max(1, Math.ceil((dueAt - Date.now()) / 1000));
}

function inProgress(retryAfterSeconds: number): FinalReply {
  return {
    kind: "problem",
    outcome: "rejected",
    replayed: false,
    problem: { code: "request-in-progress", retryAfterSeconds },
  };
}

/** Overload: nothing was claimed, and a retry soon is a first request (README, "Bounds"). */
function busy(reason: BusyReason): FinalReply {
  return {
    kind: "problem",
    outcome: "busy",
    replayed: false,
    problem: { code: "gateway-busy", reason, retryAfterSeconds: busyRetryAfter(Math.random()) },
  };
}

/** The registry refused the Worker's key mapping: nothing may be claimed under it (ADR 0006). */
function misconfigured(refusal: { variable: string; detail: string }): FinalReply {
  return {
    kind: "problem",
    outcome: "misconfigured",
    replayed: false,
    problem: { code: "invalid-configuration", variable: refusal.variable, detail: refusal.detail },
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
