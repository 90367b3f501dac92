// The Mesh node panel: polls this node's /stats and control API, renders
// them with DOM calls (textContent only: nothing the node returns becomes
// markup), and keeps a ring of throughput samples for the graph. Plain
// JavaScript, no framework, no build step.
"use strict";

const OK = "E0000000000";
const UNAUTHORISED = "E0000000403";
const TOKEN_KEY = "mesh-admin-token"; // sessionStorage: this tab only
const RING = 300; // samples kept for the graph: five minutes at one a second

const params = new URLSearchParams(location.search);
const interval = Math.max(200, Number(params.get("interval")) || 1000); // ms between polls

let prev = null; // the last poll's totals and time, for rates
const samples = []; // {t, pushed, popped, forwarded}: messages per second

const $ = (id) => document.getElementById(id);

// call fetches a node endpoint with this page's origin and credentials
// (plus the admin token when one was given) and returns the reply's
// content; a failure reply throws {code, message}.
async function call(path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const resp = await fetch(path, { headers, credentials: "same-origin", cache: "no-store" });
  let body;
  try {
    body = await resp.json();
  } catch (e) {
    throw { code: String(resp.status), message: path + ": reply is not JSON" };
  }
  if (body.code !== OK) throw { code: body.code, message: body.message };
  return body.content;
}

// optional is call, with fallback when the endpoint fails.
async function optional(path, fallback) {
  try {
    return await call(path);
  } catch (e) {
    if (e.code === UNAUTHORISED) throw e;
    return fallback;
  }
}

async function poll() {
  try {
    const [node, stats, routes, plugins] = await Promise.all([
      call("/v1/interconn/node"), call("/stats"), optional("/v1/interconn/net", []), optional("/v1/interconn/plugin", []),
    ]);
    $("token-form").hidden = true;
    $("error").hidden = true;
    render(node, stats, routes || [], plugins || [], Date.now());
  } catch (e) {
    showError(e);
  }
  setTimeout(poll, interval);
}

function showError(e) {
  if (e && e.code === UNAUTHORISED) {
    $("token-form").hidden = false;
  }
  $("error").hidden = false;
  $("error").textContent = e && e.message ? e.code + ": " + e.message : "the node does not answer: " + e;
}

function render(node, stats, routes, plugins, now) {
  const rates = sample(stats, now);
  renderIdentity(node, now);
  renderPartners(routes, (stats.network && stats.network.partners) || [], rates);
  renderQueues(stats);
  renderCluster(stats.cluster);
  renderPlugins(plugins, stats.plugins || {});
  renderServices(stats.services || []);
  drawGraph();
}

// sample turns the totals into rates since the previous poll, records them
// in the ring, and returns the per-partner rates by node id.
function sample(stats, now) {
  const net = stats.network || {};
  const cur = { t: now, pushed: stats.pushed, popped: stats.popped, forwarded: net.forwarded || 0, partners: {} };
  for (const p of net.partners || []) cur.partners[p.node_id] = p;
  const rates = {};
  if (prev) {
    const dt = (now - prev.t) / 1000;
    if (dt > 0) {
      samples.push({ t: now, pushed: (cur.pushed - prev.pushed) / dt, popped: (cur.popped - prev.popped) / dt,
        forwarded: (cur.forwarded - prev.forwarded) / dt });
      if (samples.length > RING) samples.shift();
      for (const id in cur.partners) {
        const was = prev.partners[id];
        if (!was) continue;
        rates[id] = { msgs: (cur.partners[id].forwarded - was.forwarded) / dt,
          bytes: (cur.partners[id].forwarded_bytes - was.forwarded_bytes) / dt };
      }
    }
  }
  prev = cur;
  return rates;
}

function renderIdentity(node, now) {
  $("node-id").textContent = node.node_id || "(not identified yet)";
  $("inst").textContent = [node.inst_id, node.inst_name].filter(Boolean).join(" · ") || "—";
  $("advertise").textContent = node.advertise || "(none: partners cannot call back)";
  $("updated").textContent = new Date(now).toLocaleTimeString();
  document.title = "Mesh " + (node.node_id || "node");
}

// renderPartners shows the control API's routes (state, dialect, address)
// joined with /stats' per-partner figures (link, counters) by node id.
function renderPartners(routes, figures, rates) {
  const byID = {};
  for (const f of figures) byID[f.node_id] = f;
  const rows = routes.map((r) => {
    const f = byID[r.node_id] || {};
    const rate = rates[r.node_id];
    const state = r.disabled ? "disabled" : r.state;
    return [
      cell("node_id", r.node_id, "mono"), cell("inst_id", r.inst_id || ""), cell("state", state),
      link(f), cell("dialect", r.dialect || "mesh"), cell("address", r.address || "", "mono"),
      num("forwarded", f.forwarded), num("forwarded_bytes", f.forwarded_bytes, bytes),
      num("rate", rate && rate.msgs, perSecond), num("byte_rate", rate && rate.bytes, bytesPerSecond),
      num("retries", f.retries), num("outbox_waiting", f.outbox_waiting),
    ];
  });
  fill("partners", rows, (tr, i) => { tr.dataset.nodeId = routes[i].node_id; }, "no partners yet");
}

