// The scene console: plays a Soul Machines scene against this server's /ws, frame for frame,
// and shows the persona's side of the session from the operators' API.
"use strict";

const $ = (selector) => document.querySelector(selector);
const STORE = { user: "console.userId", key: "console.adminKey" };
const CARD_DIRECTIVE = /@(showcards|showcardsnogesture|hidecards)\(([^)]*)\)/g;
const PANEL_REFRESH_DELAYS_MS = [0, 500, 2000]; // after a reply, until its state changes have settled

const state = {
  options: null,
  socket: null,
  session: null, // {sessionId, userId, persona, brain}
  pending: [], // requests awaiting their one conversationResponse, oldest first
  streaming: null, // the <li> showing the words of the reply on its way
  chart: null,
  chartNames: [],
  adminKey: sessionStorage.getItem(STORE.key) || "",
};

// ---- small helpers -------------------------------------------------------------------------

function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setStatus(text, kind = "idle") {
  const status = $("#status");
  status.textContent = text;
  status.dataset.state = kind;
}

function userId() {
  let id = localStorage.getItem(STORE.user);
  if (!id) {
    id = `console-${uuid4().slice(0, 8)}`;
    localStorage.setItem(STORE.user, id);
  }
  return id;
}

function safeUrl(value, allowData = false) {
  if (value == null || !String(value).trim()) return null; // empty: no link, no thumbnail (not this page)
  try {
    const url = new URL(String(value), location.href);
    if (url.protocol === "https:" || url.protocol === "http:" || (allowData && url.protocol === "data:")) return url.href;
  } catch {
    // not a URL at all
  }
  return null;
}

function spokenTime(date = new Date()) {
  const h = date.getHours();
  const part = h < 12 ? "in the morning" : h < 18 ? "in the afternoon" : "in the evening";
  return `${h % 12 || 12} ${String(date.getMinutes()).padStart(2, "0")} ${part}`;
}

// ---- operators' API ------------------------------------------------------------------------

class NeedsKey extends Error {}

async function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  if (state.adminKey) headers.set("X-Admin-Key", state.adminKey);
  const response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  if (response.status === 401 || response.status === 403) {
    $("#operator-key").hidden = false;
    throw new NeedsKey("this server wants the operator key");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body?.error?.message || `${path}: HTTP ${response.status}`);
  }
  return response.status === 204 ? null : response.json();
}

// ---- the scene's frames (protocols.md, section 1) ------------------------------------------

function sceneFrame(name, body) {
  return JSON.stringify({ category: "scene", kind: "event", name, body });
}

function stateFrame(session) {
  // stream: the reply's words as they come (conversationWords), before its conversationResponse.
  const userInfo = JSON.stringify({ id: session.userId, persona: session.persona, brain: session.brain, stream: true });
  return sceneFrame("state", {
    session: {
      sessionId: session.sessionId,
      state: "connected",
      userInfo,
      meta: { sceneId: 1, region: "local", headers: { "User-Agent": [navigator.userAgent] }, user: {} },
    },
  });
}

function requestFrame(text, kind) {
  return sceneFrame("conversationRequest", {
    personaId: "1",
    input: { text },
    optionalArgs: kind === "init" ? { kind: "init", speakResults: true } : { speakResults: true },
    variables: {
      Turn_Id: uuid4(),
      Current_Time: spokenTime(),
      FacePresent: 1,
      UserTurn_IsAttentive: 1,
      User_Turn_Positivity: null,
      User_Turn_Negativity: null,
      User_Turn_Confusion: null,
      Skill_Config: {},
      is_speaking: false,
    },
  });
}

// ---- sessions ------------------------------------------------------------------------------

async function unlockSocket() {
  if (state.options.socket_cookie_required) await api("/console/unlock", { method: "POST" });
}

