// ssehub console: the page updates itself from the console's event stream
// (events), lists subscriptions (api/subscriptions), tails topics (tail) and
// publishes (publish). Every URL is relative to /ui/.
"use strict";

const $ = (sel) => document.querySelector(sel);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// ---- tabs -----------------------------------------------------------------
function showTab() {
  const name = (location.hash || "#overview").slice(1);
  document.querySelectorAll("section.tab").forEach((s) => { s.hidden = s.id !== name; });
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === name));
  if (name === "topics") refreshSubscriptions();
  if (name === "streams") refreshStreams();
  if (name === "overview") resizeCharts();
}
window.addEventListener("hashchange", showTab);

// ---- formatting -------------------------------------------------------------
function fmtNum(v) {
  if (v == null || Number.isNaN(v)) return "–";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e4) return (v / 1e3).toFixed(1) + "k";
  if (v >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString("en");
  return v.toFixed(1);
}
function fmtBytes(v) {
  if (v == null) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? Math.round(v) : v.toFixed(1)) + " " + units[i];
}
function fmtMs(v) {
  if (v == null) return "–";
  if (v >= 1000) return (v / 1000).toFixed(2) + " s";
  if (v >= 10) return Math.round(v) + " ms";
  return v.toFixed(v >= 1 ? 1 : 2) + " ms";
}
function fmtTime(ms) { return new Date(ms).toLocaleTimeString("en-GB", { hour12: false }); }
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ---- charts -----------------------------------------------------------------
const charts = [];
let hello = null;
let samples = [];
let maxSamples = 300;

const clock = (v) => new Date(v * 1000).toLocaleTimeString("en-GB", { hour12: false });
function axisOpts(fmt) {
  const stroke = css("--dim"), grid = { stroke: css("--grid"), width: 1 }, ticks = { stroke: css("--grid"), width: 1 };
  return [
    { stroke, grid, ticks, font: "11px system-ui", values: (u, vs) => vs.map(clock) },
    { stroke, grid, ticks, font: "11px system-ui", size: 56, values: (u, vs) => vs.map(fmt) },
  ];
}
function series(label, color, fill) {
  const c = css(color);
  return { label, stroke: c, width: 2, fill: fill ? c + "22" : undefined, points: { show: false }, spanGaps: false };
}
function makeChart(id, ser, fmt, opts) {
  const host = document.getElementById(id);
  const o = Object.assign({
    width: Math.max(host.clientWidth, 300), height: 170,
    cursor: { drag: { x: false, y: false } }, legend: { show: false },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.15, 1)] } },
    series: [{}].concat(ser), axes: axisOpts(fmt),
  }, opts || {});
  const chart = new uPlot(o, [[]].concat(ser.map(() => [])), host);
  chart.host = host;
  charts.push(chart);
  return chart;
}
function resizeCharts() {
  for (const c of charts) {
    const w = c.host.clientWidth;
    if (w > 0 && Math.abs(w - c.width) > 2) c.setSize({ width: w, height: 170 });
  }
}
window.addEventListener("resize", resizeCharts);

let cRate, cSubs, cDelay, cHist, cBytes, cStore;
function initCharts() {
  cRate = makeChart("c-rate", [series("published", "--c1", true), series("delivered", "--c2", true), series("replayed", "--c4")], fmtNum);
  cSubs = makeChart("c-subs", [series("subscribers", "--c1", true)], fmtNum);
  cDelay = makeChart("c-delay", [series("p50", "--c3", true), series("p99", "--c5")], (v) => (v === 0 ? "0" : fmtMs(v).replace(" ms", "")));
  cBytes = makeChart("c-bytes", [series("bytes/s", "--c4", true)], (v) => (v === 0 ? "0" : fmtBytes(v).replace(".0 ", "").replace(" ", "")));
  cStore = makeChart("c-store", [series("store ms", "--c2", true), series("slow/s", "--c5")], (v) => fmtNum(v));
  const bars = uPlot.paths.bars({ size: [0.7, 60] });
  const bound = (b) => (b >= 1000 ? b / 1000 + "s" : b < 1 ? b : Math.round(b));
  const labels = () => (hello && hello.buckets ? hello.buckets.map((b) => "≤" + bound(b)).concat(["more"]) : []);
  cHist = makeChart("c-hist", [Object.assign(series("writes", "--c3", true), { paths: bars, fill: css("--c3") + "aa" })], fmtNum, {
    scales: { x: { time: false, range: (u, min, max) => [min - 0.6, max + 0.6] }, y: { range: (u, min, max) => [0, Math.max(max * 1.15, 1)] } },
    axes: [
      Object.assign(axisOpts(fmtNum)[0], { values: (u, vs) => vs.map((v) => labels()[v] ?? ""),
        splits: () => labels().map((_, i) => i).filter((i) => i % 3 === 0 || i === labels().length - 1), font: "10px system-ui" }),
      axisOpts(fmtNum)[1],
    ],
  });
}

