import { describe, expect, it } from "vitest";
import { sleep } from "../../../src/client/sleep";

describe("sleep", () => {
  it("resolves after the timer fires", async () => {
    await expect(sleep(0)).resolves.toBeUndefined();
  });

  it("rejects at once with the reason of an already-aborted signal", async () => {
    const reason = new Error("gave up");
    await expect(sleep(60_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it("stops waiting as soon as the signal aborts", async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort(new Error("gave up"));
    await expect(waiting).rejects.toThrow("gave up");
  });
});
