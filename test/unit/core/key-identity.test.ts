import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keyIdentity, unreadableScopeHeader } from "../../../src/core/key-identity";

// The encoding and the hash are written out again here, not imported from src/core, so that the
// code is checked against the documents (docs/adr/0002, docs/adr/0004) rather than against itself.

const KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324";
const ALICE_TOKEN = "Bearer sk_live_alice_51HxyzSECRET";
const BOB_TOKEN = "Bearer sk_live_bob_51HxyzSECRET";
const DEFAULT_SCOPE = ["authorization"] as const;
const TWO_SCOPE_HEADERS = ["authorization", "x-tenant"] as const;

/** A header lookup over a plain record; names not in it are absent (`null`). */
function headersOf(values: Readonly<Record<string, string>>): (name: string) => string | null {
  return (name) => values[name] ?? null;
}

const NO_HEADERS = headersOf({});

/**
 * The documented encoding of a key identity (docs/adr/0002 and the doc comment of `keyIdentity`):
 * the fields `identity/v1`, the number of scope headers, then for each configured header its
 * name, a presence flag (`+` present, `-` absent) and its value (empty when absent), then the
 * unquoted key. Each field is a 4-byte big-endian byte length followed by its UTF-8 bytes
 * (docs/adr/0004).
 */
function documentedEncoding(
  scopeHeaders: readonly string[],
  header: (name: string) => string | null,
  key: string,
): Uint8Array {
  const fields = ["identity/v1", String(scopeHeaders.length)];
  for (const name of scopeHeaders) {
    const value = header(name);
    fields.push(name, value === null ? "-" : "+", value ?? "");
  }
  fields.push(key);
  const bytes: number[] = [];
  for (const field of fields) {
    const utf8 = new TextEncoder().encode(field);
    const n = utf8.byteLength;
    bytes.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, ...utf8);
  }
  return Uint8Array.from(bytes);
}

/** SHA-256 as lowercase hex, straight from WebCrypto. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** One known answer: a configuration, a request's scope headers and key, and its identity. */
interface IdentityVector {
  name: string;
  scopeHeaders: readonly string[];
  headers: Readonly<Record<string, string>>;
  key: string;
  identity: string;
}

/**
 * Known answers, computed once (outside this code, with Node's `crypto`) and written down.
 *
 * DO NOT EDIT these digests to make a test pass. The identity names the object that holds a key
 * and the key's row in it, so a change of any digest re-homes every stored key: its retries find
 * no record and are forwarded to the origin a second time. An encoding change must come with a
 * new version tag (`identity/v1`, and `MAPPING_VERSION`) and a migration (docs/adr/0006), and
 * only then new vectors.
 */
const IDENTITY_VECTORS: readonly IdentityVector[] = [
  {
    name: "no scope headers configured",
    scopeHeaders: [],
    headers: { authorization: "Bearer sk_test_a" },
    key: KEY,
    identity: "6bee1556953521a58705456b04db382c20be9d1ac3ef77c38169aee311c4bf1e",
  },
  {
    name: "one scope header, present",
    scopeHeaders: ["authorization"],
    headers: { authorization: "Bearer sk_test_a" },
    key: KEY,
    identity: "b4f5fd43299f17251c6b1b6d9041b9273485bcac1c0e53f6f2f1102eb1232e8f",
  },
  {
    name: "one scope header, absent",
    scopeHeaders: ["authorization"],
    headers: {},
    key: KEY,
    identity: "5cc21a39007ddfc1f0f658af96589f7ffed985ba20640d111b07a17600fc243c",
  },
  {
    name: "one scope header, present but empty",
    scopeHeaders: ["authorization"],
    headers: { authorization: "" },
    key: KEY,
    identity: "99e2ef42b80a6c6bb1ec24a8091454a8c1bdda6c8120973cdd5e2aeb715c1b7c",
  },
  {
    name: "two scope headers, both present",
    scopeHeaders: ["authorization", "x-tenant"],
    headers: { authorization: "Bearer sk_test_a", "x-tenant": "acme" },
    key: KEY,
    identity: "be6f6669d071c80d34a1a4fb9ea38e81d20c6dcaea4717e269478ddeddc4e722",
  },
  {
    name: "two scope headers, the second absent",
    scopeHeaders: ["authorization", "x-tenant"],
    headers: { authorization: "Bearer sk_test_a" },
    key: KEY,
    identity: "1995c0c657d5575da5ffcf3f3a90bc89bf78eee134b021937dd8abda3e463c49",
  },
  {
    name: "a key with quotes, a backslash, separators and spaces",
    scopeHeaders: ["authorization"],
    headers: { authorization: "Bearer sk_test_a" },
    key: String.raw`"q" \,;= ~`,
    identity: "417028fb5bb2c251b38c656309337bcb1d502cef94f299afe3163ff2606f2344",
  },
];