function draw() {
  const t = samples.map((s) => s.t / 1000);
  cRate.setData([t, samples.map((s) => s.published), samples.map((s) => s.delivered), samples.map((s) => s.replayed)]);
  cSubs.setData([t, samples.map((s) => s.subscribers)]);
  cDelay.setData([t, samples.map((s) => s.delayP50), samples.map((s) => s.delayP99)]);
  cBytes.setData([t, samples.map((s) => s.bytes)]);
  cStore.setData([t, samples.map((s) => s.storeLatency), samples.map((s) => s.slow)]);
  // The distribution of the writes of the last 60 s.
  const n = Math.max(1, Math.round(60000 / (hello.interval || 1000)));
  const sums = [];
  for (const s of samples.slice(-n)) (s.delay || []).forEach((c, i) => { sums[i] = (sums[i] || 0) + c; });
  cHist.setData([sums.map((_, i) => i), sums]);
}

function kpi(id, value, cls, unit) {
  const k = document.getElementById(id);
  k.querySelector(".value").replaceChildren(value, unit ? el("span", { class: "unit" }, unit) : "");
  k.classList.remove("ok", "bad", "warn");
  if (cls) k.classList.add(cls);
}

function showSample(s) {
  document.body.dataset.published = String(s.totals.published);
  const total = (s.nodes || []).reduce((a, n) => a + n.subscribers, 0);
  kpi("k-subscribers", fmtNum(hello.shared ? total : s.subscribers));
  $("#k-subscribers .sub").textContent = hello.shared ? `open now, ${s.nodes.length} node${s.nodes.length === 1 ? "" : "s"}` : "open now";
  kpi("k-published", fmtNum(s.published));
  kpi("k-delivered", fmtNum(s.delivered));
  kpi("k-bytes", fmtBytes(s.bytes), null, "/s");
  const lastDelay = [...samples].reverse().find((x) => x.delayP99 != null);
  kpi("k-delay", lastDelay ? fmtMs(lastDelay.delayP99) : "–");
  $("#k-delay .sub").textContent = lastDelay ? `p50 ${fmtMs(lastDelay.delayP50)} · publication → write` : "no writes yet";
  kpi("k-slow", fmtNum(s.totals.slow), s.totals.slow > 0 ? "warn" : null);
  kpi("k-replays", fmtNum(s.totals.replays));
  kpi("k-store", s.storeOK ? "healthy" : "failing", s.storeOK ? "ok" : "bad");
  $("#k-store .sub").textContent = s.storeOK ? `latency ${fmtMs(s.storeLatency)}` : s.storeError;
  $("#k-published .sub").textContent = `updates/s · ${fmtNum(s.totals.published)} in all`;
  $("#k-delivered .sub").textContent = `updates/s · ${fmtNum(s.totals.delivered)} in all`;
  $("#k-bytes .sub").textContent = `to event streams · ${fmtBytes(s.totals.bytes)} in all`;

  const body = $("#nodes tbody");
  body.replaceChildren(...(s.nodes || []).map((n) => el("tr", {},
    el("td", { class: "mono" }, n.id, n.id === hello.node ? el("span", { class: "chip self" }, "this node") : null),
    el("td", { class: "mono" }, n.addr || "–"),
    el("td", { class: "num" }, fmtNum(n.subscribers)),
    el("td", {}, ago(n.seen)))));
  $("#nodes-note").textContent = hello.shared
    ? (s.nodesError ? "— cannot list the nodes: " + s.nodesError : "— every node sharing the store")
    : "— this store belongs to this node alone";
  $("#node").textContent = hello.node;
}
function ago(iso) {
  const d = (Date.now() - Date.parse(iso)) / 1000;
  return d < 2 ? "just now" : Math.round(d) + " s ago";
}

