import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { keyIdentity } from "../../src/core/key-identity";
import { keyHashOf } from "../../src/core/key-hash";
import { E2E_KEY_HASH_SECRET, send, startGateway } from "./harness";

/**
 * The operator console in a real browser: Playwright (`playwright-core`, which downloads no
 * browser) drives the system's Chromium against `wrangler dev` (docs/operations.md, "Reconciling an unknown
 * outcome"). `.ci/run` installs Chromium where it can; without one these tests are skipped, and
 * say so. `CHROMIUM_PATH` points at another executable. `CONSOLE_SCREENSHOT=docs/console.png`
 * saves the README's screenshot.
 */

const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"]
  .filter((candidate): candidate is string => candidate !== undefined && candidate !== "")
  .find((candidate) => existsSync(candidate));

if (CHROMIUM === undefined) {
  console.warn(
    "test/e2e/console.test.ts: SKIPPED — no Chromium executable (/usr/bin/chromium). Install it with `apt-get install -y chromium`, or set CHROMIUM_PATH.",
  );
}

const ADMIN_TOKEN = "e2e-console-admin-token-0123456789";
const CREDENTIAL = "Bearer sk_test_e2e";
const RESOLVED_BODY = '{"id":"ch_console","status":"succeeded"}';

let origin: TestOrigin;
let gateway: WranglerDev;
let browser: BrowserContext;
let profile: string;

async function keyHashOfKey(key: string): Promise<string> {
  const identity = await keyIdentity(
    ["authorization"],
    (name) => (name === "authorization" ? CREDENTIAL : null),
    key,
  );
  return keyHashOf(identity, E2E_KEY_HASH_SECRET);
}

/** A key whose request timed out at the origin: its record is `unknown`. */
async function unknownKey(originPath = "/hang"): Promise<{ key: string; keyHash: string }> {
  const key = randomUUID();
  expect((await send(gateway, originPath, { key })).status).toBe(504);
  return { key, keyHash: await keyHashOfKey(key) };
}

function lookup(keyHash: string): Promise<Response> {
  return fetch(`${gateway.url}/__idempotency/keys/lookup`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ keyHash }),
  });
}

/** A console page with the token pasted, and a record of every complaint the browser makes. */
async function connectedConsole(): Promise<{ page: Page; complaints: string[] }> {
  const page = await browser.newPage();
  const complaints: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") complaints.push(message.text());
  });
  page.on("pageerror", (error) => complaints.push(String(error)));
  await page.goto(`${gateway.url}/__idempotency/console`);
  await page.fill("#token", ADMIN_TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.waitForSelector("#records:not([hidden])");
  return { page, complaints };
}

describe.skipIf(CHROMIUM === undefined)("the console in Chromium", () => {
  beforeAll(async () => {
    origin = await startTestOrigin();
    gateway = await startGateway(origin.url, {
      ADMIN_TOKEN,
      IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300",
      IDEMPOTENCY_SHARDS: "4",
    });
    profile = mkdtempSync(path.join(tmpdir(), "idem-console-"));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM as string,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
      viewport: { width: 1280, height: 860 },
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
    await gateway?.stop();
    await origin?.close();
  });

  it("lists an unknown record once the token is pasted, resolves it, and the client's retry replays the answer", async () => {
    await unknownKey("/stall-body");
    const { key, keyHash } = await unknownKey();
    const { page, complaints } = await connectedConsole();

    const row = page.locator(`button[data-key-hash="${keyHash}"]`);
    await row.waitFor();
    await row.click();
    await page.waitForSelector("#resolve-form:not([hidden])");
    expect(await page.textContent("#r-hash")).toBe(keyHash);
    expect(await page.textContent("#r-fields")).toContain("POST /hang");

    await page.fill("#res-status", "201");
    await page.fill("#res-headers", "content-type: application/json\nx-charge-id: ch_console");
    await page.fill("#res-body", RESOLVED_BODY);
    const screenshot = process.env.CONSOLE_SCREENSHOT;
    if (screenshot !== undefined) {
      // Tall enough for the whole page: the status line sticks to the bottom of the window.
      await page.setViewportSize({ width: 1280, height: 1320 });
      await page.screenshot({ path: screenshot });
    }
    await page.click("#resolve-form button[type=submit]");
    await page.waitForSelector("#status:has-text('Resolved')");
    expect(await page.textContent("#r-fields")).toContain("completed");

    const retry = await send(gateway, "/hang", { key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("x-charge-id")).toBe("ch_console");
    expect(await retry.text()).toBe(RESOLVED_BODY);
    expect(origin.requests(key)).toHaveLength(1);

    // The token lives in the page's memory only: no cookie, no storage, not in the field.
    expect(await browser.cookies()).toEqual([]);
    expect(await page.evaluate("localStorage.length + sessionStorage.length")).toBe(0);
    expect(await page.inputValue("#token")).toBe("");
    expect(complaints).toEqual([]);
    await page.close();
  });

  it("purges a record only after the confirmation", async () => {
    const { keyHash } = await unknownKey();
    const { page, complaints } = await connectedConsole();
    await page.fill("#find", keyHash);
    await page.click("#find-form button[type=submit]");
    await page.waitForSelector("#record:not([hidden])");

    await page.click("#purge");
    await page.waitForSelector("#purge-confirm:not([hidden])");
    expect((await lookup(keyHash)).status).toBe(200);
    await page.click("#purge-yes");
    await page.waitForSelector("#status:has-text('Purged')");
    expect((await lookup(keyHash)).status).toBe(404);
    expect(complaints).toEqual([]);
    await page.close();
  });

  it("fits a phone's screen without sideways scrolling", async () => {
    await unknownKey();
    const { page, complaints } = await connectedConsole();
    await page.setViewportSize({ width: 375, height: 812 });
    await page.waitForSelector("#rows tr");
    // Evaluated in the page (this file compiles without the DOM's types).
    const overflow = await page.evaluate(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    expect(overflow).toBeLessThanOrEqual(0);
    expect(complaints).toEqual([]);
    await page.close();
  });

  it("refuses a wrong token and forgets it", async () => {
    const page = await browser.newPage();
    await page.goto(`${gateway.url}/__idempotency/console`);
    await page.fill("#token", "not-the-token");
    await page.click("#token-form button[type=submit]");
    await page.waitForSelector("#status.error:has-text('refused')");
    expect(await page.isVisible("#records")).toBe(false);
    await page.close();
  });
});
