// The trainer page: the current training (state, progress, curves, best model) and the last finished ones.
"use strict";
(() => {
  const { el, fill, badge, facts, figure, num, pct, duration, when, table, chart, colourOf, progress } = Loop;
  const $ = (id) => document.getElementById(id);
  const LOSS_COLOURS = ["#e6194b", "#f58231", "#911eb4", "#9a6324"];
  const MAP_COLOURS = ["#3559e0", "#1b8a4b", "#42a5b3", "#808000"];
  let selected = null;  // id of a finished training the user clicked, or null: the current (else the last) one
  let data = { current: null, finished: [], totals: {} };

  function numbers(entry) {
    return Object.entries(entry || {}).filter(([k, v]) => typeof v === "number" && !["time", "progress", "epoch"].includes(k));
  }

  // a figure by its name without the split: the validation set's first, then unsplit, test and train
  function figureOf(figures, name) {
    const f = figures || {};
    return f[`val_${name}`] ?? f[name] ?? f[`test_${name}`] ?? f[`train_${name}`] ?? null;
  }

  // what a training's figures measure: masks (`*_mask_map50`), classes (`*_accuracy`) or boxes
  function kindOf(figures) {
    const keys = Object.keys(figures || {});
    if (keys.some((k) => k === "mask_map50" || k.endsWith("_mask_map50"))) return "segmentation";
    if (keys.some((k) => k === "accuracy" || k.endsWith("_accuracy"))) return "classification";
    return "detection";
  }

  // the figures that say how good a model is, for its kind: [label, value]
  function headline(figures) {
    const kind = kindOf(figures);
    if (kind === "segmentation") {
      return [["mask mAP@0.5", figureOf(figures, "mask_map50")], ["mask mAP@0.5:0.95", figureOf(figures, "mask_map50_95")],
        ["box mAP@0.5", figureOf(figures, "map50")]];
    }
    if (kind === "classification") return [["accuracy", figureOf(figures, "accuracy")], ["macro-F1", figureOf(figures, "macro_f1")]];
    return [["box mAP@0.5", figureOf(figures, "map50")], ["box mAP@0.5:0.95", figureOf(figures, "map50_95")]];
  }

  function summary(figures) {
    if (!figures) return "—";
    const kind = kindOf(figures), shown = headline(figures).slice(0, kind === "classification" ? 2 : 1);
    return el("span", { class: "quality", "data-kind": kind },
      shown.map(([label, value]) => `${label} ${num(value)}`).join(" · "));
  }

  // class_confusion: {labels: [names], matrix: [[count of true row i predicted as column j]]}
  function classConfusion(confusion, categories) {
    const labels = (confusion && confusion.labels) || [];
    if (!labels.length) return null;
    const rows = labels.map((name, i) => ({ name, counts: (confusion.matrix || [])[i] || [] }));
    return [el("h3", {}, "confusion between classes (rows: true class, columns: predicted)"), table([
      { label: "true ↓ predicted →", value: (r) => [el("span", { class: "swatch", style: `background:${colourOf(r.name, categories)}` }), r.name] },
      ...labels.map((name, j) => ({ label: name, num: true,
        value: (r) => el("span", { class: r.name === name ? "diagonal" : null, style: r.name === name ? "font-weight:700" : null }, r.counts[j] ?? 0) })),
    ], rows, { id: "class-confusion" })];
  }

  function series(history, match, colours) {
    const names = [...new Set(history.flatMap((h) => numbers(h).map(([k]) => k)).filter(match))];
    return names.map((name, i) => ({
      name, colour: colours[i % colours.length],
      points: history.filter((h) => typeof h[name] === "number" && typeof h.epoch === "number").map((h) => [h.epoch, h[name]]),
    }));
  }

  function showCurves(training, label) {
    fill("curves-title", label);
    $("back").hidden = selected === null;
    const history = (training && training.history) || [];
    chart("loss-chart", series(history, (k) => k.includes("loss"), LOSS_COLOURS),
      { xLabel: "epoch", label: "loss per epoch", empty: "no epoch reported yet" });
    chart("map-chart", series(history, (k) => k.includes("map") || k.includes("accuracy") || k.includes("f1"), MAP_COLOURS),
      { xLabel: "epoch", yMax: 1, label: "mAP, accuracy and F1 per epoch", empty: "no evaluation reported yet" });
  }

  function showBest(training) {
    const best = training && training.best_metrics;
    if (!best) { fill("best", el("div", { class: "muted" }, "no evaluation yet")); return; }
    const categories = training.categories || [];
    const name = (id) => (categories.find((c) => c.id === id) || { name: id }).name;
    const rows = Object.entries(best.confusion_matrix || {}).map(([id, m]) => ({ id, name: name(id), ...m }));
    const ratio = (a, b) => (a + b ? a / (a + b) : null);
    const kind = kindOf(best);
    let known = headline(best).filter(([, v]) => v !== null);
    if (!known.length) known = numbers(best).slice(0, 5).map(([k, v]) => [k.replaceAll("_", " "), v]);  // a plugin's own names
    fill("best",
      el("div", { class: "figures", id: "best-figures", "data-kind": kind }, figure("epoch", best.epoch ?? "—"),
        ...known.map(([label, v]) => figure(label, num(v)))),
      classConfusion(best.class_confusion, categories),
      el("h3", {}, kind === "classification" ? "per category" : "confusion per category"),
      table([
        { label: "category", value: (r) => [el("span", { class: "swatch", style: `background:${colourOf(r.name, categories)}` }), r.name] },
        { label: "tp", num: true, value: (r) => r.tp }, { label: "fp", num: true, value: (r) => r.fp },
        { label: "fn", num: true, value: (r) => r.fn },
        { label: "precision", num: true, value: (r) => pct(ratio(r.tp, r.fp)) },
        { label: "recall", num: true, value: (r) => pct(ratio(r.tp, r.fn)) },
      ], rows, { id: "confusion" }));
  }

  function showNow(status, current) {
    fill("state", badge(status.state || "?"), " ", badge(status.connected ? "connected" : "disconnected"));
    $("name").textContent = status.name && status.name !== "trainer" ? `· ${status.name}` : "";
    if (!current) {
      fill("now", el("div", { class: "muted" }, "Idle: waiting for the Loop to send a training. ",
        `Architecture ${status.architecture || "?"}.`));
      return;
    }
    fill("now", el("div", { class: "stack" },
      el("div", {}, el("b", {}, `Training ${current.training_number}`), ` of ${current.organization}/${current.project}`,
        current.model_variant ? ` · ${current.model_variant}` : ""),
      el("div", {}, el("div", { class: "row small muted" }, `${current.state.replaceAll("_", " ")}`,
        el("span", { class: "spacer" }), current.progress !== null ? pct(current.progress) : ""), progress(current.progress)),
      facts([
        ["started", when(current.start_time)],
        ["running for", duration(Date.now() / 1000 - current.start_time)],
        ["images", `${current.train_image_count} train, ${current.test_image_count} test`],
        (current.dropped_corrupt || current.missing_images) && ["left out", `${current.dropped_corrupt} corrupt, ${current.missing_images} missing`],
        ["last epoch", (current.history.at(-1) || {}).epoch ?? "—"],
        current.crashes && ["crashes", current.crashes],
        current.stop_requested && ["stop", "requested: finishing with the best model so far"],
        ...Object.entries(current.errors || {}).map(([k, v]) => [k, el("pre", { class: "error" }, v)]),
      ])));
  }

  function showTotals(t) {
    fill("totals", el("div", { class: "figures" }, figure("done", t.done ?? 0), figure("failed", t.failed ?? 0),
      figure("aborted", t.aborted ?? 0), figure("training time", duration(t.seconds || 0)),
      figure("crashes", t.crashes ?? 0), figure("images", t.images ?? 0)));
  }

  function showFinished(finished) {
    const index = finished.findIndex((t) => t.id === selected);
    fill("finished", table([
      { label: "#", value: (t) => t.training_number },
      { label: "project", value: (t) => `${t.organization}/${t.project}` },
      { label: "result", value: (t) => badge(t.result) },
      { label: "finished", value: (t) => when(t.finished) },
      { label: "took", num: true, value: (t) => duration(t.seconds) },
      { label: "epochs", num: true, value: (t) => (t.history.at(-1) || {}).epoch ?? "—" },
      { label: "best model", value: (t) => summary(t.best_metrics) },
      { label: "images", num: true, value: (t) => t.image_count },
      { label: "crashes", num: true, value: (t) => t.crashes },
      { label: "reason", value: (t) => (t.failed ? el("span", { class: "small" }, t.failed) : "") },
    ], finished, { empty: "no finished training yet", id: "finished-table", selected: index >= 0 ? index : null,
      onclick: (t) => { selected = t.id; render(); } }));
  }

  function render(status) {
    if (status) showNow(status, data.current);
    const chosen = data.finished.find((t) => t.id === selected);
    const view = chosen || data.current || data.finished[0] || null;
    const label = chosen ? `Training ${chosen.training_number} (${chosen.result})`
      : data.current ? `Training ${data.current.training_number} (now)`
        : view ? `Training ${view.training_number} (last, ${view.result})` : "Curves";
    showCurves(view, label);
    showBest(view);
    showTotals(data.totals);
    showFinished(data.finished);
  }

  $("back").addEventListener("click", () => { selected = null; render(); });
  Loop.poll(async () => {
    const [status, trainings] = await Promise.all([Loop.get("/status"), Loop.get("/trainings")]);
    data = trainings;
    render(status);
  }, 2000);
})();
