// The stub Loop's annotation page: a person picks an image and a segmentation category; every mouse and key event
// goes as a UserInput over the stub's Socket.IO (`user_input`) to the annotation node connected for the project, and
// the SVG it answers is drawn over the image. Enter confirms (the node sends the annotation to the Loop), Escape
// starts over. Plain JavaScript with no build step: the few lines of Socket.IO it needs are below, over a WebSocket.
"use strict";

// Socket.IO v5 (Engine.IO v4) over a WebSocket: connect, answer pings, emit with an acknowledgement.
class LoopSocket {
  constructor(path) {
    this.path = path;
    this.pending = new Map();
    this.nextId = 1;
    this.onclose = null;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new WebSocket(`${scheme}//${location.host}${this.path}?EIO=4&transport=websocket`);
    return new Promise((resolve, reject) => {
      let settled = false;
      this.ws.onmessage = (message) => {
        const packet = String(message.data);
        if (packet[0] === "0") this.ws.send("40");  // engine open -> connect to the namespace "/"
        else if (packet === "2") this.ws.send("3");  // ping -> pong
        else if (packet.startsWith("40")) { settled = true; this.sid = JSON.parse(packet.slice(2) || "{}").sid; resolve(this); }
        else if (packet.startsWith("44")) {  // the server refused the connection
          settled = true;
          let reason = "refused";
          try { reason = JSON.parse(packet.slice(2)).message || reason; } catch (e) { /* keep "refused" */ }
          reject(new Error(reason));
        } else if (packet.startsWith("43")) this.acknowledged(packet.slice(2));
      };
      this.ws.onclose = () => {
        for (const [, waiting] of this.pending) waiting.reject(new Error("the connection to the Loop closed"));
        this.pending.clear();
        if (!settled) reject(new Error("the connection to the Loop closed"));
        else if (this.onclose) this.onclose();
      };
    });
  }

  acknowledged(body) {
    const split = body.indexOf("[");
    const id = Number(body.slice(0, split));
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    clearTimeout(waiting.timer);
    waiting.resolve(JSON.parse(body.slice(split))[0]);
  }

  call(event, arg, timeoutMs) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`no answer to ${event}`)); }, timeoutMs || 60000);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(`42${id}${JSON.stringify([event, arg])}`);
    });
  }
}

