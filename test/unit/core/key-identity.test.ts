import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keyIdentity } from "../../../src/core/key-identity";

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

  it("does NOT contain the raw credential or the raw key", async () => {
    const identity = await keyIdentity(
      DEFAULT_SCOPE,
      headersOf({ authorization: ALICE_TOKEN }),
      KEY,
    );
    expect(identity).not.toContain(ALICE_TOKEN);
    expect(identity).not.toContain("SECRET");
    expect(identity).not.toContain(KEY);
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
