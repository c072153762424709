import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { EDGE_OFF, gateway, newKey, originRequests, problemOf, type Vars } from "./harness";

/**
 * `multipart/form-data` bodies compared by their parts in every fingerprint mode (docs/configuration.md, "Comparing bodies"; docs/adr/0007): an SDK that hands `fetch` the same `FormData` on every attempt
 * sends each with a new random boundary, and its retry is still the same request.
 */

const AUTH = { authorization: "Bearer sk_test_a" };

/** A document upload as a payment SDK builds it: a purpose and a file. */
function evidence(content = "%PDF-1.7 receipt"): FormData {
  const form = new FormData();
  form.append("purpose", "dispute_evidence");
  form.append("file", new File([content], "receipt.pdf", { type: "application/pdf" }));
  return form;
}

/** The same form as `evidence()`, laid out by hand under `boundary`. */
function handBuilt(boundary: string, preamble = ""): string {
  return (
    `${preamble}--${boundary}\r\n` +
    'Content-Disposition: form-data; name="purpose"\r\n\r\ndispute_evidence\r\n' +
    `--${boundary}\r\n` +
    'Content-Disposition: form-data; name="file"; filename="receipt.pdf"\r\n' +
    "Content-Type: application/pdf\r\n\r\n%PDF-1.7 receipt\r\n" +
    `--${boundary}--\r\n`
  );
}

function upload(key: string, body: FormData | string, vars: Vars = {}, boundary?: string) {
  const headers: Record<string, string> = { ...AUTH, "idempotency-key": key };
  if (boundary !== undefined) headers["content-type"] = `multipart/form-data; boundary=${boundary}`;
  return gateway("/v1/files", { method: "POST", headers, body }, { ...EDGE_OFF, ...vars });
}

describe("a multipart form sent again with a new boundary", () => {
  it.each(["bytes", "json"])(
    "is replayed under IDEMPOTENCY_FINGERPRINT=%s: one origin call, the stored answer",
    async (mode) => {
      const key = newKey();
      const vars = { IDEMPOTENCY_FINGERPRINT: mode };
      const first = await upload(key, handBuilt("----b1"), vars, "----b1");
      const retry = await upload(key, handBuilt("xYz-2", "preamble\r\n"), vars, "xYz-2");
      expect(first.status).toBe(201);
      expect(retry.status).toBe(201);
      expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
      expect(await retry.text()).toBe(await first.text());
      expect(await originRequests(key)).toHaveLength(1);
    },
  );

  it("is replayed when the runtime encodes one FormData twice, as an SDK's retry does", async () => {
    // The runtime draws a new boundary for each encoding: the two attempts are other bytes.
    const form = evidence();
    const boundaries = [form, form].map((body) =>
      new Request("https://api.example.com/", { method: "POST", body }).headers.get("content-type"),
    );
    expect(boundaries[0]).not.toBe(boundaries[1]);
    const key = newKey();
    const first = await upload(key, form);
    const retry = await upload(key, form);
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("reaches the origin byte for byte as the client sent it, boundary included", async () => {
    const key = newKey();
    await upload(key, handBuilt("----b1"), {}, "----b1");
    const [seen] = await originRequests(key);
    expect(Buffer.from(seen?.bodyBase64 ?? "", "base64").toString()).toBe(handBuilt("----b1"));
    expect(seen?.headers["content-type"]).toBe("multipart/form-data; boundary=----b1");
  });
});

describe("a multipart form that differs in a part", () => {
  it("is 422 idempotency-key-reused and NOT forwarded", async () => {
    const key = newKey();
    await upload(key, evidence());
    const other = await upload(key, evidence("%PDF-1.7 another receipt"));
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe("idempotency-key-reused");
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("a multipart body that does not parse", () => {
  it.each([
    ["without a closing delimiter", "----b1", handBuilt("----b1").replace("----b1--\r\n", "")],
    ["without a boundary parameter", "", handBuilt("----b1")],
    ["with a part that has no name", "----b1", handBuilt("----b1").replace(' name="purpose"', "")],
  ])(
    "is 400 malformed-body %s: nothing forwarded, and the key is not used",
    async (_, boundary, body) => {
      const key = newKey();
      const headers: Record<string, string> = {
        ...AUTH,
        "idempotency-key": key,
        "content-type":
          boundary === "" ? "multipart/form-data" : `multipart/form-data; boundary=${boundary}`,
      };
      const refused = await gateway("/v1/files", { method: "POST", headers, body }, EDGE_OFF);
      expect(refused.status).toBe(400);
      const problem = await problemOf(refused);
      expect(problem.code).toBe("malformed-body");
      expect(String(problem.detail)).toContain("multipart/form-data (RFC 7578)");
      expect(await originRequests(key)).toHaveLength(0);
      const fixed = await upload(key, handBuilt("----b1"), {}, "----b1");
      expect(fixed.status).toBe(201);
      expect(fixed.headers.get(REPLAYED_HEADER)).toBeNull();
    },
  );

  it("is passed through untouched without a key, where keys are optional", async () => {
    const marker = newKey();
    const body = "--b\r\nnot a form";
    const headers = {
      ...AUTH,
      "x-marker": marker,
      "content-type": "multipart/form-data; boundary=b",
    };
    const response = await gateway("/v1/files", { method: "POST", headers, body });
    expect(response.status).toBe(201);
    const [seen] = await originRequests(marker);
    expect(Buffer.from(seen?.bodyBase64 ?? "", "base64").toString()).toBe(body);
  });
});