const Annotate = (() => {
  const state = { socket: null, org: "", project: "", image: null, categories: [], queue: [], busy: false,
    last: { x: 0, y: 0 }, saved: 0 };
  const $ = (id) => document.getElementById(id);

  function status(text, kind) {
    const line = $("status");
    line.textContent = text;
    line.className = `small ${kind || ""}`.trim();
  }

  // Only drawing elements and their geometry and colours are taken from the node's SVG: no scripts, no links,
  // no event handlers, no styles (a stylesheet could load from elsewhere).
  const TAGS = new Set(["g", "polygon", "polyline", "path", "circle", "ellipse", "rect", "line"]);
  const ATTRIBUTES = new Set(["points", "d", "cx", "cy", "r", "rx", "ry", "x", "y", "x1", "y1", "x2", "y2", "width",
    "height", "fill", "stroke", "stroke-width", "stroke-dasharray", "opacity", "fill-opacity", "stroke-opacity",
    "transform", "class"]);

  function clean(node) {
    if (!TAGS.has(node.localName)) return null;
    const copy = document.createElementNS("http://www.w3.org/2000/svg", node.localName);
    for (const attribute of node.attributes) {
      const value = attribute.value;
      if (ATTRIBUTES.has(attribute.name) && !/url\s*\(/i.test(value)) copy.setAttribute(attribute.name, value);
    }
    for (const child of node.children) { const c = clean(child); if (c) copy.append(c); }
    return copy;
  }

  function draw(svg) {
    const answer = $("overlay").querySelector(".answer");
    const text = String(svg || "").trim();
    const body = text.startsWith("<svg") ? text : `<svg xmlns="http://www.w3.org/2000/svg">${text}</svg>`;
    const parsed = new DOMParser().parseFromString(body, "image/svg+xml");
    if (parsed.querySelector("parsererror")) throw new Error("the annotator's SVG does not parse");
    answer.replaceChildren(...[...parsed.documentElement.children].map(clean).filter((c) => c));
  }

  function drawSaved(annotations) {
    const saved = $("overlay").querySelector(".saved");
    saved.replaceChildren(...annotations.map((a) => {
      const polygon = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
      polygon.setAttribute("points", ((a.shape && a.shape.points) || []).map((p) => `${p.x},${p.y}`).join(" "));
      return polygon;
    }));
  }

  async function imageData() {
    const data = await Loop.get(`/api/${state.org}/projects/${state.project}/images?ids=${encodeURIComponent(state.image.id)}`);
    return data.images[0] || { segmentation_annotations: [] };
  }

  function category() {
    return state.categories.find((c) => c.id === $("category").value);
  }

  function userInput(eventType, extra) {
    const data = { coordinate: { x: state.last.x, y: state.last.y }, event_type: eventType,
      context: { organization: state.org, project: state.project }, image_uuid: state.image.id,
      category: category(), ...(extra || {}) };
    return { frontend_id: state.socket.sid, data };
  }

  // Inputs go one at a time, in order; of several mouse moves waiting, only the newest is sent.
  function send(input) {
    if (!state.socket || !state.image || !category()) { status("choose an image and a segmentation category first", "bad"); return; }
    const waiting = state.queue[state.queue.length - 1];
    if (input.data.event_type === "mouse_move" && waiting && waiting.data.event_type === "mouse_move") state.queue.pop();
    state.queue.push(input);
    if (!state.busy) drain();
  }

  async function drain() {
    state.busy = true;
    while (state.queue.length) {
      const input = state.queue.shift();
      try {
        const ack = await state.socket.call("user_input", input, 60000);
        const stage = $("stage");
        stage.dataset.answers = String(Number(stage.dataset.answers) + 1);
        if (!ack || !ack.success) { status((ack && ack.error_msg) || "the annotator refused the input", "bad"); continue; }
        if (typeof ack.payload === "string") draw(ack.payload);
        if (input.data.key_up === "Enter") await confirmSaved();
        else if (input.data.key_up === "Escape") status("started over");
        else if (input.data.event_type !== "mouse_move") status("");
      } catch (e) {
        status(e.message, "bad");
      }
    }
    state.busy = false;
  }

  async function confirmSaved() {
    const data = await imageData();
    const annotations = data.segmentation_annotations || [];
    drawSaved(annotations);
    if (annotations.length > state.saved) status(`saved: the image has ${annotations.length} segmentation annotation(s)`, "good");
    else status("confirmed, but no annotation arrived at the Loop", "bad");
    state.saved = annotations.length;
  }

  function pixel(event) {
    const img = $("image");
    const box = img.getBoundingClientRect();
    const x = Math.round((event.clientX - box.left) * img.naturalWidth / box.width);
    const y = Math.round((event.clientY - box.top) * img.naturalHeight / box.height);
    state.last = { x: Math.max(0, Math.min(img.naturalWidth - 1, x)), y: Math.max(0, Math.min(img.naturalHeight - 1, y)) };
  }

  const BUTTONS = { 0: "left", 2: "right" };

  function listen() {
    const stage = $("stage");
    stage.addEventListener("contextmenu", (e) => e.preventDefault());
    stage.addEventListener("mousedown", (e) => {
      if (!(e.button in BUTTONS)) return;
      e.preventDefault();
      stage.focus();
      pixel(e);
      send(userInput(`${BUTTONS[e.button]}_mouse_down`, { is_shift_key_pressed: e.shiftKey }));
    });
    stage.addEventListener("mouseup", (e) => {
      if (!(e.button in BUTTONS)) return;
      pixel(e);
      send(userInput(`${BUTTONS[e.button]}_mouse_up`, { is_shift_key_pressed: e.shiftKey }));
    });
    stage.addEventListener("mousemove", (e) => { pixel(e); send(userInput("mouse_move", { is_shift_key_pressed: e.shiftKey })); });
    for (const [type, key] of [["keydown", "key_down"], ["keyup", "key_up"]]) {
      stage.addEventListener(type, (e) => {
        if (e.repeat) return;
        if (e.key === "Enter" || e.key === "Escape") e.preventDefault();
        send(userInput(key, { [key]: e.key, is_shift_key_pressed: e.shiftKey }));
      });
    }
  }

  function option(value, label) { return Loop.el("option", { value }, label); }

  async function showImage() {
    const id = $("image-id").value;
    state.image = id ? { id } : null;
    state.queue = [];
    $("overlay").querySelector(".answer").replaceChildren();
    if (!id) return;
    const img = $("image");
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error("the image did not load"));
      img.src = `/ui/${state.org}/${state.project}/images/${encodeURIComponent(id)}.jpg`;
    });
    $("overlay").setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    const data = await imageData();
    state.saved = (data.segmentation_annotations || []).length;
    drawSaved(data.segmentation_annotations || []);
    $("stage").dataset.image = id;
    location.hash = `${state.org}/${state.project}/${id}`;
    $("stage").focus();
  }

  async function showProject(wanted) {
    [state.org, state.project] = $("project").value.split("/");
    const [detail, images] = await Promise.all([Loop.get(`/ui/${state.org}/${state.project}`),
      Loop.get(`/ui/${state.org}/${state.project}/images?limit=200`)]);
    state.categories = detail.categories.filter((c) => c.type === "segmentation");
    Loop.fill("category", state.categories.map((c) => option(c.id, c.name)));
    Loop.fill("image-id", images.images.map((i) => option(i.id, `${i.id.slice(0, 8)} · ${i.set || i.state || ""}`)));
    if (!state.categories.length) status("this project has no segmentation category", "bad");
    if (wanted && images.images.some((i) => i.id === wanted)) $("image-id").value = wanted;
    await showImage();
  }

  async function connect() {
    const socket = new LoopSocket("/ws/socket.io/");
    try {
      state.socket = await socket.connect();
    } catch (e) {
      state.socket = null;
      $("login").hidden = false;
      $("connection").textContent = `not connected: ${e.message}`;
      return false;
    }
    $("login").hidden = true;
    $("connection").textContent = "connected to the Loop";
    socket.onclose = () => { state.socket = null; $("connection").textContent = "disconnected"; status("the connection to the Loop closed", "bad"); };
    return true;
  }

  async function start() {
    const [org, project, wanted] = location.hash.slice(1).split("/");
    listen();
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await Loop.request("POST", "/api/login", new FormData(e.target));
        $("notice").textContent = "";
        if (await connect() && !state.image) await showProject(wanted);
      } catch (err) { $("notice").textContent = err.message; }
    });
    $("project").addEventListener("change", () => showProject().catch((e) => status(e.message, "bad")));
    $("image-id").addEventListener("change", () => showImage().catch((e) => status(e.message, "bad")));
    const projects = (await Loop.get("/ui/projects")).projects;
    Loop.fill("project", projects.map((p) => option(`${p.organization}/${p.project}`, `${p.organization}/${p.project}`)));
    if (org && project) $("project").value = `${org}/${project}`;
    if (!projects.length) status("no project yet: generate one on the Loop's page", "bad");
    else if (await connect()) await showProject(wanted);  // else after the login
  }

  return { start, LoopSocket };
})();

Annotate.start().catch((e) => { document.getElementById("notice").textContent = e.message; });
