// antidistill dashboard: plain JS, no dependencies. Every URL is relative so the admin app
// works under any mount point. Data is only ever inserted as text nodes (textContent).
"use strict";
(function () {
  const TOKEN_KEY = "antidistill.admin-token";
  const REFRESH_MS = 3000;
  const ACTIONS = ["allow", "flag", "degrade", "delay", "throttle", "block"];
  const COLORS = {
    allow: "#9aa5b1", flag: "#e0b000", degrade: "#f08c00", delay: "#8e44ad",
    throttle: "#1f77b4", block: "#d62728",
  };
  const $ = (sel) => document.querySelector(sel);
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let mode = null;
  let timer = null;
  let lastSummary = null;
  let detailId = null;

  class AuthError extends Error {}

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    const headers = { "Accept": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.body);
    }
    opts.headers = headers;
    opts.cache = "no-store";
    opts.credentials = "omit";
    const resp = await fetch(path, opts);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.status === 401) {
      throw new AuthError((data && data.error && data.error.message) || "unauthorized");
    }
    if (!resp.ok) {
      const msg = (data && data.error && data.error.message) || ("HTTP " + resp.status);
      throw new Error(msg);
    }
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function fmtTime(ts) {
    if (ts === null || ts === undefined) return "";
    const d = new Date(ts * 1000);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function fmtNum(x, digits) {
    if (x === null || x === undefined) return "";
    return Number(x).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  function short(id, n) {
    const s = String(id || "");
    return s.length > (n || 26) ? s.slice(0, n || 26) + "…" : s;
  }

  // -- auth ------------------------------------------------------------------------------
  function showAuth(message) {
    $("#auth").hidden = false;
    $("#content").hidden = true;
    $("#logout").hidden = true;
    $("#mode-toggle").disabled = true;
    $("#auth-error").textContent = message || "";
    $("#updated").textContent = "locked";
    $("#token").focus();
  }
  function hideAuth() {
    $("#auth").hidden = true;
    $("#auth-error").textContent = "";
    $("#content").hidden = false;
    $("#logout").hidden = false;
  }

  // -- rendering -------------------------------------------------------------------------
  function renderTotals(s) {
    const box = $("#totals");
    box.textContent = "";
    for (const a of ACTIONS) {
      const card = el("div", null, "total");
      card.style.borderLeftColor = COLORS[a];
      card.appendChild(el("div", fmtNum(s.totals[a] || 0, 0), "n"));
      card.appendChild(el("div", a, "label"));
      box.appendChild(card);
    }
  }

  function renderMode(m) {
    mode = m;
    const badge = $("#mode-badge");
    badge.textContent = "mode: " + m;
    badge.className = "badge " + m;
    const btn = $("#mode-toggle");
    btn.disabled = false;
    btn.textContent = m === "enforce" ? "switch to monitor" : "switch to enforce";
    btn.className = m === "enforce" ? "quiet" : "danger";
  }

  function renderStore(store) {
    const badge = $("#store-badge");
    let text = "store: " + store.backend;
    let cls = "badge healthy";
    if (store.degraded === true) { text += " (DEGRADED: fallback in use)"; cls = "badge degraded"; }
    badge.textContent = text;
    badge.className = cls;
  }

  function fillSeries(series, showAllow) {
    // The server sends only minutes with traffic; fill the gaps so time is linear.
    if (!series.length) return [];
    const out = [];
    const byT = new Map(series.map((p) => [p.t, p]));
    const last = series[series.length - 1].t;
    const first = Math.max(series[0].t, last - 179 * 60);
    for (let t = first; t <= last; t += 60) {
      const p = byT.get(t) || { t: t };
      const row = { t: t };
      for (const a of ACTIONS) row[a] = (a === "allow" && !showAllow) ? 0 : (p[a] || 0);
      out.push(row);
    }
    return out;
  }

  function niceMax(v) {
    if (v <= 5) return 5;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function drawChart(series) {
    const canvas = $("#timeline");
    const showAllow = $("#show-allow").checked;
    const pts = fillSeries(series, showAllow);
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 800;
    const h = canvas.clientHeight || 240;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 44, r: 10, t: 10, b: 24 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    let max = 0;
    for (const p of pts) {
      let sum = 0;
      for (const a of ACTIONS) sum += p[a];
      max = Math.max(max, sum);
    }
    const ymax = niceMax(max);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#6b7280";
    ctx.strokeStyle = "#e3e6eb";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      const y = pad.t + ph - (ph * i) / 4;
      ctx.beginPath();
      ctx.moveTo(pad.l, Math.round(y) + 0.5);
      ctx.lineTo(pad.l + pw, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(fmtNum(v, 0), pad.l - 6, y);
    }
    canvas.dataset.points = String(pts.length);
    if (!pts.length) {
      ctx.textAlign = "center";
      ctx.fillText("no traffic yet", pad.l + pw / 2, pad.t + ph / 2);
      canvas.dataset.rendered = "1";
      return;
    }
    const slot = pw / pts.length;
    const bw = Math.max(1, slot * 0.8);
    pts.forEach((p, i) => {
      let y = pad.t + ph;
      const x = pad.l + i * slot + (slot - bw) / 2;
      for (const a of ACTIONS) {
        if (!p[a]) continue;
        const bh = (p[a] / ymax) * ph;
        ctx.fillStyle = COLORS[a];
        ctx.fillRect(x, y - bh, bw, bh);
        y -= bh;
      }
    });
    // x labels: about one per 90 px
    ctx.fillStyle = "#6b7280";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const every = Math.max(1, Math.ceil(pts.length / Math.max(1, Math.floor(pw / 90))));
    for (let i = 0; i < pts.length; i += every) {
      const d = new Date(pts[i].t * 1000);
      const label = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      ctx.fillText(label, pad.l + i * slot + slot / 2, pad.t + ph + 6);
    }
    canvas.dataset.rendered = "1";
  }

  function renderLegend() {
    const box = $("#legend");
    if (box.childElementCount) return;
    for (const a of ACTIONS) {
      const item = el("span");
      const sw = el("span", null, "sw");
      sw.style.background = COLORS[a];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(a));
      box.appendChild(item);
    }
  }

  function setRows(tableId, rows) {
    const tbody = $("#" + tableId + " tbody");
    tbody.textContent = "";
    for (const r of rows) tbody.appendChild(r);
    const empty = document.querySelector('.empty[data-for="' + tableId + '"]');
    if (empty) empty.hidden = rows.length > 0;
  }

  function reasonText(reasons) {
    return (reasons || []).map((r) => r.name + " ×" + r.count).join(", ");
  }

  function pill(action) {
    return el("span", action || "", "pill " + (action || ""));
  }

  function idLink(id, kind) {
    const a = el("a", short(id), "idlink");
    a.title = id;
    a.href = "#";
    a.addEventListener("click", (ev) => { ev.preventDefault(); showDetail(kind, id); });
    return a;
  }

  function renderClusters(clusters) {
    setRows("clusters", clusters.map((c) => {
      const tr = el("tr");
      const td = el("td", null, "id");
      td.appendChild(idLink(c.id, "cluster"));
      tr.appendChild(td);
      tr.appendChild(el("td", fmtNum(c.risk, 1), "num"));
      tr.appendChild(el("td", c.members === null ? "" : fmtNum(c.members, 0), "num"));
      tr.appendChild(el("td", fmtTime(c.last_seen)));
      tr.appendChild(el("td", reasonText(c.reasons), "wrap"));
      return tr;
    }));
  }

  function renderIdentities(items) {
    setRows("identities", items.map((i) => {
      const tr = el("tr");
      const td = el("td", null, "id");
      td.appendChild(idLink(i.id, "identity"));
      tr.appendChild(td);
      tr.appendChild(el("td", fmtNum(i.risk, 2), "num"));
      const act = el("td");
      if (i.last_action) act.appendChild(pill(i.last_action));
      tr.appendChild(act);
      tr.appendChild(el("td", short(i.cluster || "", 18), "id"));
      tr.appendChild(el("td", fmtTime(i.last_seen)));
      tr.appendChild(el("td", reasonText(i.reasons), "wrap"));
      const ops = el("td");
      const deny = el("button", "deny", "small danger");
      deny.type = "button";
      deny.addEventListener("click", () => addToList("deny:identity", i.id, null));
      const watch = el("button", "watch", "small quiet");
      watch.type = "button";
      watch.addEventListener("click", () => addToList("watch:identity", i.id, null));
      ops.appendChild(deny);
      ops.appendChild(watch);
      tr.appendChild(ops);
      return tr;
    }));
  }

  function renderReasons(reasons) {
    const max = reasons.reduce((m, r) => Math.max(m, r.count), 1);
    setRows("reasons", reasons.map((r) => {
      const tr = el("tr");
      tr.appendChild(el("td", r.name));
      tr.appendChild(el("td", fmtNum(r.count, 0), "num"));
      const td = el("td", null, "bar-col");
      const bar = el("div", null, "bar");
      bar.style.width = Math.max(1, (100 * r.count) / max) + "%";
      td.appendChild(bar);
      tr.appendChild(td);
      return tr;
    }));
  }

  function renderRecent(items) {
    setRows("recent", items.slice(0, 12).map((d) => {
      const tr = el("tr");
      tr.appendChild(el("td", fmtTime(d.ts)));
      const act = el("td");
      act.appendChild(pill(d.action));
      if (!d.enforced) act.appendChild(el("span", " (not enforced)", "muted"));
      tr.appendChild(act);
      tr.appendChild(el("td", fmtNum(d.score, 2), "num"));
      const idc = el("td", null, "id");
      idc.appendChild(idLink(d.identity, "identity"));
      tr.appendChild(idc);
      tr.appendChild(el("td", d.reasons && d.reasons.length ? d.reasons[0].name : ""));
      return tr;
    }));
  }

  function kv(pairs) {
    const dl = el("dl", null, "kv");
    for (const [k, v] of pairs) {
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", v === null || v === undefined ? "—" : v));
    }
    return dl;
  }

  async function showDetail(kind, id) {
    detailId = { kind: kind, id: id };
    const panel = $("#detail");
    const body = $("#detail-body");
    panel.hidden = false;
    $("#detail-title").textContent = (kind === "cluster" ? "Cluster " : "Identity ") + id;
    body.textContent = "loading…";
    try {
      const path = (kind === "cluster" ? "api/clusters/" : "api/identities/") + encodeURIComponent(id);
      const d = await api(path);
      body.textContent = "";
      const st = d.state || {};
      const pairs = kind === "cluster"
        ? [["risk", fmtNum(st.risk, 2)], ["members", fmtNum(st.members, 0)],
           ["first seen", fmtTime(st.first_seen)], ["last seen", fmtTime(st.last_seen)],
           ["recent identities", (d.recent_identities || []).length]]
        : [["risk", fmtNum(st.risk, 3)], ["requests", fmtNum(st.requests, 0)],
           ["cluster", st.cluster], ["first seen", fmtTime(st.first_seen)],
           ["last seen", fmtTime(st.last_seen)], ["lists", (d.lists || []).join(", ") || "none"]];
      for (const b of d.budgets || []) {
        pairs.push(["budget " + b.name, fmtNum(b.remaining, 0) + " / " + fmtNum(b.limit, 0)]);
      }
      pairs.push(["reasons", reasonText(d.reasons) || "none"]);
      body.appendChild(kv(pairs));
    } catch (e) {
      if (e instanceof AuthError) return showAuth(e.message);
      body.textContent = "error: " + e.message;
    }
  }

  // -- lists ---------------------------------------------------------------------------
  async function loadList() {
    const name = $("#list-name").value;
    if (!name) return;
    const d = await api("api/lists/" + encodeURIComponent(name) + "?limit=200");
    setRows("list-members", d.members.map((m) => {
      const tr = el("tr");
      tr.appendChild(el("td", m, "id"));
      const td = el("td");
      const rm = el("button", "remove", "small quiet");
      rm.type = "button";
      rm.addEventListener("click", async () => {
        try {
          await api("api/lists/" + encodeURIComponent(name) + "?member=" + encodeURIComponent(m),
            { method: "DELETE" });
          await loadList();
        } catch (e) { $("#list-error").textContent = e.message; }
      });
      td.appendChild(rm);
      tr.appendChild(td);
      return tr;
    }));
  }

  async function addToList(name, member, ttl) {
    $("#list-error").textContent = "";
    try {
      await api("api/lists/" + encodeURIComponent(name), { method: "POST", body: { member: member, ttl: ttl } });
      $("#list-name").value = name;
      await loadList();
    } catch (e) {
      if (e instanceof AuthError) return showAuth(e.message);
      $("#list-error").textContent = e.message;
    }
  }

  // -- refresh loop -----------------------------------------------------------------------
  async function refresh() {
    clearTimeout(timer);
    try {
      const [summary, clusters, identities] = await Promise.all([
        api("api/summary"), api("api/clusters?limit=15"), api("api/identities?limit=15"),
      ]);
      hideAuth();
      $("#error").hidden = true;
      lastSummary = summary;
      renderMode(summary.mode);
      renderStore(summary.store);
      renderTotals(summary);
      renderLegend();
      drawChart(summary.timeline);
      renderClusters(clusters.clusters);
      renderIdentities(identities.identities);
      renderReasons(summary.top_reasons);
      renderRecent(summary.recent);
      await loadList();
      $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      if (e instanceof AuthError) {
        showAuth(token ? "Refused: " + e.message : "Unauthorized: enter the admin token to load data.");
        return; // stop polling until a token is entered
      }
      const banner = $("#error");
      banner.textContent = "Refresh failed: " + e.message;
      banner.hidden = false;
    }
    timer = setTimeout(tick, REFRESH_MS);
  }

  function tick() {
    if (document.hidden) { timer = setTimeout(tick, REFRESH_MS); return; }
    refresh();
  }

  function init() {
    const sel = $("#list-name");
    for (const n of ["allow:identity", "deny:identity", "watch:identity", "deny:template",
      "watch:template", "deny:client", "watch:client", "deny:ja4", "watch:ja4",
      "deny:network", "watch:network", "deny:asn", "watch:asn"]) {
      const o = el("option", n);
      o.value = n;
      sel.appendChild(o);
    }
    sel.value = "deny:identity";
    sel.addEventListener("change", () => loadList().catch((e) => { $("#list-error").textContent = e.message; }));
    $("#auth-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      token = $("#token").value.trim();
      $("#token").value = "";
      sessionStorage.setItem(TOKEN_KEY, token);
      $("#auth-error").textContent = "checking…";
      refresh();
    });
    $("#logout").addEventListener("click", () => {
      token = "";
      sessionStorage.removeItem(TOKEN_KEY);
      clearTimeout(timer);
      showAuth("Token forgotten.");
    });
    $("#mode-toggle").addEventListener("click", async () => {
      const next = mode === "enforce" ? "monitor" : "enforce";
      $("#mode-toggle").disabled = true;
      try {
        const d = await api("api/mode", { method: "PUT", body: { mode: next } });
        renderMode(d.mode);
      } catch (e) {
        if (e instanceof AuthError) return showAuth(e.message);
        $("#error").textContent = "Mode switch failed: " + e.message;
        $("#error").hidden = false;
        $("#mode-toggle").disabled = false;
      }
    });
    $("#list-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const ttlRaw = $("#list-ttl").value;
      addToList($("#list-name").value, $("#list-member").value.trim(), ttlRaw ? Number(ttlRaw) : null)
        .then(() => { if (!$("#list-error").textContent) $("#list-member").value = ""; });
    });
    $("#show-allow").addEventListener("change", () => { if (lastSummary) drawChart(lastSummary.timeline); });
    $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; detailId = null; });
    window.addEventListener("resize", () => { if (lastSummary) drawChart(lastSummary.timeline); });
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