async function startSession(session, { resumed }) {
  closeSocket();
  state.session = session;
  state.pending = [];
  state.streaming = null; // words of the last session's reply are not this one's
  $("#log").replaceChildren();
  resetPanel();
  history.replaceState(null, "", `#session=${encodeURIComponent(session.sessionId)}`);
  $("#session-line").textContent =
    `session ${session.sessionId} · user ${session.userId} · persona ${session.persona} · brain ${session.brain}`;
  $("#resume-id").value = session.sessionId;
  try {
    await unlockSocket();
    if (resumed) await showHistory(session.sessionId);
  } catch (error) {
    setStatus(error.message, "error");
    if (error instanceof NeedsKey) return;
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  state.socket = socket;
  setStatus("connecting…");
  socket.addEventListener("open", () => {
    setStatus("connected", "open");
    socket.send(stateFrame(session));
    if (!resumed) send("", "init");
    enableInput(true);
  });
  socket.addEventListener("message", (event) => {
    if (state.socket === socket) onFrame(event.data); // not a frame of a session left behind
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    enableInput(false);
    setStatus(`disconnected (${event.code}${event.reason ? `: ${event.reason}` : ""})`, event.code === 1000 ? "idle" : "error");
  });
}

function closeSocket() {
  const socket = state.socket;
  state.socket = null;
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "console: new session");
}

function enableInput(on) {
  for (const node of document.querySelectorAll("#say input, #say button")) node.disabled = !on;
  if (on) $("#say-text").focus();
}

function send(text, kind = "text") {
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return;
  state.pending.push({ text, sentAt: performance.now() });
  state.socket.send(requestFrame(text, kind));
  if (kind !== "init") addTurn("user", text);
}

async function showHistory(sessionId) {
  const page = await api(`/v1/sessions/${encodeURIComponent(sessionId)}/history?limit=200`);
  for (const message of page.messages) {
    if (message.kind === "text") addTurn("user", message.input_text);
    const cards = Object.entries(message.output_cards).map(([id, card]) => ({ id, ...card }));
    const spontaneous = message.kind === "spontaneous";
    addTurn("persona", message.output_text, { cards, fallback: message.fallback, spontaneous, replayed: true });
  }
  await refreshPanel();
}

// ---- replies -------------------------------------------------------------------------------

function onFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  if (frame.name === "conversationWords" && frame.body) {
    showWords(frame.body.output?.text ?? "");
    return;
  }
  if (frame.name !== "conversationResponse" || !frame.body) return;
  const body = frame.body;
  state.streaming?.remove(); // the whole reply takes the place of its words so far
  state.streaming = null;
  const inputText = body.input?.text ?? "";
  // A response to a request echoes its input; anything else is the persona speaking unprompted.
  const answered = state.pending.length > 0 && state.pending[0].text === inputText;
  const request = answered ? state.pending.shift() : null;
  const latency = request ? performance.now() - request.sentAt : null;
  addTurn("persona", body.output?.text ?? "", {
    cards: cardsOf(body.output?.text ?? "", body.variables || {}),
    fallback: Boolean(body.fallback),
    spontaneous: !answered,
  });
  if (latency !== null) $("#latency").dataset.roundTrip = latency.toFixed(1);
  // The reply goes out before the worker settles the turn's state changes (facts, relationship):
  // look again once they have landed.
  for (const delay of PANEL_REFRESH_DELAYS_MS) {
    setTimeout(() => refreshPanel().catch((error) => setStatus(error.message, "error")), delay);
  }
}

// The reply to the oldest pending request, growing as its words come.
function showWords(words) {
  if (!state.streaming) {
    state.streaming = el("li", { class: "turn persona streaming" }, el("div", { class: "text", text: "" }));
    $("#log").append(state.streaming);
  }
  const text = state.streaming.querySelector(".text");
  text.textContent = (text.textContent + words).replace(CARD_DIRECTIVE, "");
  state.streaming.scrollIntoView({ block: "end" });
}

function cardsOf(text, variables) {
  const cards = [];
  for (const [, directive, id] of text.matchAll(CARD_DIRECTIVE)) {
    if (directive === "hidecards") continue;
    const card = variables[`public-${id}`];
    if (card && typeof card === "object") cards.push({ id, kind: card.component || card.type, data: card.data || {} });
  }
  return cards;
}

