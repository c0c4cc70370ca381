// The detector page: send an image to /detect, draw what comes back, filter by confidence; poll /status.
"use strict";
(() => {
  const { el, fill, badge, facts, num, when, table, colourOf } = Loop;
  const $ = (id) => document.getElementById(id);
  const MAX_HEIGHT = 640;
  let image = null, result = null, categories = [], stream = null;

  function threshold() { return Number($("threshold").value); }

  // the image's classes, most confident first, as labels stacked in the top-left corner; returns their texts
  function drawClasses(ctx, classifications) {
    const texts = [];
    ctx.font = "600 14px system-ui, sans-serif";
    [...classifications].sort((a, b) => b.confidence - a.confidence).forEach((d, i) => {
      const text = `${d.category_name} ${(d.confidence * 100).toFixed(0)}%`;
      const top = 6 + i * 24;
      ctx.fillStyle = colourOf(d.category_name, categories);
      ctx.fillRect(6, top, ctx.measureText(text).width + 12, 20);
      ctx.fillStyle = "#fff"; ctx.fillText(text, 12, top + 15);
      texts.push(text);
    });
    return texts;
  }

  function draw() {
    if (!image) return;
    const canvas = $("canvas"), ctx = canvas.getContext("2d");
    $("stage").hidden = false;
    // fit the stage: small images are shown larger, big ones smaller, so that labels stay readable
    const scale = Math.min($("stage").clientWidth / image.width, MAX_HEIGHT / image.height);
    canvas.width = Math.round(image.width * scale);
    canvas.height = Math.round(image.height * scale);
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    $("threshold-value").textContent = `${Math.round(threshold() * 100)} %`;
    if (!result) return;
    const drawn = Loop.drawObjects(ctx, result, { scale, threshold: threshold(), categories });
    const classes = drawClasses(ctx, (result.classification_detections || []).filter((d) => d.confidence >= threshold()));
    canvas.dataset.drawn = drawn + classes.length;
    canvas.dataset.classes = classes.join("; ");
    const rows = [
      ...(result.box_detections || []).map((d) => ({ ...d, kind: "box", where: `${d.x}, ${d.y}  ${d.width}×${d.height}` })),
      ...(result.point_detections || []).map((d) => ({ ...d, kind: "point", where: `${num(d.x, 1)}, ${num(d.y, 1)}` })),
      ...(result.segmentation_detections || []).map((d) => ({ ...d, kind: "segmentation", where: "polygon" })),
      ...(result.classification_detections || []).map((d) => ({ ...d, kind: "classification", where: "whole image" })),
    ].filter((d) => d.confidence >= threshold()).sort((a, b) => b.confidence - a.confidence);
    const total = ["box", "point", "segmentation", "classification"]
      .reduce((n, k) => n + (result[`${k}_detections`] || []).length, 0);
    fill("summary", `${rows.length} of ${total} detections at or above ${Math.round(threshold() * 100)} % · model ${result.model_version || "?"}`,
      (result.tags || []).length ? ` · tags: ${result.tags.join(", ")}` : "");
    fill("detections", table([
      { label: "category", value: (d) => [el("span", { class: "swatch", style: `background:${colourOf(d.category_name, categories)}` }), d.category_name] },
      { label: "type", value: (d) => d.kind },
      { label: "confidence", num: true, value: (d) => `${(d.confidence * 100).toFixed(1)} %` },
      { label: "position (px)", value: (d) => el("span", { class: "mono" }, d.where) },
    ], rows, { empty: "no detections at this confidence", id: "detection-table" }));
  }

  async function detect(blob, name) {
    const form = new FormData();
    form.append("file", blob, name || "image.jpg");
    const headers = { autoupload: $("autoupload").checked ? "filtered" : "disabled" };
    $("summary").textContent = "detecting…";
    try {
      result = await Loop.request("POST", "/detect", form, headers);
      $("detect-error").textContent = "";
    } catch (e) {
      result = null;
      $("detect-error").textContent = e.message;
      fill("detections");
      $("summary").textContent = "";
    }
    draw();
    Loop.get("/status").then(showStatus, () => {});  // the request counts now include this one
  }

  async function open(file) {
    if (!file) return;
    stopCamera();
    try {
      image = await createImageBitmap(file);
    } catch (e) {
      image = null;
    }
    result = null;
    if (image) draw();
    await detect(file, file.name);  // the detector judges what it can decode; its message is shown if not
  }

  async function startCamera() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280 } });
    } catch (e) {
      $("detect-error").textContent = `camera not available: ${e.message}`;
      return;
    }
    const video = $("video");
    video.srcObject = stream;
    video.hidden = false; $("canvas").hidden = true; $("stage").hidden = false;
    await video.play();
    $("capture").hidden = false;
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("video").hidden = true; $("canvas").hidden = false; $("capture").hidden = true;
  }

  function capture() {
    const video = $("video"), shot = document.createElement("canvas");
    shot.width = video.videoWidth; shot.height = video.videoHeight;
    shot.getContext("2d").drawImage(video, 0, 0);
    stopCamera();
    shot.toBlob(async (blob) => { image = await createImageBitmap(blob); result = null; draw(); detect(blob, "camera.jpg"); },
      "image/jpeg", 0.92);
  }

  function showStatus(s) {
    const model = s.model;
    categories = model ? model.categories : [];
    $("project").textContent = model ? `· ${model.organization}/${model.project}` : "";
    fill("model", facts([
      ["serving", model ? el("b", {}, model.version) : badge("no model yet", "warn")],
      ["Loop target", s.loop_version],
      ["following", s.target_version],
      ["format", s.model_format],
      ["version control", badge(s.version_control, s.version_control === "follow_loop" ? "ok" : "warn")],
      ["operation mode", badge(s.operation_mode, "busy")],
      model && ["resolution", model.resolution],
      model && ["categories", el("div", {}, categories.map((c) => el("div", {},
        el("span", { class: "swatch", style: `background:${colourOf(c.name, categories)}` }), c.name,
        el("span", { class: "muted small" }, c.type ? ` (${c.type})` : ""))))],
      ...Object.entries(s.errors || {}).map(([k, v]) => [k, el("pre", { class: "error" }, v)]),
    ]));
    const o = s.outbox;
    fill("outbox", facts([
      ["upload", badge(o.mode)],
      ["waiting", `${o.depth} images (${(o.bytes / 2 ** 20).toFixed(1)} MiB)`],
      ["delivered", o.uploaded],
      ["failed requests", o.failed_requests],
      ["dropped / refused", `${o.dropped} / ${o.quarantined}`],
      ["last delivery", when(o.last_success)],
      o.last_error && ["last error", el("pre", { class: "error" }, o.last_error)],
    ]));
    const a = s.active_learning;
    const counts = (byName) => Object.entries(byName).map(([name, n]) => `${name}: ${n}`).join(", ") || "none yet";
    fill("active-learning", facts([
      ["picked, by rule", counts(a.picks)],
      ["held back by a rule's quota", counts(a.over_quota)],
      ["not sent, by reason", counts(a.skips)],
    ]));
    const routes = Object.entries(s.requests || {}).map(([route, r]) => ({ route, ...r }));
    const by = (r, prefix) => Object.entries(r.statuses).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
    const ms = (v) => (v === null || v === undefined ? "—" : `${(v * 1000).toFixed(1)}`);
    fill("requests", table([
      { label: "route", value: (r) => el("span", { class: "mono" }, r.route) },
      { label: "2xx", num: true, value: (r) => by(r, "2") },
      { label: "4xx", num: true, value: (r) => by(r, "4") },
      { label: "5xx", num: true, value: (r) => by(r, "5") },
      { label: "mean ms", num: true, value: (r) => ms(r.mean_seconds) },
      { label: "p95 ≤ ms", num: true, value: (r) => ms(r.p95_seconds) },
    ], routes, { empty: "no requests yet" }));
  }

  $("file").addEventListener("change", (e) => open(e.target.files[0]));
  $("threshold").addEventListener("input", draw);
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); open(e.dataTransfer.files[0]); });
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $("camera").hidden = false;
    $("camera").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
    $("capture").addEventListener("click", capture);
  }
  Loop.poll(async () => showStatus(await Loop.get("/status")), 3000);
})();
