// The annotator page: its connection to the Loop, what it holds against its bounds, the last inputs it answered.
"use strict";
(() => {
  const { el, fill, badge, facts, figure, when, duration, table } = Loop;
  const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

  function render(status, activity) {
    fill("logic", `· ${status.logic}`);
    fill("state", badge(status.connected ? "connected" : "disconnected"));
    fill("node", facts([
      ["name", status.name],
      ["id", el("span", { class: "mono" }, status.id)],
      ["up for", duration(status.uptime)],
      ["capabilities", status.capabilities.join(", ")],
      Object.keys(status.errors).length && ["errors", el("pre", { class: "error" }, JSON.stringify(status.errors, null, 1))],
    ]));
    const b = status.bounds;
    fill("bounds", el("div", { class: "figures" },
      figure("inputs answered", status.events),
      figure(`people (of ${b.max_histories})`, b.histories),
      figure(`history memory (of ${mb(b.max_history_bytes)})`, mb(b.history_bytes)),
      figure("images in memory", `${b.images_in_memory} · ${mb(b.image_bytes)}`),
      figure("histories dropped", Object.entries(b.dropped).map(([k, v]) => `${k} ${v}`).join(", "))));
    fill("activity", table([
      { label: "when", value: (a) => when(a.time) },
      { label: "event", value: (a) => a.event_type },
      { label: "result", value: (a) => (a.success ? badge("ok") : el("pre", { class: "error" }, a.error_msg)) },
      { label: "ms", num: true, value: (a) => a.ms },
    ], activity.recent, { empty: "no inputs yet", id: "activity-table" }));
  }

  Loop.poll(async () => {
    const [status, activity] = await Promise.all([Loop.get("/status"), Loop.get("/activity")]);
    render(status, activity);
  }, 3000);
})();