function addTurn(who, text, { cards = [], fallback = false, spontaneous = false, replayed = false } = {}) {
  const shown = text.replace(CARD_DIRECTIVE, "").replace(/\s+/g, " ").trim();
  const tags = el("div", { class: "tags" });
  if (fallback) tags.append(el("span", { class: "tag fallback", text: "fallback" }));
  if (spontaneous) tags.append(el("span", { class: "tag spontaneous", text: "unprompted" }));
  if (replayed) tags.append(el("span", { class: "tag", text: "earlier" }));
  const classes = ["turn", who, fallback ? "fallback" : "", spontaneous ? "spontaneous" : ""].join(" ").trim();
  const item = el("li", { class: classes }, el("div", { class: "text", text: shown || (who === "persona" ? "…" : "") }));
  for (const card of cards) item.append(renderCard(card, !replayed));
  if (tags.childElementCount) item.append(tags);
  $("#log").append(item);
  item.scrollIntoView({ block: "end" });
}

// Cards as the Soul Machines UI shows them (protocols.md, "Content cards").
function renderCard(card, live) {
  const box = el("div", { class: `card ${card.kind}`, "data-card": card.id });
  const data = card.data || {};
  if (card.kind === "image") {
    const src = safeUrl(data.url, true);
    if (src) box.append(el("img", { src, alt: String(data.alt || "") }));
  } else if (card.kind === "options") {
    for (const option of Array.isArray(data.options) ? data.options : []) {
      const label = String(option.label ?? option.value ?? "");
      const button = el("button", { type: "button", text: label, disabled: !live });
      button.addEventListener("click", () => {
        for (const other of box.querySelectorAll("button")) other.disabled = true; // clickable once
        button.classList.add("chosen");
        send(String(option.value ?? option.label ?? ""));
      });
      box.append(button);
    }
  } else if (card.kind === "markdown") {
    box.innerHTML = DOMPurify.sanitize(marked.parse(String(data.text || "")));
  } else if (card.kind === "externalLink") {
    const href = safeUrl(data.url);
    const image = safeUrl(data.imageUrl, true);
    const link = el(
      "a",
      { href: href || "#", target: "_blank", rel: "noopener noreferrer" },
      image ? el("img", { src: image, alt: "" }) : null,
      el("div", {}, el("strong", { text: String(data.title || href || "") }), el("div", { class: "muted", text: String(data.description || "") })),
    );
    box.append(link);
  } else if (card.kind === "video") {
    const id = String(data.videoId || "");
    if (/^[\w-]{6,20}$/.test(id)) {
      const autoplay = data.autoplay ? 1 : 0;
      box.append(el("iframe", { src: `https://www.youtube-nocookie.com/embed/${id}?autoplay=${autoplay}`, allow: "autoplay; encrypted-media", title: "video" }));
    }
  } else {
    box.append(el("pre", { text: JSON.stringify(card, null, 2) }));
  }
  return box;
}

// ---- the persona's side --------------------------------------------------------------------

function resetPanel() {
  if (state.chart) state.chart.destroy();
  state.chart = null;
  state.chartNames = [];
  $("#chart").dataset.turns = "0";
  $("#mood").textContent = "";
  $("#relationship").replaceChildren();
  $("#latency").replaceChildren();
  $("#recalled").replaceChildren(el("li", { class: "muted", text: "nothing yet" }));
  $("#facts").replaceChildren(el("li", { class: "muted", text: "nothing yet" }));
  $("#thought").textContent = "no thoughts yet";
}

async function refreshPanel() {
  if (!state.session) return;
  const view = await api(`/v1/sessions/${encodeURIComponent(state.session.sessionId)}/persona`);
  if (view.session_id !== state.session?.sessionId) return; // a newer session took over
  drawChart(view);
  $("#mood").textContent = `· ${view.persona_name} feels ${view.mood}`;
  const r = view.relationship;
  $("#relationship").replaceChildren(
    ...pair("label", el("strong", { text: r.label, "data-label": r.label })),
    ...pair("affinity", meter(r.affinity, -1, 1)),
    ...pair("trust", meter(r.trust, 0, 1)),
    ...pair("familiarity", meter(r.familiarity, 0, 1)),
    ...pair("turns", String(r.interactions)),
    ...pair("summary", r.summary || "—"),
  );
  const last = view.turns[view.turns.length - 1];
  list("#recalled", last?.recalled || []);
  list("#facts", view.facts.map((f) => `${f.kind}: ${f.value}`));
  $("#thought").textContent = view.thought ? `“${view.thought.text}” (${view.thought.mood || "calm"})` : "no thoughts yet";
  const roundTrip = $("#latency").dataset.roundTrip;
  $("#latency").replaceChildren(
    ...pair("round trip", roundTrip ? `${roundTrip} ms` : "—"),
    ...pair("in queue", last ? `${last.queued_ms} ms` : "—"),
    ...pair("processing", last ? `${last.processing_ms} ms` : "—"),
    ...pair("brain", last?.brain || view.brain),
  );
}

