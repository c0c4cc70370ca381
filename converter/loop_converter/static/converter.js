// The converter page: what it scans, what it converted, what failed (why, and when it tries again).
"use strict";
(() => {
  const { el, fill, badge, facts, figure, when, table } = Loop;
  const KNOWN = ["organization", "project", "model_id", "target", "status", "version", "at", "reason", "attempts",
    "next_attempt"];

  // figures a record holds beyond the known fields (e.g. the accuracy of a conversion), shown as they are
  function details(record) {
    const extra = Object.entries(record).filter(([k]) => !KNOWN.includes(k));
    if (!extra.length) return el("span", { class: "muted" }, "—");
    const show = (v) => (typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(4))
      : typeof v === "object" && v !== null ? Object.entries(v).map(([k, x]) => `${k} ${show(x)}`).join(", ") : String(v));
    return el("div", { class: "small" }, extra.map(([k, v]) => el("div", {}, el("span", { class: "muted" }, `${k}: `), show(v))));
  }

  const model = (r) => el("span", {}, `${r.organization}/${r.project} `, el("b", {}, r.version || "?"),
    el("div", { class: "mono muted small" }, r.model_id));

  function render(status, conversions) {
    fill("formats", `· ${status.source_format} → ${status.target_format}`);
    fill("state", badge(status.last_error ? "error" : status.last_scan ? "ready" : "waiting"));
    fill("scan", facts([
      ["converts", `${status.source_format} → ${status.target_format}`],
      ["last scan", when(status.last_scan)],
      ["replica", `${status.replica.index + 1} of ${status.replica.replicas}`],
      status.last_error && ["last error", el("pre", { class: "error" }, status.last_error)],
    ]));
    const items = conversions.conversions;
    const converted = items.filter((c) => c.status === "converted");
    fill("totals", el("div", { class: "figures" }, figure("converted since start", status.converted),
      figure("skipped: another was faster", status.skipped), figure("models in target format", converted.length),
      figure("failed, to retry", Object.keys(status.failures).length)));
    const failures = Object.entries(status.failures).map(([key, f]) => {
      const [organization, project, model_id, target] = key.split("/");
      return { organization, project, model_id, target, ...f };
    });
    fill("failures", table([
      { label: "model", value: model },
      { label: "to", value: (f) => f.target },
      { label: "reason", value: (f) => el("pre", { class: "error" }, f.reason) },
      { label: "attempts", num: true, value: (f) => f.attempts },
      { label: "next attempt", value: (f) => when(f.next_attempt) },
    ], failures, { empty: "no failures", id: "failure-table" }));
    fill("conversions", table([
      { label: "model", value: model },
      { label: "to", value: (c) => c.target },
      { label: "status", value: (c) => badge(c.status) },
      { label: "when", value: (c) => when(c.at || c.next_attempt) },
      { label: "figures", value: details },
    ], items, { empty: "nothing converted yet", id: "conversion-table" }));
  }

  Loop.poll(async () => {
    const [status, conversions] = await Promise.all([Loop.get("/status"), Loop.get("/conversions")]);
    render(status, conversions);
  }, 3000);
})();
