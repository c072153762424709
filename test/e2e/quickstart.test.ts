import { exec, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../harness/wrangler-dev.ts";

/**
 * The quick start, as a reader runs it: `npm start` (scripts/start.ts) on free ports, then the
 * curl lines it prints, exactly as printed: the keyed one twice, the keyless one once.
 */

const run = promisify(exec);
const stateDir = mkdtempSync(path.join(tmpdir(), "idem-quickstart-"));
const children: ChildProcess[] = [];

afterAll(async () => {
  // SIGTERM lets scripts/start.ts stop its wrangler dev (its own process group) and the demo API.
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    ),
  );
  rmSync(stateDir, { recursive: true, force: true });
});

describe("npm start", () => {
  it("prints curl lines that work as printed: one charge, then a replay; a keyless write passed through untouched", async () => {
    const child = spawn(process.execPath, ["scripts/start.ts"], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        // Port 0: free ports picked when bound; the output names them.
        PORT: "0",
        DEMO_API_PORT: "0",
        // Its own state: other e2e files run wrangler dev at the same time.
        PERSIST_TO: stateDir,
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    children.push(child);
    let output = "";
    const printed = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (output.includes(text)) resolve();
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
        child.once("exit", (code) => reject(new Error(`npm start exited (${code}):\n${output}`)));
        check();
      });
    child.stdout.on("data", (data: Buffer) => (output += data.toString()));
    child.stderr.on("data", (data: Buffer) => (output += data.toString()));
    await printed("Press Ctrl+C");
    const ready =
      /Gateway ready on http:\/\/127\.0\.0\.1:(\d+), in front of the demo payment API on http:\/\/127\.0\.0\.1:(\d+)/.exec(
        output,
      );
    expect(ready).not.toBeNull();
    const [port, apiPort] = [ready?.[1], ready?.[2]];

    const curl = /^\s*(curl .+)$/m.exec(output)?.[1];
    expect(curl).toBeDefined();
    expect(curl).toContain(`http://127.0.0.1:${port}/v1/payments`);
    const first = (await run(`${curl} -s`)).stdout;
    await printed("[demo-payment-api] charged");
    const second = (await run(`${curl} -s`)).stdout;
    expect(first).toMatch(/^HTTP\/1\.1 201/);
    expect(first.toLowerCase()).not.toContain("idempotent-replayed");
    expect(second).toMatch(/^HTTP\/1\.1 201/);
    expect(second.toLowerCase()).toContain("idempotent-replayed: true");
    const body = (response: string) => response.slice(response.indexOf("\r\n\r\n") + 4);
    expect(body(second)).toBe(body(first));
    expect(output.match(/\[demo-payment-api\] charged/g)).toHaveLength(1);

    // The keyless line: passed through untouched (keys are optional by default), a charge each.
    const keyless = /^\s*(curl (?:(?!Idempotency-Key).)+)$/m.exec(output)?.[1];
    expect(keyless).toBeDefined();
    const untouched = (await run(`${keyless} -s`)).stdout;
    await printed("(no Idempotency-Key)");
    expect(untouched).toMatch(/^HTTP\/1\.1 201/);
    expect(untouched.toLowerCase()).not.toContain("idempotent-replayed");
    expect(output.match(/\[demo-payment-api\] charged/g)).toHaveLength(2);

    // Ctrl+C (SIGTERM here) stops the gateway and the demo API: both ports close.
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    await expect(fetch(`http://127.0.0.1:${port}/__idempotency/health`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${apiPort}/v1/payments/x`)).rejects.toThrow();
  });
});
