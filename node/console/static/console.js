// meshrpc console: every action is a JSON-RPC call to this node's /rpc,
// made by the browser with its own tailnet identity. No framework: the DOM
// is built with textContent only, so no value a caller stored is ever HTML.
"use strict";

let nextId = 1;

// call makes one JSON-RPC call; an error reply rejects with {code, message}.
async function call(method, params) {
  const body = {jsonrpc: "2.0", id: nextId++, method};
  if (params !== undefined) body.params = params;
  const resp = await fetch("/rpc", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  const reply = await resp.json();
  if (reply.error) throw reply.error;
  return reply.result;
}

// el makes an element with text and children.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function errorText(err) {
  if (err && typeof err.code === "number") {
    const denied = err.code === -32001 ? "denied: " : "";
    return `${denied}${err.message} (code ${err.code})`;
  }
  return String(err);
}

function show(out, ok, text) {
  out.className = ok ? "result ok" : "result error";
  out.textContent = text;
}

// A value typed in a form: JSON when it parses (and the param is not a
// string), else the text itself, as the CLI does.
function parseValue(text, type) {
  if (type === "string") return text;
  try { return JSON.parse(text); } catch { return text; }
}

async function loadWho() {
  const who = await call("sys.whoami");
  const tags = who.tags && who.tags.length ? " " + who.tags.join(", ") : "";
  document.getElementById("who").textContent = `You are ${who.node} (${who.login || "no login"})${tags}, as this node sees you.`;
  const info = await call("sys.info").catch(() => null);
  if (info) {
    document.getElementById("title").textContent = `meshrpc on ${info.node}`;
    document.title = `meshrpc · ${info.node}`;
  }
}

function procedureForm(p) {
  const out = el("pre", {class: "result", "aria-live": "polite"});
  const inputs = (p.params || []).map((param) => {
    const type = param.schema && param.schema.type;
    const input = el("input", {name: param.name, autocomplete: "off", placeholder: type || "JSON or text"});
    if (param.required) input.required = true;
    return {param, type, input};
  });
  const form = el("form", {"data-method": p.name},
    ...inputs.map(({param, input}) => el("label", {}, param.name + (param.required ? "" : " (optional)"), input)),
    el("button", {type: "submit"}, "Call"),
    out);
  if (!p.allowed && p.hint) form.insertBefore(el("p", {class: "hint"}, p.hint), form.querySelector("button"));
  if (p.allowed && p.by) form.insertBefore(el("p", {class: "muted small"}, "allowed by " + p.by), form.querySelector("button"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const params = {};
    for (const {param, type, input} of inputs) {
      if (input.value !== "" || param.required) params[param.name] = parseValue(input.value, type);
    }
    show(out, true, "…");
    try {
      const res = await call(p.name, params);
      show(out, true, JSON.stringify(res, null, 2));
    } catch (err) {
      show(out, false, errorText(err));
    }
  });
  // One line per procedure until opened: short on a phone.
  return el("details", {class: "proc", "data-method": p.name},
    el("summary", {}, el("strong", {}, p.name), " ", el("span", {class: "muted small"}, p.summary || "")),
    form);
}

async function loadProcedures() {
  const procs = await call("rpc.allowed", {why: true});
  const allowed = document.getElementById("allowed");
  const denied = document.getElementById("denied");
  allowed.replaceChildren(...procs.filter((p) => p.allowed).map(procedureForm));
  const no = procs.filter((p) => !p.allowed);
  denied.replaceChildren(...no.map(procedureForm));
  document.getElementById("denied-count").textContent = no.length;
}

// The store: a list by prefix that follows kv.watch.
const store = {prefix: "", rev: 0, watching: null};

async function listStore() {
  const status = document.getElementById("store-status");
  const list = document.getElementById("entries");
  try {
    const entries = await call("kv.list", {prefix: store.prefix, limit: 200});
    list.replaceChildren(...entries.map(entryItem));
    status.textContent = entries.length === 1 ? "1 key" : entries.length ? `${entries.length} keys` : "no keys";
  } catch (err) {
    list.replaceChildren();
    status.textContent = errorText(err);
  }
}

function entryItem(e) {
  const value = JSON.stringify(e.value);
  const out = el("span", {class: "small"});
  const act = (label, fn) => el("button", {type: "button", class: "small-btn", onclick: async () => {
    try { await fn(); out.textContent = ""; } catch (err) { out.textContent = errorText(err); }
  }}, label);
  return el("li", {class: "entry", "data-key": e.key},
    el("code", {class: "key"}, e.key), " ", el("code", {class: "value"}, value),
    el("div", {class: "actions"},
      act("Edit", async () => {
        document.getElementById("put-key").value = e.key;
        document.getElementById("put-value").value = value;
        document.getElementById("put-value").focus();
      }),
      Number.isInteger(e.value) ? act("+1", () => call("kv.inc", {key: e.key})) : "",
      act("Delete", () => call("kv.delete", {key: e.key})),
      out));
}

// watchStore relists whenever a change under the prefix arrives, and when
// the store's change log has dropped the changes it was to follow.
async function watchStore(prefix) {
  const me = {};
  store.watching = me;
  let after = (await call("kv.watch", {prefix, after_rev: -1, wait: 0.001})).rev;
  await listStore();
  while (store.watching === me) {
    try {
      const res = await call("kv.watch", {prefix, after_rev: after, wait: 25});
      if (store.watching !== me) return;
      after = res.rev;
      if (res.events.length) await listStore();
    } catch (err) {
      if (store.watching !== me) return;
      if (err && err.code === -32002 && err.data && err.data.compacted_rev !== undefined) {
        // The store no longer remembers the changes after `after`: the
        // list shows the keys as they are, so list them, then follow the
        // changes after the revision the refusal gave.
        after = err.data.current_rev;
        await listStore();
        continue;
      }
      document.getElementById("store-status").textContent = "live updates stopped: " + errorText(err);
      return;
    }
  }
}

async function loadPeers() {
  const list = document.getElementById("peer-list");
  try {
    const peers = await call("sys.peers");
    list.replaceChildren(...peers.map((p) => el("li", {class: "peer"},
      el("strong", {}, p.name), " ", el("span", {class: "muted"}, (p.addrs || [])[0] || ""), " ",
      el("span", {class: p.online ? "badge on" : "badge off"}, p.online ? "online" : "offline"), " ",
      el("span", {class: "badge"}, p.meshrpc ? `meshrpc ${p.version || ""}` : "no meshrpc"))));
    if (!peers.length) list.replaceChildren(el("li", {class: "muted"}, "no peers"));
  } catch (err) {
    list.replaceChildren(el("li", {class: "muted"}, errorText(err)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("list-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    store.prefix = document.getElementById("prefix").value;
    watchStore(store.prefix).catch((err) => {
      document.getElementById("store-status").textContent = errorText(err);
    });
  });
  document.getElementById("put-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = document.getElementById("put-key").value;
    const value = parseValue(document.getElementById("put-value").value);
    try {
      await call("kv.put", {key, value});
      document.getElementById("put-value").value = "";
    } catch (err) {
      document.getElementById("store-status").textContent = errorText(err);
    }
  });
  document.getElementById("peers-refresh").addEventListener("click", loadPeers);
  loadWho().catch((err) => { document.getElementById("who").textContent = errorText(err); });
  loadProcedures().catch((err) => { document.getElementById("allowed").textContent = errorText(err); });
  watchStore("").catch((err) => { document.getElementById("store-status").textContent = errorText(err); });
  loadPeers();
});