// ---- the console's own stream ----------------------------------------------
// ssehubConsole.stream is the page's stream, which tests close to freeze
// the page for a screenshot.
const ssehubConsole = { stream: null };
function connect() {
  const live = $("#live");
  const es = new EventSource("events");
  ssehubConsole.stream = es;
  es.onopen = () => { live.dataset.state = "live"; live.textContent = "live"; };
  es.onerror = () => { live.dataset.state = "error"; live.textContent = "reconnecting…"; };
  es.onmessage = (e) => {
    hello = JSON.parse(e.data);
    maxSamples = Math.max(10, hello.samples.length, 300);
    samples = hello.samples;
    $("#pub-send").disabled = !hello.publish;
    $("#pub-disabled").hidden = hello.publish;
    $("#tail-hub-label").hidden = !hello.streams;
    $("#streams-note").textContent = hello.streams ? "" : "— this hub serves none";
    if (samples.length) { draw(); showSample(samples[samples.length - 1]); }
  };
  es.addEventListener("sample", (e) => {
    const s = JSON.parse(e.data);
    samples.push(s);
    if (samples.length > maxSamples) samples.splice(0, samples.length - maxSamples);
    document.body.dataset.samples = String((Number(document.body.dataset.samples) || 0) + 1);
    if (!$("#overview").hidden) draw();
    showSample(s);
  });
}

// ---- topics and subscriptions ------------------------------------------------
let filterTimer = null;
async function refreshSubscriptions() {
  if ($("#topics").hidden) return;
  const q = $("#filter").value;
  const res = await fetch("api/subscriptions?" + new URLSearchParams({ q }));
  if (!res.ok) return;
  const list = await res.json();
  $("#subs-count").textContent = `${list.matching} of ${list.total} subscriptions on node ${list.node}`;
  $("#topic-rows tbody").replaceChildren(...list.topics.map((t) => el("tr", {},
    el("td", { class: "mono" }, t.selector), el("td", { class: "num" }, String(t.subscribers)))));
  $("#sub-rows tbody").replaceChildren(...list.subscriptions.map((s) => el("tr", {},
    el("td", { class: "mono" }, s.id),
    el("td", {}, ...s.selectors.map((x) => el("span", { class: "chip" }, x))),
    el("td", { class: "mono dim" }, s.payload ? JSON.stringify(s.payload) : ""))));
}
$("#filter").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(refreshSubscriptions, 200); });
setInterval(refreshSubscriptions, 3000);

// ---- tail ---------------------------------------------------------------------
const tail = { es: null, last: "", count: 0, selectors: [] };
const maxTailRows = 500;
function tailState(state, text) { const p = $("#tail-state"); p.dataset.state = state; p.textContent = text; }
function openTail(from) {
  if (tail.es) tail.es.close();
  const q = new URLSearchParams();
  tail.selectors.forEach((s) => q.append("topic", s));
  if (tail.hub) q.set("hub", tail.hub);
  if (from) q.set("from", from);
  const es = new EventSource("tail?" + q);
  tail.es = es;
  tailState("connecting", "connecting…");
  es.addEventListener("ready", (e) => {
    const r = JSON.parse(e.data);
    tailState("live", r.replayFound ? "live" : "live (id not in history: nothing replayed)");
  });
  es.addEventListener("update", (e) => {
    tail.last = e.lastEventId;
    addTailRow(JSON.parse(e.data));
  });
  es.addEventListener("error", (e) => {
    if (e.data) tailState("error", e.data);
    else if (es.readyState !== EventSource.CLOSED) tailState("error", "reconnecting…");
  });
  $("#tail-pause").disabled = false;
  $("#tail-pause").textContent = "Pause";
}
function addTailRow(u) {
  tail.count++;
  $("#tail-empty").hidden = true;
  $("#tail-count").textContent = `${tail.count} update${tail.count === 1 ? "" : "s"}`;
  const data = u.data + (u.truncated ? " …(truncated)" : "");
  const row = el("tr", {},
    el("td", { class: "mono dim nowrap" }, fmtTime(u.time)),
    el("td", { class: "mono" }, u.id),
    el("td", { class: "mono" }, u.type || "message"),
    el("td", {}, u.private ? el("span", { class: "private", title: "private update" }, "private") : null,
      ...u.topics.map((t) => el("span", { class: "chip" }, t))),
    el("td", {}, el("pre", { class: "data" }, data)));
  const body = $("#tail-rows tbody");
  body.prepend(row);
  while (body.children.length > maxTailRows) body.lastChild.remove();
}
$("#tail-from").addEventListener("change", () => { $("#tail-id").hidden = $("#tail-from").value !== "id"; });
$("#tail-form").addEventListener("submit", (e) => {
  e.preventDefault();
  tail.selectors = $("#tail-topics").value.split(/\s+/).filter(Boolean);
  tail.hub = $("#tail-hub").value;
  tail.last = "";
  clearTail();
  if (!tail.selectors.length) return;
  const mode = $("#tail-from").value;
  openTail(mode === "id" ? $("#tail-id").value.trim() : mode);
});
$("#tail-pause").addEventListener("click", () => {
  if (tail.es && tail.es.readyState !== EventSource.CLOSED) {
    tail.es.close();
    tailState("paused", "paused");
    $("#tail-pause").textContent = "Resume";
  } else {
    // Resuming replays what was published meanwhile, from history.
    openTail(tail.last || "");
  }
});
function clearTail() {
  $("#tail-rows tbody").replaceChildren();
  tail.count = 0;
  $("#tail-count").textContent = "";
  $("#tail-empty").hidden = false;
}
$("#tail-clear").addEventListener("click", clearTail);

