import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readBounded } from "../../../src/core/bounded-body";

const LIMIT = 16;

/** A pull-based stream over fixed chunks that records how far it was read and whether it was cancelled. */
function streamOf(chunks: readonly Uint8Array[]) {
  const seen = { pulls: 0, cancelled: false };
  let next = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        seen.pulls++;
        const chunk = chunks[next++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

function bytes(size: number, fill = 0x61): Uint8Array {
  return new Uint8Array(size).fill(fill);
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

describe("readBounded", () => {
  it("reads no stream (no body) as empty bytes", async () => {
    const body = await readBounded(null, null, LIMIT);
    expect(body).not.toBeNull();
    expect(body?.byteLength).toBe(0);
  });

  it("reads no stream with Content-Length: 0 as empty bytes", async () => {
    expect((await readBounded(null, "0", LIMIT))?.byteLength).toBe(0);
  });

  it("reads a body under the limit", async () => {
    const { stream } = streamOf([bytes(3, 1), bytes(4, 2)]);
    expect(await readBounded(stream, null, LIMIT)).toEqual(concat([bytes(3, 1), bytes(4, 2)]));
  });

  it("reads a body of exactly the limit", async () => {
    const { stream } = streamOf([bytes(10), bytes(LIMIT - 10)]);
    expect((await readBounded(stream, String(LIMIT), LIMIT))?.byteLength).toBe(LIMIT);
  });

  it("reads an empty stream as empty bytes", async () => {
    const { stream } = streamOf([]);
    expect((await readBounded(stream, null, LIMIT))?.byteLength).toBe(0);
  });

  it("refuses a stream one byte over the limit, and cancels it", async () => {
    const { stream, seen } = streamOf([bytes(LIMIT), bytes(1)]);
    expect(await readBounded(stream, null, LIMIT)).toBeNull();
    expect(seen.cancelled).toBe(true);
  });

  it("does NOT read more than one chunk past the limit", async () => {
    const { stream, seen } = streamOf([bytes(LIMIT + 1), bytes(1), bytes(1), bytes(1)]);
    expect(await readBounded(stream, null, LIMIT)).toBeNull();
    expect(seen.pulls).toBe(1);
  });

  it("refuses a body whose stream exceeds a smaller, dishonest Content-Length", async () => {
    const { stream } = streamOf([bytes(LIMIT + 1)]);
    expect(await readBounded(stream, "1", LIMIT)).toBeNull();
  });

  it("refuses a declared Content-Length over the limit without reading a byte", async () => {
    const { stream, seen } = streamOf([bytes(1)]);
    expect(await readBounded(stream, String(LIMIT + 1), LIMIT)).toBeNull();
    expect(seen.pulls).toBe(0);
    expect(seen.cancelled).toBe(true);
  });

  it("refuses a declared Content-Length over the limit even with no stream", async () => {
    expect(await readBounded(null, String(LIMIT + 1), LIMIT)).toBeNull();
  });

  it("accepts only an empty body under a limit of 0", async () => {
    expect((await readBounded(streamOf([]).stream, null, 0))?.byteLength).toBe(0);
    expect(await readBounded(streamOf([bytes(1)]).stream, null, 0)).toBeNull();
  });

  it("answers the bytes exactly when they fit, null when they do not (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 48 }),
        fc.boolean(),
        async (chunks, limit, declare) => {
          const whole = concat(chunks);
          const { stream } = streamOf(chunks);
          const result = await readBounded(
            stream,
            declare ? String(whole.byteLength) : null,
            limit,
          );
          if (whole.byteLength > limit) expect(result).toBeNull();
          else expect(result).toEqual(whole);
        },
      ),
    );
  });
});
