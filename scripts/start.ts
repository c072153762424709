import { randomUUID } from "node:crypto";
import { startDemoPaymentApi } from "./demo-payment-api.ts";
import { startWranglerDev } from "../harness/wrangler-dev.ts";

/**
 * `npm start`: the gateway under `wrangler dev` on 127.0.0.1:8787 in front of the demo payment
 * API on 127.0.0.1:8788 — offline, no Cloudflare account — and a curl line to try. The session
 * runs both Workers, the gateway (served) and the coordinator Worker that holds the keys
 * (`npm run dev` is the same wrangler command, without the demo API).
 * PORT and DEMO_API_PORT override the ports; PERSIST_TO keeps the coordinators' stored keys in a
 * folder.
 */
const port = Number(process.env.PORT ?? 8787);
const apiPort = Number(process.env.DEMO_API_PORT ?? 8788);

const api = await startDemoPaymentApi(apiPort);
const gateway = await startWranglerDev({
  port,
  vars: { ORIGIN_URL: api.url },
  ...(process.env.PERSIST_TO ? { persistTo: process.env.PERSIST_TO } : {}),
  inheritOutput: true,
});

const key = randomUUID();
console.log(`
Gateway ready on ${gateway.url}, in front of the demo payment API on ${api.url}.
Send this twice: the second answer is a replay (Idempotent-Replayed: true), and the demo API
logs one charge.

  curl -i -X POST ${gateway.url}/v1/payments -H 'Authorization: Bearer sk_test_demo' -H 'Content-Type: application/json' -H 'Idempotency-Key: ${key}' -d '{"amount":1000,"currency":"usd"}'

A write without a key passes through untouched, as it would without the gateway (keys are
optional unless IDEMPOTENCY_KEY_REQUIRED=true): each one sent charges again.

  curl -i -X POST ${gateway.url}/v1/payments -H 'Authorization: Bearer sk_test_demo' -H 'Content-Type: application/json' -d '{"amount":500,"currency":"usd"}'

Press Ctrl+C to stop.
`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await gateway.stop();
  await api.close();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
gateway.process.once("exit", () => void shutdown());
