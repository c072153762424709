import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DRAINED_BYTES, readBounded, readFramed } from "../../../src/core/bounded-body";

const LIMIT = 16;

/** A pull-based stream over fixed chunks that records how far it was read and whether it was cancelled. */
function streamOf(chunks: readonly Uint8Array[]) {
  const seen = { pulls: 0, bytes: 0, cancelled: false, closed: false };
  let next = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        seen.pulls++;
        const chunk = chunks[next++];
        if (chunk === undefined) {
          seen.closed = true;
          controller.close();
        } else {
          seen.bytes += chunk.byteLength;
          controller.enqueue(chunk);
        }
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

  it("answers the bytes exactly when they fit, null when they do not, with or without drain (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 48 }),
        fc.boolean(),
        fc.boolean(),
        async (chunks, limit, declare, drain) => {
          const whole = concat(chunks);
          const { stream } = streamOf(chunks);
          const result = await readBounded(
            stream,
            declare ? String(whole.byteLength) : null,
            limit,
            { drain },
          );
          if (whole.byteLength > limit) expect(result).toBeNull();
          else expect(result).toEqual(whole);
        },
      ),
    );
  });
});

describe("readBounded with drain (the request body)", () => {
  const MiB = 1024 * 1024;
  const mebibyte = bytes(MiB);
  /** `count` chunks of 1 MiB: one buffer, repeated, since draining keeps none of them. */
  const mebibytes = (count: number) => Array.from({ length: count }, () => mebibyte);

  it("reads a streamed body over the limit to its end, then refuses it, without cancelling", async () => {
    const { stream, seen } = streamOf([bytes(LIMIT), bytes(1), bytes(5), bytes(7)]);
    expect(await readBounded(stream, null, LIMIT, { drain: true })).toBeNull();
    expect(seen).toMatchObject({ bytes: LIMIT + 13, closed: true, cancelled: false });
  });

  it("reads a body whose Content-Length is over the limit to its end, then refuses it", async () => {
    const { stream, seen } = streamOf([bytes(LIMIT), bytes(LIMIT)]);
    expect(await readBounded(stream, String(2 * LIMIT), LIMIT, { drain: true })).toBeNull();
    expect(seen).toMatchObject({ bytes: 2 * LIMIT, closed: true, cancelled: false });
  });

  it("reads a body of exactly MAX_DRAINED_BYTES to its end", async () => {
    const { stream, seen } = streamOf(mebibytes(MAX_DRAINED_BYTES / MiB));
    expect(await readBounded(stream, null, LIMIT, { drain: true })).toBeNull();
    expect(seen).toMatchObject({ bytes: MAX_DRAINED_BYTES, closed: true, cancelled: false });
  });

  it("cancels a streamed body once it passes MAX_DRAINED_BYTES, reading no further", async () => {
    const { stream, seen } = streamOf([...mebibytes(MAX_DRAINED_BYTES / MiB), bytes(1), bytes(1)]);
    expect(await readBounded(stream, null, LIMIT, { drain: true })).toBeNull();
    expect(seen).toMatchObject({ bytes: MAX_DRAINED_BYTES + 1, closed: false, cancelled: true });
  });

  it("cancels a body declared over MAX_DRAINED_BYTES without reading a byte", async () => {
    const { stream, seen } = streamOf([bytes(1)]);
    const declared = String(MAX_DRAINED_BYTES + 1);
    expect(await readBounded(stream, declared, LIMIT, { drain: true })).toBeNull();
    expect(seen).toMatchObject({ pulls: 0, cancelled: true });
  });

  it("still refuses when the client breaks off mid-body", async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (sent++ < 2) controller.enqueue(bytes(LIMIT));
          else controller.error(new Error("connection lost"));
        },
      },
      { highWaterMark: 0 },
    );
    expect(await readBounded(stream, null, LIMIT, { drain: true })).toBeNull();
  });

  it("reads a body under the limit exactly as without drain", async () => {
    const { stream, seen } = streamOf([bytes(3, 1), bytes(4, 2)]);
    expect(await readBounded(stream, "7", LIMIT, { drain: true })).toEqual(
      concat([bytes(3, 1), bytes(4, 2)]),
    );
    expect(seen.cancelled).toBe(false);
  });

  it("refuses a declared Content-Length over the limit with no stream", async () => {
    expect(await readBounded(null, String(LIMIT + 1), LIMIT, { drain: true })).toBeNull();
  });
});