function pair(term, value) {
  return [el("dt", { text: term }), el("dd", {}, value)];
}

function meter(value, min, max) {
  return el("span", {}, el("meter", { min, max, value }), ` ${value.toFixed(2)}`);
}

function list(selector, items) {
  const nodes = items.length ? items.map((text) => el("li", { text })) : [el("li", { class: "muted", text: "nothing" })];
  $(selector).replaceChildren(...nodes);
}

const PALETTE = ["#2f6fdf", "#d97706", "#dc2626", "#7c3aed", "#059669", "#db2777", "#4b5563", "#0891b2"];

function drawChart(view) {
  const turns = view.turns.filter((t) => Object.keys(t.mood).length > 0);
  const names = Object.keys(view.emotions);
  const xs = turns.map((_, i) => i + 1);
  const data = [xs, ...names.map((name) => turns.map((t) => t.mood[name] ?? null))];
  const box = $("#chart");
  box.dataset.turns = String(turns.length);
  if (!state.chart || state.chartNames.join() !== names.join()) {
    if (state.chart) state.chart.destroy();
    state.chartNames = names;
    state.chart = new uPlot(
      {
        width: Math.max(260, box.clientWidth),
        height: 200,
        scales: { x: { time: false }, y: { range: [0, 1] } },
        axes: [{ label: "turn" }, {}],
        legend: { live: false },
        series: [{ label: "turn" }, ...names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2 }))],
      },
      data,
      box,
    );
  } else {
    state.chart.setData(data);
  }
}

// ---- start-up ------------------------------------------------------------------------------

function fillSelect(select, values, chosen) {
  select.replaceChildren(...values.map(([value, label]) => el("option", { value, text: label, selected: value === chosen })));
}

async function resume(sessionId) {
  try {
    const view = await api(`/v1/sessions/${encodeURIComponent(sessionId)}/persona`);
    // The store names a scene's user "sm:<id>" (its door's namespace); the scene claims the bare id.
    const userId = view.user_id.replace(/^sm:/, "");
    await startSession(
      { sessionId, userId, persona: view.persona_id, brain: view.brain },
      { resumed: true },
    );
  } catch (error) {
    setStatus(`cannot resume ${sessionId}: ${error.message}`, "error");
  }
}

function newSession() {
  return startSession(
    { sessionId: uuid4(), userId: userId(), persona: $("#persona").value, brain: $("#brain").value },
    { resumed: false },
  );
}

async function main() {
  state.options = await (await fetch("/console/options")).json();
  const o = state.options;
  fillSelect($("#persona"), o.personas.map((p) => [p.persona_id, `${p.name} (${p.persona_id})`]), o.default_persona);
  fillSelect($("#brain"), o.brains.map((b) => [b, b]), o.default_brain);
  $("#operator-key").hidden = !o.operator_key_required || Boolean(state.adminKey);

  $("#new-session").addEventListener("submit", (event) => {
    event.preventDefault();
    newSession();
  });
  $("#resume-session").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#resume-id").value.trim();
    if (id) resume(id);
  });
  $("#say").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#say-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  $("#operator-key").addEventListener("submit", (event) => {
    event.preventDefault();
    state.adminKey = $("#admin-key").value.trim();
    sessionStorage.setItem(STORE.key, state.adminKey);
    $("#operator-key").hidden = true;
    const id = new URLSearchParams(location.hash.slice(1)).get("session");
    if (id) resume(id);
    else newSession();
  });

  const resumeId = new URLSearchParams(location.hash.slice(1)).get("session");
  if (o.operator_key_required && !state.adminKey) {
    setStatus("enter the operator key to start", "error");
  } else if (resumeId) {
    await resume(resumeId);
  } else {
    await newSession();
  }
}

main().catch((error) => setStatus(`console failed to start: ${error.message}`, "error"));
