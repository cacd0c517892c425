// TradeStream live dashboard: renders /api/stream snapshots (server-sent events) in place.
"use strict";

const $ = (id) => document.getElementById(id);
const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const qtyFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });
const priceFmt = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 });
let seenSignals = null; // ids rendered so far (to highlight new rows)

function fmtMoney(v) { return v == null ? "–" : money.format(v); }
function fmtSigned(v) { return v == null ? "–" : (v > 0 ? "+" : "") + money.format(v); }
function fmtPct(v) { return v == null ? "–" : (v > 0 ? "+" : "") + (v * 100).toFixed(2) + "%"; }
function fmtTime(ms) {
  if (ms == null) return "–";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}
function signClass(v) { return v > 0 ? "pos" : v < 0 ? "neg" : ""; }
function setText(id, text, cls) {
  const el = $(id);
  el.textContent = text;
  if (cls !== undefined) el.className = el.className.replace(/\b(pos|neg|warn)\b/g, "").trim() + (cls ? " " + cls : "");
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// A strategy id in a cell that may wrap after its "(" and commas rather than widen the table.
function idCell(text) {
  const td = document.createElement("td");
  td.className = "id";
  String(text).split(/(?<=[(,])/).forEach((part, i) => {
    if (i) td.appendChild(document.createElement("wbr"));
    td.appendChild(document.createTextNode(part));
  });
  return td;
}

function fillBody(id, rows, cols, empty) {
  const body = $(id);
  const frag = document.createDocumentFragment();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(empty, "muted");
    td.colSpan = cols;
    tr.appendChild(td);
    frag.appendChild(tr);
  }
  for (const r of rows) frag.appendChild(r);
  body.replaceChildren(frag);
}

function renderAccount(p) {
  const a = p.account;
  setText("equity", fmtMoney(a.equity));
  setText("return", fmtPct(a["return"]) + " since start (" + fmtMoney(a.initial_cash) + ")", signClass(a["return"]));
  setText("pnl", fmtSigned(a.pnl), signClass(a.pnl));
  setText("realized", fmtSigned(a.realized_pnl));
  setText("unrealized", fmtSigned(a.unrealized_pnl));
  setText("cash", fmtMoney(a.cash));
  setText("fees", fmtMoney(a.fees_paid));
  const halt = p.risk.halt_reason;
  setText("entries", halt ? "halted" : "allowed", halt ? "neg" : "pos");
  setText("entries-sub", halt ? halt.replaceAll("_", " ") : "no risk limit hit");
  setText("activity", a.signals + " signals");
  const dup = (a.counters && a.counters.duplicates) || 0;
  setText("activity-sub", a.fills + " fills · " + dup + " duplicates ignored");
}

// Axis helpers: round values with only the decimals their step needs, and time ticks at
// whole minutes, hours, days (weeks on Mondays) or months in UTC, as the HTML reports draw them.
const SVG_NS = "http://www.w3.org/2000/svg";
const MINUTE = 60000, HOUR = 3600000, DAY = 86400000;
const TIME_STEPS = [1, 2, 5, 10, 15, 30].map((m) => m * MINUTE)
  .concat([1, 2, 3, 6, 12].map((h) => h * HOUR), [1, 2, 7, 14].map((d) => d * DAY));
const MONTH_STEPS = [1, 2, 3, 6, 12, 24, 60, 120];

function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
  return { ticks, step };
}

function decimals(step) {
  for (let d = 0; d < 10; d++) {
    const s = step * 10 ** d;
    if (Math.abs(s - Math.round(s)) <= 1e-6 * s) return d;
  }
  return 10;
}

function timeTicks(t0, t1, most) {
  for (const step of TIME_STEPS) {
    const origin = step % (7 * DAY) === 0 ? 4 * DAY : 0; // weeks start on Mondays
    const first = Math.ceil((t0 - origin) / step) * step + origin;
    if (Math.floor((t1 - first) / step) + 1 <= most) {
      const ticks = [];
      for (let t = first; t <= t1; t += step) ticks.push(t);
      return { ticks, fmt: step < DAY ? "minute" : "day" };
    }
  }
  const start = new Date(t0);
  const month0 = start.getUTCFullYear() * 12 + start.getUTCMonth();
  for (const step of MONTH_STEPS) {
    const ticks = [];
    for (let m = Math.ceil(month0 / step) * step; ; m += step) {
      const t = Date.UTC(Math.floor(m / 12), m % 12, 1);
      if (t > t1) break;
      if (t >= t0) ticks.push(t);
    }
    if (ticks.length <= most) return { ticks, fmt: "month" };
  }
  return { ticks: [], fmt: "month" };
}

