/**
 * The operator console's page (docs/operations.md, "Reconciling an unknown outcome"): one HTML document with
 * its style and script inline, no build step, nothing loaded from anywhere else. `console.ts`
 * serves it under a Content-Security-Policy that allows exactly this style and this script, by
 * their hashes.
 *
 * The script keeps the admin token in a variable of this page only (never in storage or a
 * cookie) and sends it as `Authorization: Bearer` to the admin API. It writes every value that
 * comes from a record with `textContent`, never as markup: a record's path is whatever a client
 * sent.
 */

/** The page's style sheet: readable from a phone to a laptop, light or dark. */
export const CONSOLE_STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa;
  --line: #d0d7de; --accent: #0b5cad; --danger: #b42318; --ok: #1a7f37; --warn: #9a6700; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #161b22; --line: #30363d;
    --accent: #4493f8; --danger: #f85149; --ok: #3fb950; --warn: #d29922; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header, main { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1rem; }
h1 { font-size: 1.35rem; margin: 0.5rem 0 0.25rem; }
h2 { font-size: 1.1rem; margin: 0 0 0.75rem; overflow-wrap: anywhere; }
h3 { font-size: 1rem; margin: 0 0 0.5rem; }
p { margin: 0.25rem 0 0.75rem; }
.hint, .lead { color: var(--muted); }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem; margin: 1rem 0; }
label { display: block; font-weight: 600; margin: 0.5rem 0 0.25rem; }
label.inline { display: flex; gap: 0.5rem; align-items: center; font-weight: 400; }
input, select, textarea, button { font: inherit; color: inherit; }
input[type="password"], input[type="text"], input[type="number"], select, textarea {
  width: 100%; padding: 0.45rem 0.6rem; border: 1px solid var(--line); border-radius: 6px;
  background: var(--bg); }