// ---- resumable streams (answers: durable streams) ----------------------------
async function refreshStreams() {
  if ($("#streams").hidden || !hello || !hello.streams) return;
  const res = await fetch("api/streams");
  if (!res.ok) return;
  const list = await res.json();
  $("#streams-empty").hidden = list.streams.length > 0;
  $("#stream-rows tbody").replaceChildren(...list.streams.map((s) => {
    const button = el("button", { type: "button", class: "ghost" }, "Tail");
    button.addEventListener("click", () => {
      $("#tail-hub").value = "streams";
      $("#tail-topics").value = s.id;
      $("#tail-from").value = "earliest";
      location.hash = "#tail";
      $("#tail-form").requestSubmit();
    });
    return el("tr", {},
      el("td", { class: "mono", title: s.name }, s.id),
      el("td", { class: s.closed ? (s.end === "error" ? "bad-text" : "dim") : "ok-text" }, s.closed ? "closed (" + s.end + ")" : "open"),
      el("td", { class: "num" }, fmtNum(s.events)),
      el("td", { class: "num" }, String(s.readers)),
      el("td", { class: "dim nowrap" }, fmtTime(s.first)),
      el("td", { class: "dim nowrap" }, fmtTime(s.last)),
      el("td", {}, button));
  }));
}
setInterval(refreshStreams, 2000);

// ---- publish ------------------------------------------------------------------
$("#pub-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = new URLSearchParams();
  const topics = $("#pub-topics").value.split("\n").map((t) => t.trim()).filter(Boolean);
  topics.forEach((t) => body.append("topic", t));
  body.set("data", $("#pub-data").value);
  if ($("#pub-id").value) body.set("id", $("#pub-id").value);
  if ($("#pub-type").value) body.set("type", $("#pub-type").value);
  if ($("#pub-private").checked) body.set("private", "on");
  let status, text;
  try {
    const res = await fetch("publish", { method: "POST", body });
    status = res.status;
    text = (await res.text()).trim();
  } catch (err) {
    status = 0;
    text = String(err);
  }
  $("#pub-empty").hidden = true;
  const ok = status >= 200 && status < 300;
  const row = el("tr", { class: ok ? "ok" : "bad" },
    el("td", { class: "mono dim nowrap" }, fmtTime(Date.now())),
    el("td", { class: ok ? "ok-text num" : "bad-text num" }, status ? String(status) : "failed"),
    el("td", { class: "mono answer" }, text),
    el("td", {}, ...topics.map((t) => el("span", { class: "chip" }, t))));
  $("#pub-rows tbody").prepend(row);
});

document.addEventListener("DOMContentLoaded", () => {
  initCharts();
  showTab();
  connect();
});
