/**
 * An origin that is itself a Worker, for the `workers-origin-binding` test project: the gateway
 * reaches it through its `ORIGIN` service binding, never over the network. It hands every request
 * on to the loopback test origin (`harness/test-origin.ts`), which records it and stages the
 * answer its path asks for, and marks both ways so a test can tell the binding was used:
 *
 * - the request it forwards carries `x-origin-worker-saw: <the URL it received>`;
 * - its answers carry `x-served-by: origin-worker`;
 * - a path ending in `/throw` is forwarded (the charge happens), then the Worker throws: the
 *   gateway sees its call fail after the origin acted;
 * - `HEAD /` throws at once: a gateway that probed through the binding would take it for
 *   "unreachable".
 */
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "HEAD" && url.pathname === "/") {
      throw new Error("this origin Worker does not serve HEAD /");
    }
    const headers = new Headers(request.headers);
    headers.set("x-origin-worker-saw", request.url);
    const answer = await fetch(new URL(url.pathname + url.search, env.LOOPBACK_ORIGIN), {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
    if (url.pathname.endsWith("/throw")) {
      await answer.arrayBuffer();
      throw new Error("the origin Worker failed after the charge was made");
    }
    const response = new Response(answer.body, answer);
    response.headers.set("x-served-by", "origin-worker");
    return response;
  },
};