textarea { min-height: 5.5rem; font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  font-size: 0.9em; }
button { padding: 0.45rem 0.9rem; border: 1px solid var(--line); border-radius: 6px;
  background: var(--bg); cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { background: var(--danger); border-color: var(--danger); color: #fff; }
button.link { border: 0; background: none; padding: 0; color: var(--accent);
  text-decoration: underline; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.row { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: end; }
.row > .grow { flex: 1 1 14rem; }
.toolbar { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: end; margin-bottom: 0.75rem; }
.toolbar > div { flex: 0 1 16rem; }
.toolbar > form { flex: 1 1 20rem; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 0.45rem 0.5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: anywhere; }
th { font-size: 0.85em; color: var(--muted); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; }
.state { display: inline-block; padding: 0 0.45rem; border-radius: 999px; font-size: 0.85em;
  border: 1px solid currentColor; white-space: nowrap; }
.state-unknown { color: var(--danger); }
.state-in_flight { color: var(--warn); }
.state-completed { color: var(--ok); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0 0 1rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem;
  align-items: start; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem; background: var(--bg); }
.confirm { border-left: 4px solid var(--danger); padding-left: 0.75rem; margin-top: 0.75rem; }
#status { position: sticky; bottom: 0; margin: 0; padding: 0.5rem 0; min-height: 2.5rem;
  font-weight: 600; background: var(--bg); border-top: 1px solid var(--line); }
#status:empty { display: none; }
#status.error { color: var(--danger); }
[hidden] { display: none !important; }
@media (max-width: 40rem) {
  thead { display: none; }
  tr { display: block; border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  td { display: grid; grid-template-columns: 6.5rem 1fr; gap: 0.5rem; border: 0; padding: 0.15rem 0; }
  td::before { content: attr(data-label); color: var(--muted); font-size: 0.85em; }
  dl { grid-template-columns: 1fr; }
  dt { margin-top: 0.4rem; }
}
`;

/** The page's behaviour: connect, list, open, purge (confirmed), resolve. */
export const CONSOLE_SCRIPT = `
"use strict";
(function () {
  var API = "/__idempotency/keys";
  var token = null;
  var cursor = null;
  var current = null;
  function $(id) { return document.getElementById(id); }
  function say(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function when(iso) {
    return iso ? iso.replace("T", " ").replace(/\\.\\d+Z$/, " UTC") : "";
  }
  function call(method, path, body) {
    var headers = { authorization: "Bearer " + token };
    if (body !== undefined) headers["content-type"] = "application/json";
    return fetch(path, {
      method: method, headers: headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (response.ok) return data;
        if (response.status === 401) disconnect("The admin token was refused.");
        var error = new Error((data && (data.detail || data.title)) || ("HTTP " + response.status));
        error.status = response.status;
        throw error;
      });
    });
  }
  function disconnect(message) {
    token = null;
    current = null;
    $("records").hidden = true;
    $("record").hidden = true;
    $("connect").hidden = false;
    $("token").value = "";
    say(message, true);
  }
  function stateBadge(state) {
    return el("span", state.replace("_", " "), "state state-" + state);
  }
  function list(more) {
    var state = $("state").value;
    var query = "?limit=50" + (state ? "&state=" + state : "") +
      (more && cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return call("GET", API + query).then(function (page) {
      var rows = $("rows");
      if (!more) rows.replaceChildren();
      page.records.forEach(function (record) {
        var tr = document.createElement("tr");
        var open = el("button", record.keyHash, "link");
        open.type = "button";
        open.dataset.keyHash = record.keyHash;
        var cells = [
          ["Created", el("span", when(record.createdAt))],
          ["State", stateBadge(record.state)],
          ["Request", el("span", (record.method || "?") + " " + (record.path || "(not recorded)"), "mono")],
          ["Key hash", open],
          ["Detail", el("span", record.status !== null ? "status " + record.status : (record.detail || ""))]
        ];
        cells.forEach(function (cell) {
          var td = document.createElement("td");
          td.dataset.label = cell[0];
          td.append(cell[1]);
          tr.append(td);
        });
        rows.append(tr);
      });
      cursor = page.cursor;
      $("more").hidden = cursor === null;
      $("empty").hidden = rows.children.length > 0;
      say(rows.children.length + " record(s) shown.");
    });
  }
  function field(dl, name, value) {
    dl.append(el("dt", name));
    var dd = document.createElement("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = value === null || value === undefined ? "—" : String(value);
    dl.append(dd);
  }
  function show(view) {
    current = view;
    $("record").hidden = false;
    $("r-hash").textContent = view.keyHash;
    var dl = $("r-fields");
    dl.replaceChildren();
    field(dl, "State", stateBadge(view.state));
    field(dl, "Request", (view.method || "?") + " " + (view.path || "(not recorded)"));
    field(dl, "Created", when(view.createdAt));
    field(dl, "Expires", when(view.expiresAt));
    field(dl, "Status", view.status);
    field(dl, "Body bytes", view.bodyBytes);
    field(dl, "Detail", view.detail);
    field(dl, "Resolved", view.resolvedAt ? when(view.resolvedAt) : null);
    field(dl, "Re-forwarded", view.reforwardedAt ? when(view.reforwardedAt) : null);
    field(dl, "Fingerprint", view.fingerprint);
    $("purge-confirm").hidden = true;
    $("resolve-form").hidden = view.state !== "unknown";
    $("purge-card").hidden = view.state === "in_flight";
  }
  function open(keyHash) {
    return call("POST", API + "/lookup", { keyHash: keyHash }).then(function (view) {
      show(view);
      say("Record " + keyHash + " is " + view.state.replace("_", " ") + ".");
    });
  }
  function failed(error) { if (error.status !== 401) say(error.message, true); }
  function headersOf(text) {
    var headers = {};
    text.split("\\n").forEach(function (line) {
      if (line.trim() === "") return;
      var colon = line.indexOf(":");
      if (colon < 1) throw new Error("Each header line is name: value (" + line + ").");
      var name = line.slice(0, colon).trim().toLowerCase();
      var value = line.slice(colon + 1).trim();
      if (headers[name] === undefined) headers[name] = value;
      else headers[name] = [].concat(headers[name], value);
    });
    return headers;
  }

  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    token = $("token").value;
    $("token").value = "";
    list(false).then(function () {
      $("connect").hidden = true;
      $("records").hidden = false;
    }, failed);
  });
  $("state").addEventListener("change", function () { list(false).catch(failed); });
  $("refresh").addEventListener("click", function () { list(false).catch(failed); });
  $("more").addEventListener("click", function () { list(true).catch(failed); });
  $("rows").addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof HTMLElement && target.dataset.keyHash) open(target.dataset.keyHash).catch(failed);
  });
  $("find-form").addEventListener("submit", function (event) {
    event.preventDefault();
    open($("find").value.trim()).catch(failed);
  });
  $("purge").addEventListener("click", function () { $("purge-confirm").hidden = false; });
  $("purge-no").addEventListener("click", function () { $("purge-confirm").hidden = true; });
  $("purge-yes").addEventListener("click", function () {
    var keyHash = current.keyHash;
    call("POST", API + "/purge", { keyHash: keyHash }).then(function () {
      $("record").hidden = true;
      current = null;
      return list(false).then(function () { say("Purged " + keyHash + ": the next retry is forwarded to the origin (a completed answer's, once no Worker may still replay it)."); });
    }).catch(failed);
  });
  $("resolve-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var response;
    try {
      response = { status: Number($("res-status").value), headers: headersOf($("res-headers").value) };
    } catch (error) { say(error.message, true); return; }
    response[$("res-base64").checked ? "bodyBase64" : "body"] = $("res-body").value;
    call("POST", API + "/resolve", { keyHash: current.keyHash, response: response }).then(function (view) {
      show(view);
      return list(false).then(function () { say("Resolved " + view.keyHash + ": the next retry replays status " + view.status + "."); });
    }).catch(failed);
  });
})();
`;

/** The page's markup, with its style and script in place. */
export function consoleHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Idempotency gateway · console</title>
<style>${CONSOLE_STYLE}</style>
</head>
<body>
<header>
<h1>Idempotency gateway console</h1>
<p class="lead">Reconcile keys whose outcome at the origin is unknown: find them, check the origin, then purge or resolve.</p>
</header>
<main>
<section id="connect">
<form id="token-form" autocomplete="off">
<label for="token">Admin token</label>
<div class="row"><div class="grow"><input id="token" type="password" autocomplete="off" spellcheck="false" required></div>
<button class="primary" type="submit">Connect</button></div>
<p class="hint">Kept in this page's memory only and sent as <code>Authorization: Bearer</code>. Reloading the page forgets it.</p>
</form>
</section>
<section id="records" hidden>
<div class="toolbar">
<div><label for="state">Records</label>
<select id="state">
<option value="unknown" selected>Outcome unknown</option>
<option value="in_flight">In flight</option>
<option value="completed">Completed</option>
<option value="">All states</option>
</select></div>
<button id="refresh" type="button">Refresh</button>
<form id="find-form" class="row"><div class="grow"><label for="find">Key hash (from a log line)</label>
<input id="find" type="text" autocomplete="off" spellcheck="false" pattern="[0-9a-f]{32}" required></div>
<button type="submit">Open</button></form>
</div>
<table><thead><tr><th>Created</th><th>State</th><th>Request</th><th>Key hash</th><th>Detail</th></tr></thead>
<tbody id="rows"></tbody></table>
<p id="empty" class="hint" hidden>No records in this state.</p>
<button id="more" type="button" hidden>Load more</button>
</section>
<section id="record" hidden>
<h2>Record <code id="r-hash"></code></h2>
<dl id="r-fields"></dl>
<div class="cards">
<div id="purge-card" class="card">
<h3>Purge</h3>
<p class="hint">Deletes the record: the client's next retry is forwarded to the origin again (for a completed answer, after <code>IDEMPOTENCY_EDGE_REPLAY_SECONDS</code>: until then Workers may still replay it, and a retry that reaches the coordinator gets 409). Only when the origin did <strong>not</strong> act on the request.</p>
<button id="purge" type="button">Purge…</button>
<div id="purge-confirm" class="confirm" hidden>
<p>Purge this record? If the origin did act on the request, the next retry acts again.</p>
<div class="row"><button id="purge-yes" class="danger" type="button">Yes, purge</button>
<button id="purge-no" type="button">Cancel</button></div>
</div>
</div>
<form id="resolve-form" class="card">
<h3>Resolve</h3>
<p class="hint">Stores the answer the origin gave, as you found it there: the client's next retry gets it, marked <code>Idempotent-Replayed: true</code>.</p>
<label for="res-status">Status</label>
<input id="res-status" type="number" min="200" max="599" value="201" required>
<label for="res-headers">Headers, one <code>name: value</code> per line</label>
<textarea id="res-headers" spellcheck="false">content-type: application/json</textarea>
<label for="res-body">Body</label>
<textarea id="res-body" spellcheck="false"></textarea>
<label class="inline"><input id="res-base64" type="checkbox"> The body is base64 (binary)</label>
<p><button class="primary" type="submit">Resolve</button></p>
</form>
</div>
</section>
<p id="status" role="status" aria-live="polite"></p>
</main>
<script>${CONSOLE_SCRIPT}</script>
</body>
</html>
`;
}