/** One request's scope values (`null`: header absent) and key, under TWO_SCOPE_HEADERS. */
interface Caller {
  authorization: string | null;
  tenant: string | null;
  key: string;
}

describe("keyIdentity", () => {
  it("is a SHA-256 in lowercase hex", async () => {
    expect(
      await keyIdentity(DEFAULT_SCOPE, headersOf({ authorization: ALICE_TOKEN }), KEY),
    ).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is the same for the same key under the same credential (deterministic)", async () => {
    const headers = headersOf({ authorization: ALICE_TOKEN });
    expect(await keyIdentity(DEFAULT_SCOPE, headers, KEY)).toBe(
      await keyIdentity(DEFAULT_SCOPE, headers, KEY),
    );
  });

  it("gives the same key under two credentials two different identities", async () => {
    const alice = await keyIdentity(DEFAULT_SCOPE, headersOf({ authorization: ALICE_TOKEN }), KEY);
    const bob = await keyIdentity(DEFAULT_SCOPE, headersOf({ authorization: BOB_TOKEN }), KEY);
    expect(alice).not.toBe(bob);
  });

  it("gives two keys under one credential two different identities", async () => {
    const headers = headersOf({ authorization: ALICE_TOKEN });
    expect(await keyIdentity(DEFAULT_SCOPE, headers, KEY)).not.toBe(
      await keyIdentity(DEFAULT_SCOPE, headers, `${KEY}-2`),
    );
  });

  it("does NOT treat an absent scope header like an empty one", async () => {
    const absent = await keyIdentity(DEFAULT_SCOPE, NO_HEADERS, KEY);
    const empty = await keyIdentity(DEFAULT_SCOPE, headersOf({ authorization: "" }), KEY);
    expect(absent).not.toBe(empty);
  });

  it("does NOT treat an absent scope header like one whose value is the presence marker", async () => {
    const absent = await keyIdentity(DEFAULT_SCOPE, NO_HEADERS, KEY);
    const dash = await keyIdentity(DEFAULT_SCOPE, headersOf({ authorization: "-" }), KEY);
    expect(absent).not.toBe(dash);
  });

  it("takes the credential and the key in only through SHA-256: the identity is exactly the digest of their documented encoding", async () => {
    const identity = await keyIdentity(
      DEFAULT_SCOPE,
      headersOf({ authorization: ALICE_TOKEN }),
      KEY,
    );
    expect(identity).toBe(
      await sha256Hex(
        documentedEncoding(DEFAULT_SCOPE, headersOf({ authorization: ALICE_TOKEN }), KEY),
      ),
    );
  });

  it("depends on the order of the scope headers as configured", async () => {
    const headers = headersOf({ authorization: ALICE_TOKEN, "x-tenant": "acme" });
    const configured = await keyIdentity(TWO_SCOPE_HEADERS, headers, KEY);
    const reversed = await keyIdentity([...TWO_SCOPE_HEADERS].reverse(), headers, KEY);
    expect(configured).not.toBe(reversed);
  });

  it("does NOT confuse values swapped between two scope headers", async () => {
    const one = await keyIdentity(
      TWO_SCOPE_HEADERS,
      headersOf({ authorization: "a", "x-tenant": "b" }),
      KEY,
    );
    const other = await keyIdentity(
      TWO_SCOPE_HEADERS,
      headersOf({ authorization: "b", "x-tenant": "a" }),
      KEY,
    );
    expect(one).not.toBe(other);
  });

  it("ignores headers that are not named as scope headers", async () => {
    const plain = await keyIdentity(DEFAULT_SCOPE, headersOf({ authorization: ALICE_TOKEN }), KEY);
    const extra = await keyIdentity(
      DEFAULT_SCOPE,
      headersOf({ authorization: ALICE_TOKEN, "x-request-id": "r-1" }),
      KEY,
    );
    expect(extra).toBe(plain);
  });

  it("gives every caller the same identity for a key when no scope headers are configured", async () => {
    const alice = await keyIdentity([], headersOf({ authorization: ALICE_TOKEN }), KEY);
    const bob = await keyIdentity([], headersOf({ authorization: BOB_TOKEN }), KEY);
    expect(alice).toBe(bob);
  });

  it("does NOT equal the unscoped identity when a scope header is configured but absent", async () => {
    expect(await keyIdentity(DEFAULT_SCOPE, NO_HEADERS, KEY)).not.toBe(
      await keyIdentity([], NO_HEADERS, KEY),
    );
  });

  it("does NOT collide when bytes move between the scope value and the key (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 10 }),
        fc.string({ minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.nat(),
        async (credential, key, x, y) => {
          const text = credential + key;
          const i = x % (text.length + 1);
          const j = y % (text.length + 1);
          fc.pre(i !== j);
          const at = (cut: number) =>
            keyIdentity(
              DEFAULT_SCOPE,
              headersOf({ authorization: text.slice(0, cut) }),
              text.slice(cut),
            );
          expect(await at(i)).not.toBe(await at(j));
        },
      ),
    );
  });

  it("gives distinct (scope values, key) pairs distinct identities (property)", async () => {
    const scopeValue = fc.option(fc.string({ maxLength: 8 }), { nil: null });
    const caller: fc.Arbitrary<Caller> = fc.record({
      authorization: scopeValue,
      tenant: scopeValue,
      key: fc.string({ minLength: 1, maxLength: 8 }),
    });
    const identityOf = (c: Caller) =>
      keyIdentity(
        TWO_SCOPE_HEADERS,
        (name) => (name === "authorization" ? c.authorization : c.tenant),
        c.key,
      );
    await fc.assert(
      fc.asyncProperty(caller, caller, async (a, b) => {
        fc.pre(a.authorization !== b.authorization || a.tenant !== b.tenant || a.key !== b.key);
        expect(await identityOf(a)).not.toBe(await identityOf(b));
      }),
    );
  });
});

