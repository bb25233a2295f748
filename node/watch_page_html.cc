// The watch-floor page served at / (docs/OPERATIONS.md): one HTML document
// with its CSS and JavaScript inline, no external resources, no build step.
// Every alert field reaches the DOM through textContent, never innerHTML, so
// an alert's text is shown as text whatever it contains.
#include "node/watch_page.h"

namespace watchfloor::node {

const char kWatchPageHtml[] = R"WFPAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>watchfloor</title>
<style>
:root { color-scheme: dark; --bg:#11151a; --panel:#1a2028; --line:#2b3440; --text:#d8dee6; --dim:#8a96a3; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; gap:1em; align-items:center; padding:.6em 1em; border-bottom:1px solid var(--line); }
header h1 { font-size:1.1em; margin:0; }
#node { color:var(--dim); }
#conn { margin-left:auto; font-size:.85em; padding:.1em .6em; border-radius:1em; background:#444; }
#conn.live { background:#1d5f32; }
main { display:grid; grid-template-columns: 1fr 24em; gap:1em; padding:1em; }
section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:.6em .8em; }
h2 { font-size:.95em; margin:.2em 0 .6em; color:var(--dim); text-transform:uppercase; letter-spacing:.05em; }
#filter-form { display:flex; gap:.5em; }
#filter { flex:1; font:13px ui-monospace, monospace; padding:.4em; background:#0c0f13; color:var(--text); border:1px solid var(--line); border-radius:4px; }
#filter-error { color:#ff7b72; font:12px ui-monospace, monospace; white-space:pre-wrap; margin:.4em 0 0; min-height:1em; }
#filter-note { color:var(--dim); font-size:.8em; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:.25em .4em; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--dim); font-weight:normal; font-size:.85em; }
#alerts td.title { word-break:break-word; }
.sev { font-weight:bold; padding:0 .4em; border-radius:3px; }
.sev-CRITICAL { background:#8b0000; color:#fff; } .sev-HIGH { background:#d9480f; color:#fff; }
.sev-MEDIUM { background:#e8b400; color:#000; } .sev-LOW { background:#3b7dd8; color:#fff; }
.sev-INFO { background:#555; color:#fff; }
.tlp { font:bold 12px ui-monospace, monospace; background:#000; padding:0 .35em; border-radius:2px; }
.tlp-CLEAR { color:#fff; } .tlp-GREEN { color:#33ff00; } .tlp-AMBER, .tlp-AMBER_STRICT { color:#ffc000; }
.tlp-RED { color:#ff2b2b; }
.up { color:#3fb950; } .down { color:#ff7b72; font-weight:bold; }
.dim { color:var(--dim); }
#count { color:var(--dim); font-size:.85em; }
td.time { white-space:nowrap; }
</style>
</head>
<body>
<header>
  <h1>watchfloor</h1><span id="node"></span>
  <span id="conn">connecting</span>
</header>
<main>
  <div>
    <section>
      <h2>Filter</h2>
      <form id="filter-form" autocomplete="off">
        <input id="filter" name="filter" spellcheck="false" placeholder="e.g. domain:cz severity&gt;=high !category:abuse.*">
        <button type="submit">Apply</button>
      </form>
      <p id="filter-error" role="alert"></p>
      <span id="filter-note">Syntax: docs/FILTERS.md. Empty shows every alert.</span>
    </section>
    <section style="margin-top:1em">
      <h2>Alerts <span id="count"></span></h2>
      <table>
        <thead><tr><th>Time</th><th>Severity</th><th>TLP</th><th>Origin</th><th>Category</th><th>Title</th><th>Domains</th></tr></thead>
        <tbody id="alerts"></tbody>
      </table>
    </section>
  </div>
  <div>
    <section>
      <h2>Federation</h2>
      <table>
        <thead><tr><th>Peer</th><th>State</th><th>Lag</th><th>Refused</th><th>Last contact</th></tr></thead>
        <tbody id="peers"></tbody>
      </table>
      <p id="roster" class="dim"></p>
    </section>
    <section style="margin-top:1em">
      <h2>Feeds and checkpoints</h2>
      <table>
        <thead><tr><th>Origin</th><th>Head</th><th>Lag</th><th>Checkpoint</th></tr></thead>
        <tbody id="feeds"></tbody>
      </table>
    </section>
  </div>
</main>
<script>
"use strict";
const MAX_ROWS = 500;
let source = null;
let shown = 0;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function strip(value, prefix) {
  return typeof value === "string" && value.startsWith(prefix) ? value.slice(prefix.length) : "";
}
function setConn(text, live) {
  const c = document.getElementById("conn");
  c.textContent = text;
  c.className = live ? "live" : "";
}
function ago(unix, now) {
  if (unix === null || unix === undefined) return "never";
  const s = Math.max(0, now - unix);
  return s < 60 ? s.toFixed(1) + " s ago" : Math.round(s / 60) + " min ago";
}

function addAlert(msg) {
  const a = msg.alert || {};
  const sev = strip(a.severity, "SEVERITY_");
  const tlp = strip(a.tlp, "TLP_");
  const tr = document.createElement("tr");
  tr.dataset.id = msg.id;
  tr.dataset.cursor = msg.cursor;
  tr.appendChild(el("td", (a.issued_at || "").replace("T", " ").replace(/\.\d+Z$|Z$/, ""), "dim time"));
  const s = el("td"); s.appendChild(el("span", sev, "sev sev-" + sev)); tr.appendChild(s);
  const t = el("td"); t.appendChild(el("span", "TLP:" + tlp, "tlp tlp-" + tlp)); tr.appendChild(t);
  tr.appendChild(el("td", a.origin, "origin"));
  tr.appendChild(el("td", a.category, "category"));
  const title = el("td", a.title, "title");
  if (a.description) title.title = a.description;
  tr.appendChild(title);
  tr.appendChild(el("td", (a.domains || []).join(" "), "domains"));
  const body = document.getElementById("alerts");
  body.insertBefore(tr, body.firstChild);
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  shown = body.rows.length;
  document.getElementById("count").textContent = "(" + shown + ")";
}

function clearAlerts() {
  document.getElementById("alerts").replaceChildren();
  document.getElementById("count").textContent = "";
}

async function applyFilter(text) {
  const err = document.getElementById("filter-error");
  if (source) { source.close(); source = null; }
  clearAlerts();
  let res;
  try {
    res = await fetch("api/filter?q=" + encodeURIComponent(text), { cache: "no-store" });
  } catch (e) {
    err.textContent = "cannot reach the node: " + e;
    setConn("disconnected", false);
    return;
  }
  if (!res.ok) {
    err.textContent = await res.text();
    document.body.dataset.filter = "invalid";
    setConn("not streaming: invalid filter", false);
    return;
  }
  err.textContent = "";
  document.body.dataset.filter = "valid";
  const q = new URLSearchParams(location.search);
  if (text) q.set("filter", text); else q.delete("filter");
  history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
  source = new EventSource("api/stream?filter=" + encodeURIComponent(text));
  source.addEventListener("open", () => setConn("live", true));
  source.addEventListener("alert", (ev) => addAlert(JSON.parse(ev.data)));
  source.addEventListener("end", (ev) => setConn(JSON.parse(ev.data), false));
  source.addEventListener("error", () => setConn("reconnecting", false));
}

function renderPeers(f) {
  document.getElementById("node").textContent = f.node;
  document.getElementById("roster").textContent = f.roster_version ? "roster version " + f.roster_version : "not in a federation";
  const body = document.getElementById("peers");
  const rows = f.peers.map((p) => {
    const tr = el("tr");
    tr.dataset.peer = p.peer;
    tr.dataset.up = p.up ? "1" : "0";
    tr.appendChild(el("td", p.peer));
    tr.appendChild(el("td", p.up ? "up" : "down", p.up ? "up" : "down"));
    tr.appendChild(el("td", p.lag));
    const reasons = Object.entries(p.refused_by_reason).map(([k, v]) => k + ": " + v).join(", ");
    const r = el("td", p.refused); if (reasons) r.title = reasons; tr.appendChild(r);
    tr.appendChild(el("td", ago(p.last_contact, f.now), "dim"));
    return tr;
  });
  body.replaceChildren(...rows);
}

function renderFeeds(f) {
  const rows = f.feeds.map((x) => {
    const tr = el("tr");
    tr.dataset.origin = x.origin;
    tr.appendChild(el("td", x.origin + (x.forked ? " (forked)" : ""), x.forked ? "down" : ""));
    tr.appendChild(el("td", x.head));
    tr.appendChild(el("td", x.lag));
    tr.appendChild(el("td", x.checkpoint ? "size " + x.checkpoint.size + ", " + x.checkpoint.witnesses + "/" + x.checkpoint.quorum + " witnesses" : "none", "dim"));
    return tr;
  });
  document.getElementById("feeds").replaceChildren(...rows);
}

async function poll() {
  try {
    const [f, d] = await Promise.all([
      fetch("api/federation", { cache: "no-store" }).then((r) => r.json()),
      fetch("api/feeds", { cache: "no-store" }).then((r) => r.json()),
    ]);
    renderPeers(f);
    renderFeeds(d);
  } catch (e) {
    document.getElementById("roster").textContent = "status unavailable: " + e;
  }
  setTimeout(poll, 1000);
}

document.getElementById("filter-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  applyFilter(document.getElementById("filter").value.trim());
});
const initial = new URLSearchParams(location.search).get("filter") || "";
document.getElementById("filter").value = initial;
applyFilter(initial);
poll();
</script>
</body>
</html>
)WFPAGE";

}  // namespace watchfloor::node
