import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, startGateway } from "./harness";

/**
 * Multipart uploads over real HTTP (docs/configuration.md, "Comparing bodies"; docs/adr/0007): Node's `fetch`
 * (undici) encodes the same `FormData` with a new random boundary on every call, as an SDK's
 * retry does, through `wrangler dev` to a real origin.
 */

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, { IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** A dispute's evidence, as an SDK uploads it. */
function evidence(): FormData {
  const form = new FormData();
  form.append("purpose", "dispute_evidence");
  const pdf = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x0d, 0x0a, 0xe2, 0xe3, 0x00]);
  form.append("file", new Blob([pdf], { type: "application/pdf" }), "receipt.pdf");
  return form;
}

function upload(key: string, body: FormData | string, contentType?: string) {
  const headers: Record<string, string> = {
    authorization: "Bearer sk_test_e2e",
    "idempotency-key": key,
  };
  if (contentType !== undefined) headers["content-type"] = contentType;
  return fetch(`${gateway.url}/v1/files`, { method: "POST", headers, body });
}

describe("multipart uploads over HTTP (wrangler dev)", () => {
  it("replays a FormData that fetch encoded again with a new boundary: one request reached the origin", async () => {
    const key = randomUUID();
    const form = evidence();
    // Node's fetch draws a new boundary for each encoding: the two attempts are other bytes.
    const boundaries = [form, form].map((body) =>
      new Request(gateway.url, { method: "POST", body }).headers.get("content-type"),
    );
    expect(boundaries[0]).not.toBe(boundaries[1]);
    const first = await upload(key, form);
    const retry = await upload(key, form);
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const seen = origin.requests(key);
    expect(seen).toHaveLength(1);
    expect(String(seen[0]?.headers["content-type"])).toMatch(/^multipart\/form-data; boundary=/);
  });

  it("answers 400 malformed-body to a multipart body without its closing delimiter, forwarding nothing", async () => {
    const key = randomUUID();
    const body = '--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nevidence';
    const refused = await upload(key, body, "multipart/form-data; boundary=b");
    expect(refused.status).toBe(400);
    expect((await problemOf(refused)).code).toBe("malformed-body");
    expect(origin.requests(key)).toHaveLength(0);
  });
});
