// Shared helpers of the nodes' pages: JSON requests, DOM building, SVG line charts, drawing detections.
// Plain browser JavaScript, no build step and nothing loaded from elsewhere. Text from the server is only ever
// set as text (textContent), never as HTML.
"use strict";

const Loop = (() => {
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
    "#469990", "#808000", "#000075", "#e6beff"];

  async function request(method, path, body, headers) {
    const init = { method, headers: { ...(headers || {}) } };
    if (body instanceof FormData || body instanceof Blob) init.body = body;
    else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["content-type"] = "application/json"; }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = text;
    try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON: keep the text */ }
    if (!response.ok) {
      const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : text;
      throw new Error(`${method} ${path}: HTTP ${response.status} ${detail || ""}`.trim());
    }
    return data;
  }

  // el("td", {class: "num"}, "12", otherNode): an element with attributes (on* are listeners) and children
  function el(tag, attrs, ...children) {
    const ns = ["svg", "line", "polyline", "circle", "text", "g", "rect", "title", "path"].includes(tag)
      ? "http://www.w3.org/2000/svg" : null;
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(id, ...children) {
    const node = typeof id === "string" ? document.getElementById(id) : id;
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  function table(columns, rows, options) {
    const opts = options || {};
    if (!rows.length) return el("div", { class: "empty" }, opts.empty || "nothing yet");
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null }, c.label)));
    const body = rows.map((row, i) => el("tr", {
      class: [opts.onclick ? "clickable" : "", opts.selected === i ? "selected" : ""].join(" ").trim() || null,
      onclick: opts.onclick ? () => opts.onclick(row, i) : null,
    }, columns.map((c) => el("td", { class: c.num ? "num" : null }, c.value(row)))));
    return el("table", opts.id ? { id: opts.id } : {}, el("thead", {}, head), el("tbody", {}, body));
  }

  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.filter((p) => p).flatMap(([k, v]) => [el("dt", {}, k),
      el("dd", {}, v === null || v === undefined || v === "" ? "—" : v)]));
  }

  function figure(label, value, id) {
    return el("div", { class: "figure" }, el("div", { class: "value", id: id || null }, value), el("div", { class: "label" }, label));
  }

  const STATE_KIND = { ok: ["ready", "idle", "done", "converted", "continuous_upload", "online", "alive", "connected"],
    bad: ["failed", "not ready", "aborted", "error", "disconnected"], warn: ["degraded", "stopped", "pause", "waiting"] };
  function badge(text, kind) {
    const t = String(text);
    const k = kind || Object.keys(STATE_KIND).find((key) => STATE_KIND[key].includes(t)) || "busy";
    return el("span", { class: `badge ${k}` }, t.replaceAll("_", " "));
  }

  function progress(fraction) {
    const pct = Math.max(0, Math.min(1, fraction || 0)) * 100;
    return el("div", { class: "progress", title: `${pct.toFixed(0)} %` }, el("div", { style: `width:${pct}%` }));
  }

  const num = (v, digits) => (v === null || v === undefined || Number.isNaN(v) ? "—" : Number(v).toFixed(digits ?? 3));
  const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(0)} %`);
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  }
  function when(value) {  // epoch seconds or ISO text -> "3 min ago (14:02:11)"
    if (value === null || value === undefined) return "—";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    const delta = (Date.now() - date.getTime()) / 1000;
    const clock = date.toLocaleTimeString([], { hour12: false });
    if (Math.abs(delta) < 5) return `now (${clock})`;
    return delta > 0 ? `${duration(delta)} ago (${clock})` : `in ${duration(-delta)} (${clock})`;
  }

  function colourOf(name, categories) {
    const found = (categories || []).find((c) => c.name === name);
    if (found && found.color) return found.color;
    let hash = 0;
    for (const ch of String(name)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }

  function niceStep(range, count) {
    const raw = range / count, magnitude = 10 ** Math.floor(Math.log10(raw)), n = raw / magnitude;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * magnitude;
  }

  // SVG line chart: series = [{name, colour, points: [[x, y], ...]}]; each point is a <circle class="point">
  function chart(container, series, options) {
    const o = { width: 720, height: 220, yMin: 0, ...(options || {}) };
    const pad = { l: 44, r: 12, t: 10, b: 30 };
    const all = series.flatMap((s) => s.points);
    const node = typeof container === "string" ? document.getElementById(container) : container;
    if (!all.length) { fill(node, el("div", { class: "empty" }, o.empty || "no figures yet")); return; }
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    const y0 = Math.min(o.yMin, ...ys);
    const step = niceStep((o.yMax ?? Math.max(...ys, y0 + 1e-9)) - y0 || 1, 4);
    const y1 = o.yMax ?? Math.ceil(Math.max(...ys) / step) * step;
    const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * (o.width - pad.l - pad.r);
    const Y = (y) => o.height - pad.b - ((y - y0) / (y1 - y0 || 1)) * (o.height - pad.t - pad.b);
    const svg = el("svg", { viewBox: `0 0 ${o.width} ${o.height}`, role: "img", "aria-label": o.label || "chart" });
    const decimals = Math.max(0, -Math.floor(Math.log10(step)));
    for (let y = y0; y <= y1 + step / 1e6; y += step) {
      svg.append(el("line", { class: "gridline", x1: pad.l, x2: o.width - pad.r, y1: Y(y), y2: Y(y) }),
        el("text", { x: pad.l - 6, y: Y(y) + 4, "text-anchor": "end" }, y.toFixed(decimals)));
    }
    const xStep = Math.max(1, niceStep(x1 - x0, 8));
    for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
      svg.append(el("text", { x: X(x), y: o.height - pad.b + 16, "text-anchor": "middle" }, x));
    }
    svg.append(el("line", { class: "axis", x1: pad.l, x2: o.width - pad.r, y1: Y(y0), y2: Y(y0) }));
    svg.append(el("text", { x: o.width - pad.r, y: o.height - 2, "text-anchor": "end" }, o.xLabel || ""));
    for (const s of series) {
      if (!s.points.length) continue;
      svg.append(el("polyline", { class: "line", stroke: s.colour, points: s.points.map((p) => `${X(p[0])},${Y(p[1])}`).join(" ") }));
      for (const [x, y] of s.points) {
        svg.append(el("circle", { class: "point", "data-series": s.name, "data-x": x, "data-y": y, cx: X(x), cy: Y(y),
          r: 3.2, fill: s.colour }, el("title", {}, `${s.name} at ${o.xLabel || "x"} ${x}: ${num(y)}`)));
      }
    }
    const legend = el("div", { class: "legend" }, series.filter((s) => s.points.length).map((s) =>
      el("span", {}, el("i", { style: `background:${s.colour}` }), s.name)));
    fill(node, svg, legend);
  }

  // Draws detections (or annotations) of the Loop's image-metadata shape onto a 2D context already showing
  // the image at `scale`. Returns how many objects were drawn.
  function drawObjects(ctx, metadata, options) {
    // options: scale, threshold (confidence), categories (for colours), dashed, labels, outline (one colour for all)
    const o = { scale: 1, threshold: 0, categories: [], dashed: false, labels: true, outline: null, ...(options || {}) };
    const s = o.scale;
    let drawn = 0;
    const visible = (d) => d.confidence === undefined || d.confidence === null || d.confidence >= o.threshold;
    const colourFor = (d) => o.outline || colourOf(d.category_name, o.categories);
    const label = (d, x, y, colour) => {
      if (!o.labels) return;
      const text = d.confidence !== undefined && d.confidence !== null
        ? `${d.category_name} ${(d.confidence * 100).toFixed(0)}%` : d.category_name;
      ctx.font = "600 12px system-ui, sans-serif";
      const w = ctx.measureText(text).width + 8;
      const top = y - 17 < 0 ? y + 1 : y - 17;
      const left = Math.max(0, Math.min(x, ctx.canvas.width - w));  // inside the picture
      ctx.fillStyle = colour; ctx.fillRect(left, top, w, 17);
      ctx.fillStyle = "#fff"; ctx.fillText(text, left + 4, top + 13);
    };
    ctx.lineWidth = 2.5;
    ctx.setLineDash(o.dashed ? [6, 4] : []);
    for (const d of (metadata.box_detections || metadata.box_annotations || []).filter(visible)) {
      const colour = colourFor(d);
      ctx.strokeStyle = colour;
      ctx.strokeRect(d.x * s, d.y * s, d.width * s, d.height * s);
      label(d, d.x * s, d.y * s, colour); drawn++;
    }
    for (const d of (metadata.point_detections || metadata.point_annotations || []).filter(visible)) {
      const colour = colourFor(d);
      ctx.beginPath(); ctx.arc(d.x * s, d.y * s, 6, 0, 2 * Math.PI);
      ctx.fillStyle = colour; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.stroke(); ctx.lineWidth = 2.5;
      label(d, d.x * s + 8, d.y * s - 4, colour); drawn++;
    }
    for (const d of (metadata.segmentation_detections || metadata.segmentation_annotations || []).filter(visible)) {
      const points = d.shape && d.shape.points ? d.shape.points : [];
      if (!points.length) continue;
      const colour = colourFor(d);
      ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo(p.x * s, p.y * s) : ctx.moveTo(p.x * s, p.y * s)));
      ctx.closePath(); ctx.globalAlpha = 0.3; ctx.fillStyle = colour; ctx.fill(); ctx.globalAlpha = 1;
      ctx.strokeStyle = colour; ctx.stroke();
      label(d, points[0].x * s, points[0].y * s, colour); drawn++;
    }
    ctx.setLineDash([]);
    return drawn;
  }

  // Runs `fn` now and then every `ms`; errors show in the element #notice and clear on the next success.
  function poll(fn, ms) {
    const notice = document.getElementById("notice");
    const tick = async () => {
      try { await fn(); if (notice) notice.textContent = ""; } catch (e) { if (notice) notice.textContent = e.message; }
      setTimeout(tick, ms);
    };
    tick();
  }

  return { request, get: (path) => request("GET", path), el, fill, table, facts, figure, badge, progress, num, pct,
    duration, when, colourOf, chart, drawObjects, poll, PALETTE };
})();