describe("readBounded with an allowance (an origin's answer under the in-flight budget)", () => {
  const ALLOWED = 4;

  /** An allowance that records each request and how far the stream had been read when it came. */
  function allowance(seen: { pulls: number }, grant: () => Promise<void> = async () => undefined) {
    const asked: { bytes: number; pullsBefore: number }[] = [];
    return {
      asked,
      allowance: {
        bytes: ALLOWED,
        grow: (bytes: number) => {
          asked.push({ bytes, pullsBefore: seen.pulls });
          return grant();
        },
      },
    };
  }

  it("asks for nothing when the body fits the allowance", async () => {
    const { stream, seen } = streamOf([bytes(2), bytes(2)]);
    const { asked, allowance: a } = allowance(seen);
    expect((await readBounded(stream, null, LIMIT, { allowance: a }))?.byteLength).toBe(ALLOWED);
    expect(asked).toEqual([]);
  });

  it("asks for exactly the declared length beyond the allowance before reading a byte", async () => {
    const { stream, seen } = streamOf([bytes(6), bytes(4)]);
    const { asked, allowance: a } = allowance(seen);
    expect((await readBounded(stream, "10", LIMIT, { allowance: a }))?.byteLength).toBe(10);
    expect(asked).toEqual([{ bytes: 10 - ALLOWED, pullsBefore: 0 }]);
  });

  it("asks for the rest up to the limit once an undeclared body runs past the allowance, and does NOT keep reading until it is granted", async () => {
    const { stream, seen } = streamOf([bytes(3), bytes(3), bytes(3)]);
    const ask = Promise.withResolvers<{ bytes: number; pulls: number }>();
    const grant = Promise.withResolvers<undefined>();
    const a = {
      bytes: ALLOWED,
      grow: (bytes: number) => {
        ask.resolve({ bytes, pulls: seen.pulls });
        return grant.promise;
      },
    };
    const read = readBounded(stream, null, LIMIT, { allowance: a });
    // The second chunk ran past the allowance: the read asks, and then waits on the answer.
    expect(await ask.promise).toEqual({ bytes: LIMIT - ALLOWED, pulls: 2 });
    for (let turn = 0; turn < 10; turn++) await Promise.resolve();
    expect(seen.pulls).toBe(2);
    grant.resolve(undefined);
    expect((await read)?.byteLength).toBe(9);
    expect(seen.pulls).toBe(4);
  });

  it("asks again, for the rest up to the limit, when a body runs past its declared length", async () => {
    const { stream, seen } = streamOf([bytes(6), bytes(4)]);
    const { asked, allowance: a } = allowance(seen);
    expect((await readBounded(stream, "6", LIMIT, { allowance: a }))?.byteLength).toBe(10);
    expect(asked.map((x) => x.bytes)).toEqual([6 - ALLOWED, LIMIT - 6]);
  });

  it("refuses a body declared over the limit without asking for anything", async () => {
    const { stream, seen } = streamOf([bytes(LIMIT + 1)]);
    const { asked, allowance: a } = allowance(seen);
    expect(await readBounded(stream, String(LIMIT + 1), LIMIT, { allowance: a })).toBeNull();
    expect(asked).toEqual([]);
  });

  it("still refuses an undeclared body over the limit, having asked for no more than the limit", async () => {
    const { stream, seen } = streamOf([bytes(5), bytes(LIMIT)]);
    const { asked, allowance: a } = allowance(seen);
    expect(await readBounded(stream, null, LIMIT, { allowance: a })).toBeNull();
    expect(seen.cancelled).toBe(true);
    expect(asked.map((x) => x.bytes)).toEqual([LIMIT - ALLOWED]);
  });

  it("never asks for more than the limit less the allowance in all, whatever the chunks (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 48 }),
        fc.option(fc.integer({ min: 0, max: 48 }), { nil: null }),
        async (chunks, limit, declared) => {
          const whole = concat(chunks);
          const { stream, seen } = streamOf(chunks);
          const { asked, allowance: a } = allowance(seen);
          const result = await readBounded(
            stream,
            declared === null ? null : String(declared),
            limit,
            {
              allowance: a,
            },
          );
          const total = asked.reduce((n, x) => n + x.bytes, 0);
          expect(total).toBeLessThanOrEqual(Math.max(0, limit - ALLOWED));
          if (result !== null) {
            expect(result).toEqual(whole);
            // Everything kept was granted first.
            expect(whole.byteLength).toBeLessThanOrEqual(ALLOWED + total);
          }
        },
      ),
    );
  });
});

describe("readFramed (a body framed by HTTP)", () => {
  /** A message over `chunks` declaring `declared`, recording whether it was read in one call. */
  function message(chunks: readonly Uint8Array[], declared: string | null) {
    const { stream, seen } = streamOf(chunks);
    const calls = { whole: 0 };
    const headers = new Headers(declared === null ? {} : { "content-length": declared });
    const framed = {
      headers,
      body: stream,
      arrayBuffer: async () => {
        calls.whole++;
        return (await new Response(stream).arrayBuffer()) as ArrayBuffer;
      },
    };
    return { framed, seen, calls };
  }

  it("reads a body within its declared length and the limit in one call", async () => {
    const { framed, calls } = message([bytes(3, 1), bytes(4, 2)], "7");
    expect(await readFramed(framed, LIMIT)).toEqual(concat([bytes(3, 1), bytes(4, 2)]));
    expect(calls.whole).toBe(1);
  });

  it("refuses a body longer than it declared, rather than keep more than was allowed", async () => {
    const { framed } = message([bytes(10)], "4");
    expect(await readFramed(framed, LIMIT, { allowance: { bytes: 4, grow: async () => {} } })).toBe(
      null,
    );
  });

  it("leaves a body without a declared length to readBounded, which keeps its bounds", async () => {
    const { framed, seen, calls } = message([bytes(LIMIT), bytes(1), bytes(1)], null);
    expect(await readFramed(framed, LIMIT)).toBeNull();
    expect(calls.whole).toBe(0);
    expect(seen.cancelled).toBe(true);
  });

  it("leaves a body declared past the allowance to readBounded, which asks for it first", async () => {
    const asked: number[] = [];
    const allowance = { bytes: 2, grow: async (n: number) => void asked.push(n) };
    const { framed, calls } = message([bytes(6)], "6");
    expect(await readFramed(framed, LIMIT, { allowance })).toEqual(bytes(6));
    expect(calls.whole).toBe(0);
    expect(asked).toEqual([4]);
  });

  it("refuses a body declared over the limit without reading it", async () => {
    const { framed, seen, calls } = message([bytes(LIMIT + 1)], String(LIMIT + 1));
    expect(await readFramed(framed, LIMIT)).toBeNull();
    expect(calls.whole).toBe(0);
    expect(seen.bytes).toBe(0);
  });
});
