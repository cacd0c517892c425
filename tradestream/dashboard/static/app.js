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

function renderCurve(points, initial) {
  const svg = $("equity-chart");
  const W = 900, H = 220, pad = 8;
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  if (!points.length) {
    setText("curve-start", "–"); setText("curve-end", "–"); setText("curve-range", "no equity points yet");
    return;
  }
  const values = points.map((q) => q.equity);
  let lo = Math.min(initial, ...values), hi = Math.max(initial, ...values);
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const x = (i) => points.length === 1 ? W / 2 : pad + (i * (W - 2 * pad)) / (points.length - 1);
  const y = (v) => H - pad - ((v - lo) * (H - 2 * pad)) / (hi - lo);
  const base = document.createElementNS(ns, "line");
  base.setAttribute("x1", 0); base.setAttribute("x2", W);
  base.setAttribute("y1", y(initial)); base.setAttribute("y2", y(initial));
  base.setAttribute("stroke", "#9aa3b2"); base.setAttribute("stroke-dasharray", "4 4");
  base.setAttribute("vector-effect", "non-scaling-stroke");
  svg.appendChild(base);
  const d = points.map((q, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + y(q.equity).toFixed(1)).join(" ");
  const area = document.createElementNS(ns, "path");
  area.setAttribute("d", d + " L" + x(points.length - 1).toFixed(1) + " " + (H - pad) + " L" + x(0).toFixed(1) + " " + (H - pad) + " Z");
  area.setAttribute("fill", "rgba(36, 89, 199, 0.08)");
  svg.appendChild(area);
  const line = document.createElementNS(ns, "path");
  line.setAttribute("d", d);
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", values[values.length - 1] >= initial ? "#0a7d44" : "#c0362c");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.appendChild(line);
  setText("curve-start", fmtTime(points[0].time_ms));
  setText("curve-end", fmtTime(points[points.length - 1].time_ms));
  setText("curve-range", "low " + fmtMoney(Math.min(...values)) + " · high " + fmtMoney(Math.max(...values)) + " · dashed: starting cash");
}

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
    tr.append(cell(q.symbol), cell(q.book), cell(q.side, q.side === "LONG" ? "BUY" : "SELL"),
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
      cell(priceFmt.format(s.price), "num"), cell(s.strategy_id), cell(s.confidence.toFixed(2), "num"),
      cell(s.decision, s.decision.startsWith("filled") ? "pos" : "muted"));
    return tr;
  }), 8, "no signals yet");
  seenSignals = new Set(list.map((s) => s.signal_id));
}

function renderFills(list) {
  fillBody("fills-body", list.map((f) => {
    const tr = document.createElement("tr");
    tr.append(cell(String(f.fill_id)), cell(fmtTime(f.time_ms)), cell(f.symbol), cell(f.book),
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
