import { DurableObject } from "cloudflare:workers";

type Env = Record<string, unknown>;

/**
 * The floor's object: one read, the claim committed before the origin call (the output gate holds
 * the call until it is), the answer committed before the reply. Nothing else.
 */
export class FloorCoordinator extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS records (identity TEXT PRIMARY KEY, status INTEGER, headers TEXT, body BLOB)",
    );
  }

  async execute(
    identity: string,
    url: string,
    headers: [string, string][],
    body: Uint8Array,
  ): Promise<{ status: number; headers: [string, string][]; body: Uint8Array; replayed: boolean }> {
    const sql = this.ctx.storage.sql;
    const row = sql
      .exec<{
        status: number | null;
        headers: string | null;
        body: ArrayBuffer | null;
      }>("SELECT status, headers, body FROM records WHERE identity = ?", identity)
      .toArray()[0];
    if (row !== undefined) {
      return {
        status: row.status ?? 409,
        headers: JSON.parse(row.headers ?? "[]") as [string, string][],
        body: new Uint8Array(row.body ?? new ArrayBuffer(0)),
        replayed: true,
      };
    }
    sql.exec("INSERT INTO records (identity) VALUES (?)", identity);
    const response = await fetch(url, { method: "POST", headers, body });
    const answer = new Uint8Array(await response.arrayBuffer());
    const kept: [string, string][] = [...response.headers];
    sql.exec(
      "UPDATE records SET status = ?, headers = ?, body = ? WHERE identity = ?",
      response.status,
      JSON.stringify(kept),
      answer,
      identity,
    );
    return { status: response.status, headers: kept, body: answer, replayed: false };
  }
}

export default {
  fetch: () => new Response("not found", { status: 404 }),
} satisfies ExportedHandler;
