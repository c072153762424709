/**
 * The floor for any gateway on Workers: a bare pass-through Worker that forwards every request
 * to `ORIGIN_URL` + path + query and streams the answer back. Nothing else (bench/README.md).
 */
interface BareEnv {
  ORIGIN_URL: string;
}

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
    });
  },
} satisfies ExportedHandler<BareEnv>;