function link(f) {
  if (f.up === undefined) return cell("up", "—");
  return cell("up", f.up ? "up" : "down", f.up ? "up" : "down");
}

function renderQueues(s) {
  const net = s.network || {};
  text("q-sessions", s.sessions);
  text("q-held-messages", s.held_messages);
  text("q-held", bytes(s.held_bytes));
  text("q-pushed", s.pushed);
  text("q-popped", s.popped);
  text("q-pushed-bytes", bytes(s.pushed_bytes));
  text("q-popped-bytes", bytes(s.popped_bytes));
  text("q-waiting", s.waiting_pops);
  text("q-forwarded", net.forwarded);
  text("q-outbox", net.outbox_waiting);
}

function renderCluster(c) {
  c = c || {};
  text("c-replica", c.replica);
  text("c-replicas", c.replicas);
  text("c-nats", c.nats ? c.nats + (c.server ? " (server " + c.server + ")" : "") : undefined);
  text("c-routes", (c.routes || []).join(", ") || "none");
  text("c-leader", c.queue_leader);
  text("c-outbox", c.outbox_lease === undefined ? undefined : c.outbox_lease ? "this replica" : "another replica");
}

function renderPlugins(records, figures) {
  const rows = records.map((p) => {
    const f = figures[p.name] || {};
    return [cell("name", p.name, "mono"), cell("kind", p.kind), cell("state", p.state || (p.enabled ? "enabled" : "disabled")),
      num("calls", f.calls), num("failed", f.failed), num("instances", f.instances), num("discarded", f.discarded)];
  });
  fill("plugins", rows, null, "no plugins installed");
}

function renderServices(services) {
  const rows = services.map((s) => [
    cell("route", s.route, "mono"), cell("healthy", s.healthy + " / " + s.instances, s.healthy > 0 ? "up" : "down"),
    num("instances", s.instances), num("requests", s.requests), num("errors", s.errors), num("in_flight", s.in_flight),
    num("p50", s.p50_ns, duration), num("p99", s.p99_ns, duration),
  ]);
  fill("services", rows, null, "no registered services");
}

// drawGraph plots the ring of samples over the time they span (up to the
// ring's minutes), oldest at the left edge, newest at the right.
function drawGraph() {
  const svg = $("graph");
  const [w, h] = [600, 160];
  let max = 1;
  for (const s of samples) max = Math.max(max, s.pushed, s.popped, s.forwarded);
  const first = samples.length ? samples[0].t : 0;
  const last = samples.length ? samples[samples.length - 1] : null;
  const span = last ? Math.max(last.t - first, 1) : 1;
  const x = (s) => (w * (s.t - first)) / span;
  const y = (v) => h - 4 - ((h - 8) * v) / max;
  const grid = $("grid");
  if (!grid.childElementCount) {
    for (const f of [0.25, 0.5, 0.75]) {
      const l = document.createElementNS("http://www.w3.org/2000/svg", "line");
      for (const [k, v] of [["x1", 0], ["x2", w], ["y1", h * f], ["y2", h * f]]) l.setAttribute(k, v);
      grid.append(l);
    }
  }
  for (const series of ["pushed", "popped", "forwarded"]) {
    const pts = samples.map((s) => x(s).toFixed(1) + "," + y(s[series]).toFixed(1));
    $("line-" + series).setAttribute("points", pts.join(" "));
  }
  svg.dataset.samples = String(samples.length);
  $("graph-max").textContent = last
    ? "last " + Math.round(span / 1000) + " s · now " + perSecond(last.pushed) + " pushed, " + perSecond(last.popped) +
      " popped, " + perSecond(last.forwarded) + " forwarded · top of the scale " + perSecond(max)
    : "";
}

// The helpers below build table cells and format figures.

function cell(field, value, cls) {
  const td = document.createElement("td");
  td.dataset.field = field;
  td.textContent = value === undefined || value === null ? "" : String(value);
  if (cls) td.className = cls;
  return td;
}

function num(field, value, format) {
  const td = cell(field, value === undefined || value === null ? "—" : format ? format(value) : String(value), "num");
  return td;
}

function fill(table, rows, decorate, empty) {
  const body = $(table).tBodies[0];
  const trs = rows.map((cells, i) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    if (decorate) decorate(tr, i);
    return tr;
  });
  if (trs.length === 0) {
    const tr = document.createElement("tr");
    const td = cell("empty", empty, "empty");
    td.colSpan = $(table).tHead.rows[0].cells.length;
    tr.append(td);
    trs.push(tr);
  }
  body.replaceChildren(...trs);
}

function text(id, value) {
  $(id).textContent = value === undefined || value === null ? "—" : String(value);
}

function bytes(n) {
  if (n === undefined || n === null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function perSecond(n) {
  return (n >= 10 ? n.toFixed(0) : n.toFixed(1)) + "/s";
}

function bytesPerSecond(n) {
  return bytes(Math.round(n)) + "/s";
}

function duration(ns) {
  if (!ns) return "—";
  return ns >= 1e6 ? (ns / 1e6).toFixed(1) + " ms" : (ns / 1e3).toFixed(0) + " µs";
}

$("interval").textContent = interval / 1000 + " s";
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  $("token").value = "";
});
poll();