describe("keyIdentity known answers", () => {
  it.each(IDENTITY_VECTORS)(
    "is the SHA-256 of the documented encoding ($name)",
    async ({ scopeHeaders, headers, key }) => {
      expect(await keyIdentity(scopeHeaders, headersOf(headers), key)).toBe(
        await sha256Hex(documentedEncoding(scopeHeaders, headersOf(headers), key)),
      );
    },
  );

  it.each(IDENTITY_VECTORS)(
    "still gives the pinned identity, so no stored key is re-homed ($name)",
    async ({ scopeHeaders, headers, key, identity }) => {
      expect(await keyIdentity(scopeHeaders, headersOf(headers), key)).toBe(identity);
    },
  );
});

describe("unreadableScopeHeader", () => {
  it("names the first scope header whose value holds U+FFFD, what the runtime reads for bytes that are not UTF-8", () => {
    const headers = headersOf({ authorization: "Bearer \uFFFD", "x-tenant": "\uFFFD" });
    expect(unreadableScopeHeader(TWO_SCOPE_HEADERS, headers)).toBe("authorization");
    expect(unreadableScopeHeader(["x-tenant"], headers)).toBe("x-tenant");
  });

  it("does NOT object to absent, empty, ASCII or valid non-ASCII values, nor to headers outside the scope", () => {
    const headers = headersOf({ authorization: "Bearer clé", "x-other": "\uFFFD" });
    expect(unreadableScopeHeader(TWO_SCOPE_HEADERS, headers)).toBeNull();
    expect(unreadableScopeHeader(DEFAULT_SCOPE, headersOf({ authorization: "" }))).toBeNull();
    expect(unreadableScopeHeader([], headers)).toBeNull();
  });
});
