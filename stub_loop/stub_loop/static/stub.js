// The stub Loop's page: projects, their images with annotations and detections, trainings, models, detectors.
"use strict";
(() => {
  const { el, fill, badge, facts, figure, num, pct, when, table, chart, colourOf, progress } = Loop;
  const $ = (id) => document.getElementById(id);
  const PAGE = 24;
  let current = null, detail = null, selectedTraining = null, offset = 0;
  const api = (path) => `/api/${current.organization}/projects/${current.project}${path}`;
  const ui = (path) => `/ui/${current.organization}/${current.project}${path || ""}`;

  function choose(org, project) {
    current = { organization: org, project };
    location.hash = `${org}/${project}`;
    selectedTraining = null;
    refresh().then(() => loadImages(true));
  }

  function showProjects(projects) {
    if (!current && projects.length) {
      const [org, project] = decodeURIComponent(location.hash.slice(1)).split("/");
      const found = projects.find((p) => p.organization === org && p.project === project) || projects[0];
      choose(found.organization, found.project);
    }
    fill("projects", table([
      { label: "project", value: (p) => el("div", {}, el("b", {}, p.project), el("div", { class: "small muted" }, p.organization)) },
      { label: "images", num: true, value: (p) => Object.entries(p.images).filter(([k]) => k !== "with_detections").reduce((n, [, v]) => n + v, 0) },
      { label: "models", num: true, value: (p) => p.models },
    ], projects, { id: "project-table", empty: "no projects: generate one",
      selected: current ? projects.findIndex((p) => p.project === current.project && p.organization === current.organization) : null,
      onclick: (p) => choose(p.organization, p.project) }));
  }

  // An image's classes as labels stacked in the top-left corner: the annotation (white, dashed) above the
  // detections (in their category colour, with confidence). Returns the texts drawn.
  function drawClasses(ctx, annotation, detections) {
    const labels = [];
    if (annotation && annotation.category_name) labels.push({ text: annotation.category_name, annotation: true });
    for (const d of [...(detections || [])].sort((a, b) => b.confidence - a.confidence)) {
      labels.push({ text: `${d.category_name} ${(d.confidence * 100).toFixed(0)}%`, colour: colourOf(d.category_name, detail.categories) });
    }
    ctx.font = "600 13px system-ui, sans-serif";
    labels.forEach((l, i) => {
      const top = 4 + i * 22, width = ctx.measureText(l.text).width + 10;
      ctx.fillStyle = l.annotation ? "rgba(0, 0, 0, 0.6)" : l.colour;
      ctx.fillRect(4, top, width, 18);
      if (l.annotation) {
        ctx.setLineDash([4, 3]); ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1.5;
        ctx.strokeRect(4, top, width, 18); ctx.setLineDash([]);
      }
      ctx.fillStyle = "#fff"; ctx.fillText(l.text, 9, top + 14);
    });
    return labels.map((l) => l.text);
  }

  function thumb(image) {
    const canvas = el("canvas", { width: 320, height: 240 });
    const picture = new Image();
    picture.onload = () => {
      canvas.width = picture.naturalWidth; canvas.height = picture.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(picture, 0, 0);
      canvas.dataset.annotated = Loop.drawObjects(ctx, { box_annotations: image.box_annotations, point_annotations: image.point_annotations,
        segmentation_annotations: image.segmentation_annotations }, { dashed: true, labels: false, outline: "#ffffff" });
      canvas.dataset.drawn = Loop.drawObjects(ctx, { box_detections: image.box_detections, point_detections: image.point_detections,
        segmentation_detections: image.segmentation_detections }, { categories: detail.categories });
      canvas.dataset.classes = drawClasses(ctx, image.classification_annotation, image.classification_detections).join("; ");
    };
    picture.src = ui(`/images/${image.id}.jpg`);
    const annotated = (image.box_annotations || []).length + (image.point_annotations || []).length +
      (image.segmentation_annotations || []).length + (image.classification_annotation ? 1 : 0);
    const detected = ["box", "point", "segmentation", "classification"]
      .reduce((n, kind) => n + (image[`${kind}_detections`] || []).length, 0);
    return el("div", { class: "thumb", "data-image-id": image.id }, canvas,
      el("div", { class: "caption" }, el("span", {}, image.state, image.set ? ` · ${image.set}` : ""),
        el("span", { title: "annotated objects · detections" }, `${annotated} ann. · ${detected} det.`)));
  }

  let generation = 0;  // a newer listing (other project or state) makes the answers of older ones stale
  async function loadImages(reset) {
    if (!current) return;
    if (reset) { offset = 0; generation++; fill("images"); }
    const mine = generation, state = $("state").value;
    const page = await Loop.get(ui(`/images?offset=${offset}&limit=${PAGE}${state ? `&state=${state}` : ""}`));
    if (!detail || mine !== generation) return;
    $("images").append(...page.images.map(thumb));
    offset += page.images.length;
    $("image-count").textContent = `${offset} of ${page.total} images`;
    $("more").hidden = offset >= page.total;
    if (!page.total) fill("images", el("div", { class: "empty" }, "no images in this state"));
  }

  function showHeader() {
    fill("title", `${detail.organization} / ${detail.project}`);
    fill("deployed", detail.deployed ? badge(`deployed: ${detail.deployed}`, "ok") : badge("nothing deployed", "warn"));
    fill("categories", detail.categories.map((c) => el("span", { class: "badge" },
      el("span", { class: "swatch", style: `background:${colourOf(c.name, detail.categories)}` }), `${c.name} (${c.type})`)));
    const counts = detail.images;
    fill("counts", ["complete", "inbox", "annotate", "review"].map((s) => figure(s, counts[s] || 0)),
      figure("with detections", counts.with_detections || 0), figure("models", detail.models.length),
      figure("trainings", detail.trainings.length));
  }

  const compact = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3))
    : v && typeof v === "object" ? Object.entries(v).map(([k, x]) => `${k} ${compact(x)}`).join(", ") : String(v));
  const versionOf = (modelId) => (detail.models.find((m) => m.id === modelId) || {}).version;
  const bestFigure = (m) => Object.values(m.figures).map((f) => f.map50 ?? (f.metrics || {}).map50).find((v) => v !== undefined);

  function showModels() {
    fill("models", table([
      { label: "version", value: (m) => el("b", {}, m.version) },
      { label: "formats", value: (m) => m.formats.map((f) => badge(f, "busy")) },
      { label: "mAP@0.5", num: true, value: (m) => num(bestFigure(m)) },
      { label: "conversion", value: (m) => Object.entries(m.figures).filter(([, f]) => f.conversion).map(([fmt, f]) =>
        el("div", { class: "small" }, el("b", {}, `${fmt}: `), compact(f.conversion))) },
      { label: "from", value: (m) => m.comment },
      { label: "created", value: (m) => when(m.created) },
      { label: "", value: (m) => (m.version === detail.deployed ? badge("deployed", "ok")
        : el("button", { onclick: () => deploy(m.version) }, "Deploy")) },
    ], [...detail.models].reverse(), { id: "model-table", empty: "no models yet" }));
    const select = $("base-model"), chosen = select.value;
    fill(select, el("option", { value: "" }, "none (from scratch)"),
      [...detail.models].reverse().map((m) => el("option", { value: m.id, selected: m.id === chosen }, m.version)));
  }

  function showDetectors() {
    fill("detectors", table([
      { label: "detector", value: (d) => d.name },
      { label: "serving", value: (d) => d.current_model }, { label: "target", value: (d) => d.target_model },
      { label: "mode", value: (d) => d.operation_mode }, { label: "last seen", value: (d) => when(d.last_seen) },
      { label: "errors", value: (d) => Object.values(d.errors || {}).map((e) => el("pre", { class: "error" }, e)) },
    ], detail.detectors, { empty: "no detector has reported yet" }));
  }

  function showTrainings() {
    const trainings = [...detail.trainings].reverse();
    const index = trainings.findIndex((t) => t.number === selectedTraining);
    fill("trainings", table([
      { label: "#", value: (t) => t.number },
      { label: "state", value: (t) => badge(t.state) },
      { label: "progress", value: (t) => (t.progress !== null && t.progress !== undefined ? progress(t.progress) : "") },
      { label: "started", value: (t) => when(t.created) },
      { label: "model", value: (t) => versionOf(t.model_id) || "—" },
      { label: "epochs", num: true, value: (t) => (t.details.hyperparameters || {}).epochs ?? "—" },
    ], trainings, { id: "training-table", empty: "no trainings yet", selected: index >= 0 ? index : null,
      onclick: (t) => { selectedTraining = t.number; showTrainings(); } }));
    showTraining(trainings[index >= 0 ? index : 0]);
  }

  function showTraining(t) {
    if (!t) { fill("training"); return; }
    const timeline = t.timeline || [];
    const start = timeline.length ? timeline[0].t : 0;
    const spans = [];
    for (const point of timeline) {
      if (!spans.length || spans.at(-1).state !== point.state) spans.push({ state: point.state, from: point.t, to: point.t });
      else spans.at(-1).to = point.t;
    }
    const totals = (cm) => Object.values(cm || {}).reduce((a, m) => ({ tp: a.tp + m.tp, fp: a.fp + m.fp, fn: a.fn + m.fn }), { tp: 0, fp: 0, fn: 0 });
    const history = (t.metrics_history || []).filter((m) => m.best_epoch !== null && m.best_epoch !== undefined);
    const ratio = (a, b) => (a + b ? a / (a + b) : 0);
    const active = !["done", "failed", "aborted"].includes(t.state);
    const latest = t.metrics && t.metrics.confusion_matrix;
    const name = (id) => (detail.categories.find((c) => c.id === id) || { name: id }).name;
    const box = fill("training", el("h3", {}, `training ${t.number}: states`),
      el("div", { class: "row" }, spans.map((s) => el("span", { class: "badge busy", title: `${Math.round(s.to - s.from)} s` },
        `${s.state.replaceAll("_", " ")} ${Math.round(s.to - s.from)} s`)), t.error ? el("pre", { class: "error" }, t.error) : null,
      Object.values(t.errors || {}).map((e) => el("pre", { class: "error" }, e))),
      active && el("div", { class: "row", style: "margin-top:8px" },
        el("button", { onclick: () => control(t.number, "stop") }, "Stop (keep the best model)"),
        el("button", { onclick: () => control(t.number, "abort") }, "Abort")),
      el("h3", {}, "progress of each step, over time"), el("div", { id: "progress-chart", class: "chart" }),
      el("h3", {}, "the best model so far (precision and recall over all categories), by epoch"),
      el("div", { id: "metrics-chart", class: "chart" }),
      latest && el("h3", {}, `confusion of the best model (epoch ${t.metrics.best_epoch ?? "?"})`),
      latest && table([{ label: "category", value: (r) => name(r[0]) }, { label: "tp", num: true, value: (r) => r[1].tp },
        { label: "fp", num: true, value: (r) => r[1].fp }, { label: "fn", num: true, value: (r) => r[1].fn },
        { label: "precision", num: true, value: (r) => pct(ratio(r[1].tp, r[1].fp)) },
        { label: "recall", num: true, value: (r) => pct(ratio(r[1].tp, r[1].fn)) }], Object.entries(latest)));
    chart(box.querySelector("#progress-chart"), [{ name: "progress", colour: "#3559e0",
      points: timeline.filter((p) => p.progress !== null && p.progress !== undefined).map((p) => [Math.round(p.t - start), p.progress]) }],
    { xLabel: "seconds", yMax: 1, height: 180, empty: "no progress reported" });
    chart(box.querySelector("#metrics-chart"), ["precision", "recall"].map((key, i) => ({ name: key, colour: ["#1b8a4b", "#e6194b"][i],
      points: history.map((m) => { const s = totals(m.confusion_matrix); return [m.best_epoch, key === "precision" ? ratio(s.tp, s.fp) : ratio(s.tp, s.fn)]; }) })),
    { xLabel: "epoch", yMax: 1, height: 180, empty: "no metrics yet" });
  }

  async function act(target, action) {
    try { fill(target, await action()); } catch (e) { fill(target, el("span", { class: "error" }, e.message)); }
  }
  async function deploy(version) {
    await act("notice", async () => { await Loop.request("PUT", api("/deployment/target"), { version }); return ""; });
    refresh();
  }
  async function control(number, action) {
    await act("notice", async () => { await Loop.request("POST", api(`/trainings/${number}/${action}`)); return ""; });
    refresh();
  }
  $("start").addEventListener("click", () => act("start-result", async () => {
    const body = { hyperparameters: { epochs: Number($("epochs").value) } };
    if ($("base-model").value) body.base_model_uuid = $("base-model").value;
    const training = await Loop.request("POST", api("/trainings"), body);
    selectedTraining = training.number;
    refresh();
    return `training ${training.number} started`;
  }));
  $("generate").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = Object.fromEntries(new FormData(e.target));
    const org = form.org;
    delete form.org;
    for (const key of Object.keys(form)) if (!["project_name", "difficulty"].includes(key)) form[key] = Number(form[key]);
    act("generate-result", async () => {
      const made = await Loop.request("POST", `/api/${encodeURIComponent(org)}/projects/generator`, form);
      choose(made.organization, made.project);
      return `generated ${made.organization}/${made.project}: ${JSON.stringify(made.image_counts)}`;
    });
  });
  $("state").addEventListener("change", () => loadImages(true));
  $("more").addEventListener("click", () => loadImages(false));
  for (const button of $("tabs").querySelectorAll("button")) {
    button.addEventListener("click", () => {
      for (const b of $("tabs").querySelectorAll("button")) b.classList.toggle("active", b === button);
      for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== button.dataset.tab;
    });
  }

  async function refresh() {
    showProjects((await Loop.get("/ui/projects")).projects);
    if (!current) return;
    detail = await Loop.get(ui());
    showHeader(); showModels(); showTrainings(); showDetectors();
  }
  Loop.poll(refresh, 3000);
})();