function timeLabel(ms, fmt) {
  const iso = new Date(ms).toISOString();
  if (fmt === "minute") return iso.slice(5, 10) + " " + iso.slice(11, 16);
  return fmt === "day" ? iso.slice(0, 10) : iso.slice(0, 7);
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

let lastCurve = null; // redrawn at the new width when the window is resized

function renderCurve(points, initial) {
  lastCurve = [points, initial];
  const svg = $("equity-chart");
  svg.replaceChildren();
  if (!points.length) {
    setText("curve-range", "no equity points yet");
    return;
  }
  // Drawn in CSS pixels (the viewBox follows the element's width), so text keeps its shape.
  const W = Math.max(320, Math.round(svg.getBoundingClientRect().width) || 900), H = 240;
  const left = 76, right = 14, top = 10, bottom = 44;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const values = points.map((q) => q.equity);
  let lo = Math.min(initial, ...values), hi = Math.max(initial, ...values);
  const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.001 || 1;
  lo -= pad; hi += pad;
  const t0 = points[0].time_ms, t1 = points[points.length - 1].time_ms;
  const x = (t) => t1 === t0 ? left + (W - left - right) / 2 : left + ((t - t0) * (W - left - right)) / (t1 - t0);
  const y = (v) => top + ((hi - v) * (H - top - bottom)) / (hi - lo);
  const base = H - bottom;

  const yt = niceTicks(lo, hi, 5);
  const digits = decimals(yt.step);
  const yFmt = new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  for (const v of yt.ticks) {
    svg.append(svgEl("line", { class: "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    svg.append(svgEl("text", { class: "y-tick", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, yFmt.format(v + 0)));
  }
  const tt = timeTicks(t0, t1, Math.max(2, Math.floor((W - left - right) / 110)));
  for (const t of tt.ticks) {
    const label = timeLabel(t, tt.fmt);
    const half = 3.2 * label.length;
    const anchor = x(t) + half > W ? "end" : x(t) - half < 0 ? "start" : "middle";
    svg.append(svgEl("line", { class: "grid", x1: x(t), x2: x(t), y1: top, y2: base }));
    svg.append(svgEl("text", { class: "x-tick", x: x(t), y: base + 15, "text-anchor": anchor, "data-t": t }, label));
  }
  svg.append(svgEl("line", { class: "axis-line", x1: left, x2: W - right, y1: base, y2: base }));
  svg.append(svgEl("text", { class: "axis-title", x: left + (W - left - right) / 2, y: H - 6, "text-anchor": "middle" }, "time (UTC)"));
  svg.append(svgEl("text", { class: "axis-title", transform: `rotate(-90)`, x: -(top + (base - top) / 2), y: 13, "text-anchor": "middle" }, "equity"));

  svg.append(svgEl("line", { x1: left, x2: W - right, y1: y(initial), y2: y(initial), stroke: "#9aa3b2", "stroke-dasharray": "4 4" }));
  const d = points.map((q, i) => (i ? "L" : "M") + x(q.time_ms).toFixed(1) + " " + y(q.equity).toFixed(1)).join(" ");
  svg.append(svgEl("path", { d: d + ` L${x(t1).toFixed(1)} ${base} L${x(t0).toFixed(1)} ${base} Z`, fill: "rgba(36, 89, 199, 0.08)" }));
  svg.append(svgEl("path", { d, fill: "none", stroke: values[values.length - 1] >= initial ? "#0a7d44" : "#c0362c", "stroke-width": 2 }));
  setText("curve-range", fmtTime(t0) + " → " + fmtTime(t1) + " UTC · low " + fmtMoney(Math.min(...values)) +
    " · high " + fmtMoney(Math.max(...values)) + " · dashed: starting cash");
}

window.addEventListener("resize", () => { if (lastCurve) renderCurve(...lastCurve); });

function bar(id, value, limit) {
  const el = $(id);
  const frac = limit ? Math.max(0, Math.min(1, value / limit)) : 0;
  el.style.width = (frac * 100).toFixed(1) + "%";
  el.className = frac >= 1 ? "hot" : "";
}

function renderRisk(p) {
  const r = p.risk, lim = r.limits || {};
  const limText = (v, l) => fmtPct(Math.max(0, v)).replace("+", "") + (l ? " / " + (l * 100).toFixed(1) + "%" : " (off)");
  bar("bar-daily", r.daily_loss, lim.daily_loss_limit);
  setText("risk-daily", limText(r.daily_loss, lim.daily_loss_limit), r.daily_halted ? "neg" : "");
  bar("bar-weekly", r.weekly_loss, lim.weekly_loss_limit);
  setText("risk-weekly", limText(r.weekly_loss, lim.weekly_loss_limit), r.weekly_halted ? "neg" : "");
  bar("bar-dd", r.drawdown, lim.max_drawdown);
  setText("risk-dd", limText(r.drawdown, lim.max_drawdown), r.breaker ? "neg" : "");
  bar("bar-pos", r.open_positions, lim.max_open_positions);
  setText("risk-pos", r.open_positions + (lim.max_open_positions ? " / " + lim.max_open_positions : ""));
  setText("risk-breaker", r.breaker ? "TRIPPED: " + r.breaker_reason + (r.reset_requested ? " (reset requested)" : "") : "armed", r.breaker ? "neg" : "pos");
  const ul = $("events");
  ul.replaceChildren(...(p.events || []).slice(0, 5).map((e) => {
    const li = document.createElement("li");
    li.textContent = fmtTime(e.time_ms) + " " + e.message;
    return li;
  }));
}

function renderHealth(h, p) {
  const pending = p.ready ? p.account.pending : null;
  setText("health-pending", pending == null ? "–" : String(pending));
  if (!h) { setText("health-kafka", "not monitored"); return; }
  if (h.ok === null) { setText("health-kafka", "checking…"); return; }
  setText("health-kafka", h.ok ? "reachable (checked " + fmtTime(h.checked_ms) + ")" : "unreachable: " + h.error, h.ok ? "pos" : "neg");
  for (const g of h.groups || []) {
    const id = g.label === "realtime" ? "health-realtime" : g.label === "paper" ? "health-paper" : null;
    if (!id) continue;
    const text = g.lag == null ? (g.error || "–") : g.lag + " records behind on " + g.topic + " (" + g.group + (g.committed ? "" : ", no commits yet") + ")";
    setText(id, text, g.lag > 1000 ? "warn" : "");
  }
  setText("health-dlq", h.dead_letters == null ? "no DLQ topic" : String(h.dead_letters), h.dead_letters ? "warn" : "");
  setText("health-signals", h.signals_total == null ? "–" : String(h.signals_total));
}

function renderPositions(list) {
  setText("positions-count", "(" + list.length + ")");
  fillBody("positions-body", list.map((q) => {
    const tr = document.createElement("tr");
    tr.append(cell(q.symbol), idCell(q.book), cell(q.side, q.side === "LONG" ? "BUY" : "SELL"),
      cell(qtyFmt.format(Math.abs(q.qty)), "num"), cell(priceFmt.format(q.avg_price), "num"),
      cell(priceFmt.format(q.mark), "num"), cell(fmtMoney(q.market_value), "num"),
      cell(fmtSigned(q.unrealized_pnl), "num " + signClass(q.unrealized_pnl)),
      cell(q.stop_price == null ? "–" : priceFmt.format(q.stop_price), "num"), cell(fmtTime(q.opened_ms)));
    return tr;
  }), 10, "no open positions");
}

function renderSignals(list) {
  const first = seenSignals === null;
  const seen = seenSignals || new Set();
  fillBody("signals-body", list.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.signalId = s.signal_id;
    if (!first && !seen.has(s.signal_id)) tr.className = "new";
    tr.append(cell(String(s.seq)), cell(fmtTime(s.time_ms)), cell(s.symbol), cell(s.action, s.action),
      cell(priceFmt.format(s.price), "num"), idCell(s.strategy_id), cell(s.confidence.toFixed(2), "num"),
      cell(s.decision, s.decision.startsWith("filled") ? "pos" : "muted"));
    return tr;
  }), 8, "no signals yet");
  seenSignals = new Set(list.map((s) => s.signal_id));
}

function renderFills(list) {
  fillBody("fills-body", list.map((f) => {
    const tr = document.createElement("tr");
    tr.append(cell(String(f.fill_id)), cell(fmtTime(f.time_ms)), cell(f.symbol), idCell(f.book),
      cell(f.side, f.side), cell(f.kind), cell(qtyFmt.format(f.qty), "num"),
      cell(priceFmt.format(f.price), "num"), cell(fmtMoney(f.fee), "num"),
      cell(f.kind === "entry" ? "–" : fmtSigned(f.realized_pnl), "num " + signClass(f.realized_pnl)));
    return tr;
  }), 10, "no fills yet");
}

function render(snap) {
  const p = snap.paper || {};
  setText("updated", fmtTime(snap.server_ms));
  if (p.ready) {
    renderAccount(p);
    renderCurve(p.equity || [], p.account.initial_cash);
    renderRisk(p);
    renderPositions(p.positions || []);
    renderSignals(p.signals || []);
    renderFills(p.fills || []);
  } else {
    setText("equity", "–");
    setText("return", p.reason || "no portfolio yet: start `tradestream paper run`");
  }
  renderHealth(snap.health, p);
}

function connect() {
  const conn = $("conn");
  const es = new EventSource("/api/stream");
  es.addEventListener("snapshot", (e) => {
    conn.textContent = "live";
    conn.className = "badge on";
    render(JSON.parse(e.data));
  });
  es.onerror = () => {
    conn.textContent = "reconnecting…";
    conn.className = "badge off";
  };
}

connect();
