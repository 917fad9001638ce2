/* tonearm web UI: plain JavaScript, no build step, nothing loaded from elsewhere.
   Pages (hash routes): #/search, #/sfx, #/asset/<id>, #/recognize, #/keys.
   The API key is kept in localStorage ("tonearm.key") and sent as X-API-Key. URLs the
   browser fetches by itself (<audio src>, downloads) can't send a header, so the key is
   handed to POST /ui/api/session, which sets an HttpOnly cookie for GETs under /ui/api:
   the key never appears in a URL. */
"use strict";

const KEY_STORE = "tonearm.key";
const ADMIN_STORE = "tonearm.admin";
const PAGE = 20;

const state = {
  key: localStorage.getItem(KEY_STORE) || "",
  admin: localStorage.getItem(ADMIN_STORE) || "",
  facets: null,
  playing: null, // {id, name} of what the footer player holds
  page: null, // the current page's cleanup
};

// -- small DOM helpers ---------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const $ = (sel, root = document) => root.querySelector(sel);
let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

function field(labelText, input, cls) {
  if (!input.id) input.id = nextId("f");
  return h("div", { class: "field " + (cls || "") }, h("label", { for: input.id }, labelText), input);
}
function fmtTime(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  const m = Math.floor(s / 60);
  const r = s - m * 60;
  return `${m}:${r < 10 ? "0" : ""}${r.toFixed(r < 10 && m === 0 ? 2 : 1)}`;
}
function fmtNum(x, d = 1) {
  return x === null || x === undefined || !isFinite(x) ? "–" : Number(x).toFixed(d);
}

function status(msg, kind = "info") {
  const s = $("#status");
  s.replaceChildren();
  if (msg) s.append(h("span", { class: kind }, msg));
}
function clearStatus() { status(""); }

// -- API -------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(message, statusCode) { super(message); this.status = statusCode; }
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (!opts.noKey && state.key) headers["X-API-Key"] = state.key;
  let body = opts.body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const r = await fetch(path, { method: opts.method || (body ? "POST" : "GET"), headers, body });
  const ctype = r.headers.get("content-type") || "";
  if (opts.blob && r.ok) return r.blob();
  let data = null;
  if (ctype.includes("json")) data = await r.json().catch(() => null);
  else if (!r.ok) data = { error: await r.text().catch(() => "") };
  if (!r.ok || (data && data.success === false) || (data && data.status === "error")) {
    const msg = (data && (data.error?.error_message || data.error || data.message || data.detail)) || `HTTP ${r.status}`;
    if (r.status === 401 && !opts.noKey) keyState("The API key was refused", true);
    throw new ApiError(typeof msg === "string" ? msg : JSON.stringify(msg), r.status);
  }
  return data;
}
function audioUrl(id) {
  return `/ui/api/assets/${encodeURIComponent(id)}/audio`;
}
async function getFacets() {
  if (!state.facets) state.facets = await api("/ui/api/facets");
  return state.facets;
}
function needKey(main) {
  if (state.key) return false;
  main.append(h("div", { class: "panel" },
    h("h1", { text: "Enter your API key" }),
    h("p", {}, "Paste the key you were given (it starts with ", h("code", {}, "ta_"),
      ") in the box at the top right and press ", h("b", {}, "Save key"),
      ". It stays in this browser only. ", h("code", {}, "tonearm keys create"),
      " makes one; the demo prints one when it starts.")));
  $("#api-key").focus();
  return true;
}

// -- player ----------------------------------------------------------------------------------
const player = () => $("#player");
function play(asset, src, label) {
  const p = player();
  const id = asset ? String(asset.asset_id) : null;
  if (id && state.playing && state.playing.id === id && !src && p.src) {
    if (p.paused) p.play().catch(() => {}); else p.pause();
    return;
  }
  state.playing = { id, name: label || (asset && asset.name) || "" };
  p.src = src || audioUrl(id);
  $("#now-playing").textContent = state.playing.name;
  p.play().catch((e) => status(`Could not play: ${e.message}`, "error"));
  syncPlayButtons();
}
function syncPlayButtons() {
  const p = player();
  document.querySelectorAll("button.play").forEach((b) => {
    const on = state.playing && b.dataset.id === state.playing.id && !p.paused;
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.textContent = on ? "❚❚ Pause" : "▶ Play";
  });
}
function playButton(asset) {
  return h("button", {
    class: "play", type: "button", "aria-pressed": "false", dataset: { id: String(asset.asset_id) },
    "aria-label": `Play ${asset.name}`, onclick: () => play(asset),
  }, "▶ Play");
}

// -- router ----------------------------------------------------------------------------------
const routes = {};
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  const parts = path.split("/").filter(Boolean);
  return { name: parts[0] || "search", arg: parts[1], params: new URLSearchParams(qs || "") };
}
function setHashParams(name, params) {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString();
  const target = `#/${name}${qs ? "?" + qs : ""}`;
  if (location.hash !== target) history.replaceState(null, "", target);
}
async function route() {
  const r = parseHash();
  if (state.page && state.page.cleanup) state.page.cleanup();
  state.page = {};
  const main = $("#main");
  main.replaceChildren();
  clearStatus();
  document.querySelectorAll("[data-nav]").forEach((a) => {
    const cur = a.dataset.nav === r.name || (r.name === "asset" && a.dataset.nav === "search");
    if (cur) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  const page = routes[r.name] || routes.search;
  try {
    await page(main, r);
    syncPlayButtons();
  } catch (e) {
    if (r.name === "asset" && e.status === 404) {
      // a deleted asset or a mistyped link: say so on the page, with a way back
      main.replaceChildren(h("h1", {}, "Not in the catalog"),
        h("p", { class: "notice", "data-testid": "missing-asset" },
          `There is no song or sound effect with id ${r.arg} in this catalog. `,
          "It may have been deleted, or the link is mistyped. ",
          h("a", { href: "#/search" }, "Back to search")));
      return;
    }
    status(e.message, "error");
  }
}
window.addEventListener("hashchange", () => { route(); $("#main").focus({ preventScroll: true }); });

// -- music search ----------------------------------------------------------------------------
// the API's meta.search_method in the words of someone searching for music
function searchMethodLabel(method) {
  if (method === "semantic") return "Matched by meaning";
  if (method === "text") return "Matched by keywords";
  return "Search";
}

routes.search = async (main, r) => {
  main.append(h("h1", { text: "Music" }));
  if (needKey(main)) return;
  const facets = await getFacets();
  const q = h("input", { type: "search", name: "q", placeholder: "e.g. calm piano for a rainy evening, or an artist's name", value: r.params.get("q") || "" });
  const genre = h("select", { name: "genre" }, h("option", { value: "" }, "Any genre"),
    facets.music.genres.map((g) => h("option", { value: g.name, selected: g.name === r.params.get("genre") }, `${g.name} (${g.count})`)));
  const dmin = h("input", { type: "number", min: "0", step: "1", name: "min", value: r.params.get("min") || "" });
  const dmax = h("input", { type: "number", min: "0", step: "1", name: "max", value: r.params.get("max") || "" });
  const form = h("form", { class: "filters panel", role: "search" },
    field("Describe the music", q, "grow"), field("Genre", genre), field("Min length (s)", dmin), field("Max length (s)", dmax),
    h("button", { class: "primary", type: "submit" }, "Search"));
  const meta = h("div", { class: "meta-line", "aria-live": "polite" });
  const results = h("div", {});
  main.append(form, meta, results);

  let offset = Number(r.params.get("offset") || 0);
  let like = r.params.get("like");

  function filters() {
    const d = {};
    if (dmin.value !== "") d.min = Number(dmin.value);
    if (dmax.value !== "") d.max = Number(dmax.value);
    return d;
  }
  async function load() {
    setHashParams("search", { q: q.value, genre: genre.value, min: dmin.value, max: dmax.value, offset: offset || "", like: like || "" });
    meta.replaceChildren(h("span", {}, "Searching…"));
    let tracks, total, extra = [];
    const dur = filters();
    try {
      if (like) {
        const seed = await api(`/developer/v1/assets/${encodeURIComponent(like)}`);
        const body = { asset_id: String(like), limit: PAGE, offset };
        if (Object.keys(dur).length) body.filters = { duration: dur };
        const res = await api("/developer/v1/similar", { body });
        tracks = res.tracks; total = res.meta.total;
        extra = [h("span", {}, "Tracks like ", h("b", {}, seed.name), seed.artist ? ` by ${seed.artist}` : ""),
          h("button", { type: "button", onclick: () => { like = null; offset = 0; load(); } }, "Back to search")];
      } else if (q.value.trim()) {
        const body = { query: q.value.trim(), limit: PAGE, offset, filters: {} };
        if (genre.value) body.filters.genres = [genre.value];
        if (Object.keys(dur).length) body.filters.duration = dur;
        const res = await api("/developer/v1/search", { body });
        tracks = res.tracks; total = res.meta.total;
        extra = [h("span", { class: "pill method", "data-testid": "search-method", title: `search_method: ${res.meta.search_method}` }, searchMethodLabel(res.meta.search_method))];
        if (res.meta.matched_artist) extra.push(h("span", {}, "Sounds like ", h("span", { class: "pill artist", "data-testid": "matched-artist" }, res.meta.matched_artist)));
      } else {
        const p = new URLSearchParams({ kind: "music", limit: PAGE, offset });
        if (genre.value) p.set("genre", genre.value);
        if (dur.min !== undefined) p.set("min_duration", dur.min);
        if (dur.max !== undefined) p.set("max_duration", dur.max);
        const res = await api(`/ui/api/assets?${p}`);
        tracks = res.assets; total = res.meta.total;
        extra = [h("span", {}, "Browsing the catalog (type a description to search)")];
      }
    } catch (e) {
      meta.replaceChildren(h("span", { class: "error" }, e.message));
      results.replaceChildren();
      return;
    }
    meta.replaceChildren(h("span", {}, h("b", {}, String(total)), " tracks"), ...extra);
    results.replaceChildren(trackTable(tracks, { onLike: (t) => { like = String(t.asset_id); offset = 0; load(); } }),
      pager(offset, total, (o) => { offset = o; load(); }));
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); like = null; offset = 0; load(); });
  genre.addEventListener("change", () => { offset = 0; load(); });
  await load();
  if (!r.params.get("q")) q.focus();
};

function trackTable(tracks, { onLike }) {
  if (!tracks.length) return h("p", { class: "muted" }, "No tracks match.");
  const hasScore = tracks.some((t) => t.score !== undefined && t.score !== null);
  return h("table", { class: "list", "data-testid": "tracks" },
    h("thead", {}, h("tr", {}, h("th", {}, h("span", { class: "sr-only" }, "Play")), h("th", {}, "Title"), h("th", {}, "Artist"),
      h("th", {}, "Genre"), h("th", { class: "num" }, "Length"), h("th", { class: "num" }, "BPM"),
      hasScore ? h("th", { class: "num" }, "Score") : null, h("th", {}, ""))),
    h("tbody", {}, tracks.map((t) => h("tr", {},
      h("td", {}, playButton(t)),
      h("td", {}, h("a", { href: `#/asset/${t.asset_id}` }, t.name)),
      h("td", {}, t.artist || ""), h("td", {}, t.genre || ""),
      h("td", { class: "num" }, fmtTime(t.duration)), h("td", { class: "num" }, fmtNum(t.bpm, 0)),
      hasScore ? h("td", { class: "num" }, fmtNum(t.score, 3)) : null,
      h("td", {}, h("button", { type: "button", onclick: () => onLike(t), "aria-label": `More like ${t.name}` }, "More like this"))))));
}

function pager(offset, total, go) {
  const from = total ? offset + 1 : 0;
  const to = Math.min(offset + PAGE, total);
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => go(Math.max(0, offset - PAGE)) }, "‹ Previous"),
    h("span", {}, `${from}–${to} of ${total}`),
    h("button", { type: "button", disabled: offset + PAGE >= total, onclick: () => go(offset + PAGE) }, "Next ›"));
}

// -- sound effects ---------------------------------------------------------------------------
routes.sfx = async (main, r) => {
  main.append(h("h1", { text: "Sound effects" }));
  if (needKey(main)) return;
  const facets = await getFacets();
  const tabBrowse = h("button", { type: "button", role: "tab", id: "tab-browse" }, "Browse");
  const tabDupes = h("button", { type: "button", role: "tab", id: "tab-dupes" }, "Near-duplicate groups");
  const body = h("div", { role: "tabpanel" });
  main.append(h("div", { class: "tabs", role: "tablist" }, tabBrowse, tabDupes), body);
  const show = (which) => {
    tabBrowse.setAttribute("aria-selected", which === "browse");
    tabDupes.setAttribute("aria-selected", which === "dupes");
    body.setAttribute("aria-labelledby", which === "browse" ? "tab-browse" : "tab-dupes");
    body.replaceChildren();
    if (which === "browse") sfxBrowse(body, r, facets); else sfxDupes(body);
  };
  tabBrowse.onclick = () => show("browse");
  tabDupes.onclick = () => show("dupes");
  show(r.params.get("tab") === "dupes" ? "dupes" : "browse");
};

async function sfxBrowse(root, r, facets) {
  const cat = h("select", { name: "category" }, h("option", { value: "" }, "All categories"),
    facets.sfx.categories.map((c) => h("option", { value: c.name, selected: c.name === r.params.get("category") }, `${c.name} (${c.count})`)));
  const sub = h("select", { name: "subcategory" });
  const text = h("input", { type: "search", name: "q", placeholder: "name or tag", value: r.params.get("q") || "" });
  function fillSubs(selected) {
    const c = facets.sfx.categories.find((x) => x.name === cat.value);
    sub.replaceChildren(h("option", { value: "" }, "All subcategories"),
      (c ? c.subcategories : []).map((s) => h("option", { value: s.name, selected: s.name === selected }, `${s.name} (${s.count})`)));
    sub.disabled = !c;
  }
  fillSubs(r.params.get("subcategory"));
  const form = h("form", { class: "filters panel" }, field("Category", cat), field("Subcategory", sub), field("Name", text, "grow"),
    h("button", { class: "primary", type: "submit" }, "Show"));
  const meta = h("div", { class: "meta-line", "aria-live": "polite" });
  const list = h("div", {});
  const detail = h("div", {});
  root.append(form, meta, list, detail);
  let offset = Number(r.params.get("offset") || 0);
  let selected = null;

  async function load() {
    setHashParams("sfx", { category: cat.value, subcategory: sub.value, q: text.value, offset: offset || "" });
    const p = new URLSearchParams({ kind: "sfx", limit: PAGE, offset });
    if (cat.value) p.set("category", cat.value);
    if (sub.value) p.set("subcategory", sub.value);
    if (text.value.trim()) p.set("q", text.value.trim());
    let res;
    try { res = await api(`/ui/api/assets?${p}`); } catch (e) { meta.replaceChildren(h("span", { class: "error" }, e.message)); return; }
    meta.replaceChildren(h("span", {}, h("b", {}, String(res.meta.total)), " sound effects"));
    list.replaceChildren(sfxTable(res.assets, (a) => { selected = a; showDetail(); }, selected),
      pager(offset, res.meta.total, (o) => { offset = o; load(); }));
  }
  async function showDetail() {
    list.querySelectorAll("tr[data-id]").forEach((tr) => tr.classList.toggle("selected", selected && tr.dataset.id === String(selected.asset_id)));
    detail.replaceChildren();
    if (!selected) return;
    await sfxDetail(detail, selected);
    detail.scrollIntoView({ behavior: "smooth", block: "start" });
  }
  cat.addEventListener("change", () => { fillSubs(""); offset = 0; load(); });
  sub.addEventListener("change", () => { offset = 0; load(); });
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  await load();
}

function sfxTable(items, onSimilar, selected) {
  if (!items.length) return h("p", { class: "muted" }, "No sound effects match.");
  return h("table", { class: "list", "data-testid": "sfx" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "Name"), h("th", {}, "Category"), h("th", { class: "num" }, "Length"),
      h("th", { class: "num" }, "True peak"), h("th", { class: "num" }, "Audible"), items.some((a) => a.score !== undefined) ? h("th", { class: "num" }, "Score") : null, h("th", {}, ""))),
    h("tbody", {}, items.map((a) => h("tr", { dataset: { id: String(a.asset_id) }, class: selected && String(selected.asset_id) === String(a.asset_id) ? "selected" : null },
      h("td", {}, playButton(a)),
      h("td", {}, h("a", { href: `#/asset/${a.asset_id}` }, a.name)),
      h("td", {}, `${a.category || ""}${a.subcategory ? " / " + a.subcategory : ""}`),
      h("td", { class: "num" }, fmtTime(a.duration)),
      h("td", { class: "num" }, a.true_peak_dbtp === null || a.true_peak_dbtp === undefined ? "–" : `${fmtNum(a.true_peak_dbtp)} dBTP`),
      h("td", { class: "num" }, `${fmtNum(a.sound_start_sec, 2)}–${fmtNum(a.sound_end_sec, 2)} s`),
      a.score !== undefined ? h("td", { class: "num" }, fmtNum(a.score, 3)) : null,
      h("td", {}, onSimilar ? h("button", { type: "button", onclick: () => onSimilar(a), "aria-label": `Similar to ${a.name}` }, "Similar sounds") : null)))));
}

async function sfxDetail(root, a) {
  const wave = waveformView({ asset: a });
  const dedupe = h("input", { type: "checkbox", id: nextId("dd") });
  const same = h("input", { type: "checkbox", id: nextId("sc") });
  const list = h("div", { "aria-live": "polite" });
  root.append(h("section", { class: "panel", "aria-label": `Details of ${a.name}` },
    h("h2", {}, a.name, " ", h("span", { class: "pill" }, `${a.category || "?"} / ${a.subcategory || "?"}`)),
    wave.el,
    h("div", { class: "legend" },
      h("span", {}, h("span", { class: "swatch", style: "background:rgba(31,111,235,.18)" }), `audible ${fmtNum(a.sound_start_sec, 2)}–${fmtNum(a.sound_end_sec, 2)} s`),
      h("span", {}, h("span", { class: "swatch", style: "background:#b42318" }), `true peak ${fmtNum(a.true_peak_dbtp)} dBTP`)),
    h("h2", {}, "Similar sounds"),
    h("div", { class: "actions" },
      h("label", { class: "inline-check", for: dedupe.id }, dedupe, "Hide near-duplicates"),
      h("label", { class: "inline-check", for: same.id }, same, "Same category only")),
    list));
  wave.load();
  async function loadSimilar() {
    const p = new URLSearchParams({ asset_id: String(a.asset_id), limit: 10 });
    if (dedupe.checked) p.set("dedupe", "true");
    if (same.checked && a.category) p.set("filters", JSON.stringify({ categories: [a.category] }));
    try {
      const res = await api(`/developer/v1/sfx/similar?${p}`);
      list.replaceChildren(sfxTable(res.tracks, null));
    } catch (e) { list.replaceChildren(h("p", { class: "error" }, e.message)); }
  }
  dedupe.onchange = loadSimilar;
  same.onchange = loadSimilar;
  await loadSimilar();
}

async function sfxDupes(root) {
  const meta = h("div", { class: "meta-line", "aria-live": "polite" }, "Finding near-duplicates…");
  const list = h("div", {});
  root.append(h("p", { class: "muted" }, "Sounds whose embeddings are nearly identical (re-encodes, trims, level changes). Keep one of each group."), meta, list);
  let offset = 0;
  async function load() {
    let res;
    try { res = await api(`/ui/api/duplicates?kind=sfx&limit=${PAGE}&offset=${offset}`); } catch (e) { meta.replaceChildren(h("span", { class: "error" }, e.message)); return; }
    meta.replaceChildren(h("span", {}, h("b", {}, String(res.meta.total)), " groups"));
    list.replaceChildren(...res.groups.map((g, i) => h("div", { class: "group panel" },
      h("h2", {}, `Group ${offset + i + 1} (${g.length} sounds)`), sfxTable(g, null))),
    pager(offset, res.meta.total, (o) => { offset = o; load(); }));
  }
  await load();
}

// -- waveform --------------------------------------------------------------------------------
/* A canvas with the asset's peaks; overlays: beats, audible region, true peak, segments.
   Clicking seeks the footer player (starting the asset if needed); a playhead follows it. */
function waveformView({ asset, height = 160 }) {
  const canvas = h("canvas", { class: "wave", role: "img", "aria-label": `Waveform of ${asset.name}`, style: `height:${height}px` });
  const view = { el: h("div", { class: "wave-wrap" }, canvas), canvas, data: null, beats: [], segments: [], loop: null, raf: 0 };
  view.duration = asset.duration || 1;
  view.load = async () => {
    const points = Math.min(4000, Math.max(200, Math.round(canvas.clientWidth || 800)));
    try {
      view.data = await api(`/ui/api/assets/${asset.asset_id}/waveform?points=${points}`);
      if (view.data.duration) view.duration = view.data.duration;
    } catch (e) { status(`Waveform: ${e.message}`, "error"); }
    view.draw();
  };
  view.draw = () => {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 800, hh = canvas.clientHeight || height;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(hh * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hh);
    const x = (t) => (t / view.duration) * w;
    // candidate segments: kept parts shaded, joins marked
    view.segments.forEach(([a, b], i) => {
      g.fillStyle = i % 2 ? "rgba(242,165,65,.30)" : "rgba(31,111,235,.20)";
      g.fillRect(x(a), 0, Math.max(1, x(b) - x(a)), hh);
    });
    if (asset.sound_start_sec !== null && asset.sound_start_sec !== undefined && asset.kind === "sfx") {
      g.fillStyle = "rgba(31,111,235,.18)";
      g.fillRect(x(asset.sound_start_sec), 0, x(asset.sound_end_sec ?? view.duration) - x(asset.sound_start_sec), hh);
      g.strokeStyle = "#1f6feb"; g.lineWidth = 1.5;
      for (const t of [asset.sound_start_sec, asset.sound_end_sec]) if (t !== null && t !== undefined) { g.beginPath(); g.moveTo(x(t), 0); g.lineTo(x(t), hh); g.stroke(); }
    }
    // beat grid (downbeats every 4th, darker)
    view.beats.forEach((t, i) => {
      g.strokeStyle = i % 4 === 0 ? "rgba(180,35,24,.55)" : "rgba(90,100,110,.22)";
      g.lineWidth = 1;
      g.beginPath(); g.moveTo(Math.round(x(t)) + 0.5, 0); g.lineTo(Math.round(x(t)) + 0.5, hh); g.stroke();
    });
    const mid = hh / 2;
    if (view.data && view.data.peaks.length) {
      const pk = view.data.peaks, n = pk.length;
      g.fillStyle = "#2c3e50";
      for (let i = 0; i < n; i++) {
        const x0 = (i / n) * w, bw = Math.max(1, w / n);
        const lo = pk[i][0], hi = pk[i][1];
        g.fillRect(x0, mid - hi * mid * 0.95, bw, Math.max(1, (hi - lo) * mid * 0.95));
      }
    } else {
      g.fillStyle = "#8895a2"; g.fillText("loading waveform…", 10, mid);
    }
    if (asset.kind === "sfx" && asset.true_peak_dbtp !== null && asset.true_peak_dbtp !== undefined) {
      const amp = Math.min(1, Math.pow(10, asset.true_peak_dbtp / 20));
      g.strokeStyle = "#b42318"; g.setLineDash([5, 4]); g.lineWidth = 1;
      for (const yy of [mid - amp * mid * 0.95, mid + amp * mid * 0.95]) { g.beginPath(); g.moveTo(0, yy); g.lineTo(w, yy); g.stroke(); }
      g.setLineDash([]);
      g.fillStyle = "#b42318"; g.font = "11px system-ui"; g.fillText(`true peak ${fmtNum(asset.true_peak_dbtp)} dBTP`, 6, Math.max(11, mid - amp * mid * 0.95 - 3));
    }
    // playhead
    const p = player();
    if (state.playing && state.playing.id === String(asset.asset_id) && p.src.includes("/audio")) {
      g.strokeStyle = "#f2a541"; g.lineWidth = 2;
      g.beginPath(); g.moveTo(x(p.currentTime), 0); g.lineTo(x(p.currentTime), hh); g.stroke();
    }
  };
  canvas.addEventListener("click", (e) => {
    const t = (e.offsetX / canvas.clientWidth) * view.duration;
    const p = player();
    if (!(state.playing && state.playing.id === String(asset.asset_id) && p.src.includes("/audio"))) play(asset);
    const seek = () => { p.currentTime = t; };
    if (p.readyState >= 1) seek(); else p.addEventListener("loadedmetadata", seek, { once: true });
  });
  const tick = () => { view.draw(); view.raf = requestAnimationFrame(tick); };
  player().addEventListener("play", () => { cancelAnimationFrame(view.raf); if (canvas.isConnected) tick(); });
  player().addEventListener("pause", () => { cancelAnimationFrame(view.raf); if (canvas.isConnected) view.draw(); });
  window.addEventListener("resize", () => canvas.isConnected && view.draw());
  return view;
}

// -- self-similarity matrix -------------------------------------------------------------------
/* Audjust's similarity string: the lower triangle row by row, entry (i, j) with i >= j is
   character (i + 1) * i / 2 + j, its value (code - min) / (max - min), 1 = identical. */
function decodeSimilarity(sim) {
  const codes = Array.from(sim.data, (c) => c.codePointAt(0));
  const n = Math.round((Math.sqrt(8 * codes.length + 1) - 1) / 2);
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = Math.min(1, Math.max(0, (codes[(i + 1) * i / 2 + j] - sim.min) / (sim.max - sim.min)));
      m[i * n + j] = v; m[j * n + i] = v;
    }
  }
  return { n, m };
}
const COLORS = [[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64], [240, 249, 33]]; // plasma
function colormap(v) {
  const x = v * (COLORS.length - 1), i = Math.min(COLORS.length - 2, Math.floor(x)), f = x - i;
  return COLORS[i].map((c, k) => Math.round(c + (COLORS[i + 1][k] - c) * f));
}
function drawMatrix(canvas, sim) {
  const { n, m } = decodeSimilarity(sim);
  const g = canvas.getContext("2d");
  canvas.width = n; canvas.height = n;
  const img = g.createImageData(n, n);
  for (let k = 0; k < n * n; k++) {
    const [r, gg, b] = colormap(m[k]);
    img.data[4 * k] = r; img.data[4 * k + 1] = gg; img.data[4 * k + 2] = b; img.data[4 * k + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  return n;
}

// -- asset page (song or sound effect) -------------------------------------------------------
routes.asset = async (main, r) => {
  if (needKey(main)) return;
  const info = await api(`/ui/api/assets/${encodeURIComponent(r.arg)}/analysis`);
  const a = info.asset;
  main.append(h("h1", {}, a.name, a.artist ? h("span", { class: "muted" }, ` — ${a.artist}`) : ""));
  if (a.kind === "sfx") {
    main.append(h("div", { class: "actions" }, playButton(a)));
    await sfxDetail(main, a);
    return;
  }
  const beats = info.beats;
  const wave = waveformView({ asset: a });
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Length"), h("dd", {}, fmtTime(a.duration)),
    h("dt", {}, "Tempo"), h("dd", {}, beats ? `${fmtNum(beats.tempo, 0)} BPM` : (a.bpm ? `${fmtNum(a.bpm, 0)} BPM` : "–")),
    h("dt", {}, "Beats"), h("dd", {}, beats ? String(beats.boundaries.length) : "not analyzed"),
    h("dt", {}, "Genre"), h("dd", {}, a.genre || "–"),
    h("dt", {}, "Album"), h("dd", {}, a.album || "–"),
    h("dt", {}, "Loudness"), h("dd", {}, a.loudness_lufs !== null && a.loudness_lufs !== undefined ? `${fmtNum(a.loudness_lufs)} LUFS` : "–"),
    h("dt", {}, "True peak"), h("dd", {}, a.true_peak_dbtp !== null && a.true_peak_dbtp !== undefined ? `${fmtNum(a.true_peak_dbtp)} dBTP` : "–"));
  const matrix = h("canvas", { class: "matrix", role: "img", "aria-label": "Self-similarity matrix of the beats (bright: similar)" });
  main.append(h("div", { class: "song-grid" },
    h("section", { class: "panel", "aria-label": "Waveform" },
      h("div", { class: "actions" }, playButton(a),
        h("a", { href: `#/search?like=${a.asset_id}` }, "More like this"),
        h("a", { href: audioUrl(a.asset_id), download: "" }, "Download original")),
      h("p", { class: "muted small" }, "Click the waveform to play from there. Red lines: bars; grey: beats; shaded: the selected edit's segments."),
      wave.el, facts),
    h("section", { class: "panel", "aria-label": "Self-similarity" },
      h("h2", {}, "Self-similarity"),
      beats && beats.similarity ? matrix : h("p", { class: "muted" }, "No similarity matrix for this track."),
      h("p", { class: "muted small" }, "Beat against beat, time runs down and right; bright squares off the diagonal are repeated sections."))));
  if (beats) wave.beats = beats.boundaries;
  wave.load();
  if (beats && beats.similarity) drawMatrix(matrix, beats.similarity);
  if (beats && beats.similarity) resizePanel(main, a, beats, wave);
  state.page.cleanup = () => previewStop();
};

// WebAudio preview: the song decoded once, segments scheduled back to back with short fades
const preview = { ctx: null, buffers: {}, nodes: [] };
async function songBuffer(id) {
  if (!preview.ctx) preview.ctx = new AudioContext();
  if (!preview.buffers[id]) {
    const r = await fetch(audioUrl(id));
    if (!r.ok) throw new Error(`audio: HTTP ${r.status}`);
    preview.buffers[id] = await preview.ctx.decodeAudioData(await r.arrayBuffer());
  }
  return preview.buffers[id];
}
function previewStop() {
  preview.nodes.forEach((n) => { try { n.stop(); } catch (e) { /* already stopped */ } });
  preview.nodes = [];
}
async function previewPlay(id, segments, loop) {
  previewStop();
  player().pause();
  const buf = await songBuffer(id);
  const ctx = preview.ctx;
  await ctx.resume();
  const fade = 0.012;
  if (loop) {
    const [a, b] = segments[0];
    const src = ctx.createBufferSource();
    src.buffer = buf; src.loop = true; src.loopStart = a; src.loopEnd = b;
    src.connect(ctx.destination);
    src.start(ctx.currentTime + 0.05, a);
    preview.nodes.push(src);
    return;
  }
  let when = ctx.currentTime + 0.05;
  for (const [a, b] of segments) {
    const src = ctx.createBufferSource();
    const gain = ctx.createGain();
    src.buffer = buf;
    src.connect(gain).connect(ctx.destination);
    const d = b - a;
    gain.gain.setValueAtTime(0, when);
    gain.gain.linearRampToValueAtTime(1, when + fade);
    gain.gain.setValueAtTime(1, when + d - fade);
    gain.gain.linearRampToValueAtTime(0, when + d);
    src.start(when, a, d);
    preview.nodes.push(src);
    when += d - fade;
  }
}

function resizePanel(main, a, beats, wave) {
  const duration = a.duration;
  const target = h("input", { type: "number", min: "1", step: "1", name: "target", value: String(Math.max(5, Math.round(duration / 2))) });
  const loop = h("input", { type: "checkbox", name: "loop", id: nextId("loop") });
  const form = h("form", { class: "filters" },
    field("Target length (s)", target), h("label", { class: "inline-check", for: loop.id }, loop, "Loop mode (seamless loops)"),
    h("button", { type: "submit", class: "primary" }, "Find edits"));
  const out = h("div", { "aria-live": "polite" });
  main.append(h("section", { class: "panel", "aria-label": "Resize" },
    h("h2", {}, "Resize"), h("p", { class: "muted small" }, `Shorten or lengthen the track to about the target length, cutting on the beat where the music repeats (${fmtTime(duration)} now).`), form, out));
  // the song's end is the last boundary, so an edit keeps the last beat's decay
  const bounds = beats.boundaries.slice();
  if (duration - bounds[bounds.length - 1] > 0.01) bounds.push(duration);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    previewStop();
    out.replaceChildren(h("p", {}, "Finding edits…"));
    let res;
    try {
      res = await api(loop.checked ? "/loop" : "/resize", { body: { targetLengthSeconds: Number(target.value), similarity: beats.similarity, boundaries: bounds } });
    } catch (err) { out.replaceChildren(h("p", { class: "error" }, err.message)); return; }
    const cands = res.result || [];
    if (!cands.length) { out.replaceChildren(h("p", { class: "muted" }, "No edit found near that length.")); return; }
    const isLoop = loop.checked;
    const items = cands.map((c, i) => candidateItem(a, c, i, isLoop, wave));
    out.replaceChildren(h("p", {}, `${cands.length} candidates, best first. `, h("span", { class: "muted small" }, "Preview plays in the browser; Render plays the server's edit (crossfaded, loudness-matched).")),
      h("ol", { class: "candidates", "data-testid": "candidates" }, items));
    select(items[0], cands[0], wave);
  });
}
function select(li, c, wave) {
  li.parentElement.querySelectorAll("li").forEach((x) => x.classList.toggle("selected", x === li));
  wave.segments = c.segmentsSeconds;
  wave.draw();
}
function candidateItem(a, c, i, isLoop, wave) {
  const mini = h("canvas", { class: "mini", role: "img", "aria-label": `Segments kept: ${c.segmentsSeconds.map(([s, e]) => `${fmtTime(s)}–${fmtTime(e)}`).join(", ")}` });
  const li = h("li", {});
  const download = async (fmt) => {
    status(`Rendering ${fmt === "wav" ? "WAV" : "MP3"}…`);
    try {
      const blob = await api(`/ui/api/assets/${a.asset_id}/render`, { body: { segments: c.segmentsSeconds, format: fmt, loop: isLoop }, blob: true });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `${a.name.replace(/[^\w-]+/g, "-")}-${Math.round(c.durationSeconds)}s${isLoop ? "-loop" : ""}.${fmt === "wav" ? "wav" : "mp3"}` });
      document.body.append(link); link.click(); link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      clearStatus();
    } catch (e) { status(e.message, "error"); }
  };
  li.append(
    h("div", { class: "head" },
      h("b", {}, `#${i + 1}`), h("span", {}, `${fmtTime(c.durationSeconds)}`),
      h("span", { class: "muted" }, `score ${fmtNum(c.blendedScore, 3)}`),
      h("span", { class: "muted" }, `${c.segmentsSeconds.length} segment${c.segmentsSeconds.length > 1 ? "s" : ""}`),
      h("span", { class: "actions" },
        h("button", { type: "button", onclick: () => { select(li, c, wave); previewPlay(a.asset_id, c.segmentsSeconds, isLoop).catch((e) => status(e.message, "error")); } }, isLoop ? "▶ Preview loop" : "▶ Preview"),
        h("button", { type: "button", onclick: previewStop }, "■ Stop"),
        h("button", { type: "button", onclick: async () => {
          select(li, c, wave); previewStop(); status("Rendering…");
          try {
            const blob = await api(`/ui/api/assets/${a.asset_id}/render`, { body: { segments: c.segmentsSeconds, format: "wav", loop: isLoop }, blob: true });
            play(null, URL.createObjectURL(blob), `${a.name} — edit #${i + 1} (${fmtTime(c.durationSeconds)})`);
            player().loop = isLoop;
            clearStatus();
          } catch (e) { status(e.message, "error"); }
        } }, "Render & play"),
        h("button", { type: "button", onclick: () => download("mp3_320") }, "Download MP3"),
        h("button", { type: "button", onclick: () => download("wav") }, "Download WAV"),
        h("button", { type: "button", onclick: () => select(li, c, wave) }, "Show on waveform"))),
    mini);
  li.addEventListener("focusin", () => select(li, c, wave));
  requestAnimationFrame(() => {
    const w = mini.clientWidth || 600, hh = 18, dpr = window.devicePixelRatio || 1;
    mini.width = w * dpr; mini.height = hh * dpr;
    const g = mini.getContext("2d"); g.scale(dpr, dpr);
    const x = (t) => (t / a.duration) * w;
    c.segmentsSeconds.forEach(([s, e], k) => { g.fillStyle = k % 2 ? "#f2a541" : "#1f6feb"; g.fillRect(x(s), 2, Math.max(1, x(e) - x(s)), hh - 4); });
  });
  return li;
}

// -- recognize -------------------------------------------------------------------------------
routes.recognize = async (main) => {
  main.append(h("h1", { text: "Recognize a song" }));
  if (needKey(main)) return;
  const file = h("input", { type: "file", accept: "audio/*,video/*", name: "file" });
  const go = h("button", { type: "submit", class: "primary" }, "Recognize");
  const rec = h("button", { type: "button" }, "● Record from microphone");
  const recState = h("span", { class: "muted", "aria-live": "polite" });
  const out = h("div", { "aria-live": "polite", "data-testid": "recognize-result" });
  const form = h("form", { class: "filters panel" }, field("Audio file (a few seconds are enough)", file, "grow"), go);
  main.append(form, h("div", { class: "panel" }, h("div", { class: "actions" }, rec, recState),
    h("p", { class: "muted small" }, "Record 5–10 seconds of the song playing nearby, then press Stop.")), out);

  async function recognize(blob, name) {
    out.replaceChildren(h("p", {}, "Listening…"));
    const fd = new FormData();
    fd.append("file", blob, name);
    let res;
    try { res = await api("/ui/api/recognize", { body: fd }); } catch (e) { out.replaceChildren(h("p", { class: "error" }, e.message)); return; }
    if (!res.matches.length) { out.replaceChildren(h("div", { class: "panel" }, h("p", {}, "No match in the catalog."))); return; }
    out.replaceChildren(...res.matches.map((m, i) => h("div", { class: "panel match" },
      i === 0 ? null : h("p", { class: "muted small" }, "Also possible:"),
      h("div", { class: "title" }, h("a", { href: `#/asset/${m.asset.asset_id}` }, m.asset.name)),
      h("div", {}, [m.asset.artist, m.asset.album].filter(Boolean).join(" — ")),
      h("dl", { class: "facts" },
        h("dt", {}, "Timecode"), h("dd", { "data-testid": "timecode" }, m.timecode),
        h("dt", {}, "Score"), h("dd", {}, h("meter", { min: "0", max: "100", value: String(m.score), "aria-label": "score" }), ` ${m.score} / 100`)),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => {
        play(m.asset);
        const p = player();
        const seek = () => { p.currentTime = m.offset_s; };
        if (p.readyState >= 1) seek(); else p.addEventListener("loadedmetadata", seek, { once: true });
      } }, `▶ Play from ${m.timecode}`)))));
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!file.files.length) { status("Choose a file first.", "error"); file.focus(); return; }
    recognize(file.files[0], file.files[0].name);
  });
  let recorder = null, chunks = [], started = 0, timer = 0;
  rec.addEventListener("click", async () => {
    if (recorder) { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) { status("This browser cannot record (microphone needs https or localhost).", "error"); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (e) { status(`Microphone: ${e.message}`, "error"); return; }
    chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(timer);
      const type = recorder.mimeType || "audio/webm";
      recorder = null;
      rec.textContent = "● Record from microphone";
      recState.textContent = "";
      recognize(new Blob(chunks, { type }), type.includes("ogg") ? "mic.ogg" : "mic.webm");
    };
    recorder.start();
    started = Date.now();
    rec.textContent = "■ Stop and recognize";
    timer = setInterval(() => { recState.replaceChildren(h("span", { class: "rec-dot" }), `recording ${Math.round((Date.now() - started) / 1000)} s`); }, 250);
    state.page.cleanup = () => { if (recorder) { recorder.onstop = null; recorder.stop(); stream.getTracks().forEach((t) => t.stop()); clearInterval(timer); recorder = null; } };
  });
};

// -- keys and usage --------------------------------------------------------------------------
function adminHeaders() { return { Authorization: `Bearer ${state.admin}` }; }

function renderTable(rows, cols) {
  if (!rows || !rows.length) return h("p", { class: "muted" }, "Nothing yet.");
  cols = cols || Object.keys(rows[0]).filter((k) => typeof rows[0][k] !== "object" || rows[0][k] === null);
  return h("table", { class: "list" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, cols.map((c) => h("td", {}, r[c] === null || r[c] === undefined ? "–" : String(r[c])))))));
}
function usageView(rep) {
  const c = rep.credits || {};
  const endpoints = rep.byEndpoint || [];
  return h("div", {},
    h("dl", { class: "facts" },
      h("dt", {}, "Key"), h("dd", {}, `${rep.key?.name || ""} (${rep.key?.prefix || ""}…, id ${rep.key?.id ?? "?"})`),
      h("dt", {}, "Tier"), h("dd", {}, rep.tier?.name || rep.key?.tier || "–"),
      h("dt", {}, "Rate limit"), h("dd", {}, rep.rateLimit?.requestsPerMinute ? `${rep.rateLimit.requestsPerMinute} / min` : "none"),
      h("dt", {}, "Credits"), h("dd", {}, `${c.used ?? 0} used of ${c.limit === null || c.limit === undefined || c.limit < 0 ? "unlimited" : c.limit} (last ${c.windowDays ?? 30} days)`),
      h("dt", {}, "Requests"), h("dd", {}, `${rep.requests ?? 0} (${rep.errors ?? 0} errors)`)),
    h("h2", {}, "Per endpoint"), renderTable(endpoints),
    h("h2", {}, "Recent requests"), renderTable((rep.recentRequests || []).slice(0, 20)),
    h("h2", {}, "Recent jobs"), renderTable((rep.recentJobs || []).slice(0, 20)));
}

routes.keys = async (main) => {
  main.append(h("h1", { text: "Keys & usage" }));
  const mine = h("div", {});
  if (state.key) {
    main.append(h("section", { class: "panel", "aria-label": "Your usage" }, h("h2", {}, "This key's usage"), mine));
    api("/usage").then((rep) => mine.replaceChildren(usageView(rep))).catch((e) => mine.replaceChildren(h("p", { class: "error" }, e.message)));
  }
  const token = h("input", { type: "password", name: "admin", value: state.admin, autocomplete: "off" });
  const adminForm = h("form", { class: "filters" }, field("Admin token (TONEARM_ADMIN_TOKEN)", token, "grow"), h("button", { type: "submit", class: "primary" }, "Open admin"));
  const admin = h("div", { "aria-live": "polite" });
  main.append(h("section", { class: "panel", "aria-label": "Administration" }, h("h2", {}, "Administration"), adminForm, admin));

  async function loadAdmin() {
    admin.replaceChildren(h("p", {}, "Loading…"));
    let keys, tiers;
    try {
      [keys, tiers] = await Promise.all([api("/admin/keys", { headers: adminHeaders(), noKey: true }), api("/admin/tiers", { headers: adminHeaders(), noKey: true })]);
    } catch (e) { admin.replaceChildren(h("p", { class: "error" }, e.message)); return; }
    const name = h("input", { type: "text", name: "name", required: true, placeholder: "e.g. sound team laptop" });
    const tier = h("select", { name: "tier" }, tiers.tiers.map((t) => h("option", { value: t.name }, t.name)));
    const created = h("div", { "aria-live": "polite" });
    // scopes: read (search, recognize, edit audio), write (change the catalog), admin (this page)
    const scopeBoxes = ["read", "write", "admin"].map((s) => h("input", { type: "checkbox", name: `scope-${s}`, value: s, checked: s === "read" }));
    const scopes = h("span", { class: "scopes" }, scopeBoxes.map((b) => h("label", {}, b, " " + b.value)));
    const account = h("input", { type: "text", name: "account", placeholder: "new account; 'operator': shared catalog" });
    const createForm = h("form", { class: "filters" }, field("New key name", name, "grow"), field("Tier", tier), field("Scopes", scopes), field("Account", account), h("button", { type: "submit" }, "Create key"));
    const usage = h("div", {});
    createForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const body = { name: name.value, tier: tier.value, scopes: scopeBoxes.filter((b) => b.checked).map((b) => b.value) };
        if (account.value.trim()) body.account = account.value.trim();
        const k = await api("/admin/keys", { body, headers: adminHeaders(), noKey: true });
        created.replaceChildren(h("p", {}, "New key (shown once, copy it now):"), h("div", { class: "secret" }, k.key),
          h("button", { type: "button", onclick: () => { setKey(k.key); } }, "Use this key in the UI"));
        const again = created; await loadAdmin(); admin.prepend(again);
      } catch (err) { status(err.message, "error"); }
    });
    admin.replaceChildren(createForm, created,
      h("table", { class: "list", "data-testid": "keys" },
        h("thead", {}, h("tr", {}, ["Id", "Name", "Prefix", "Tier", "Scopes", "Account", "Requests/min", "Credits/30 d", "Created", "Status", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, keys.keys.map((k) => h("tr", {},
          h("td", {}, String(k.id)), h("td", {}, k.name), h("td", {}, h("code", {}, k.prefix)), h("td", {}, k.tier),
          h("td", { "data-testid": "scopes" }, (k.scopes || []).join(", ") || "none"), h("td", {}, k.account || ""),
          h("td", {}, k.requestsPerMinute ? String(k.requestsPerMinute) : "none"),
          h("td", {}, k.monthlyCredits === null || k.monthlyCredits < 0 ? "unlimited" : String(k.monthlyCredits)),
          h("td", {}, (k.createdAt || "").slice(0, 10)), h("td", {}, k.active ? h("span", { class: "ok" }, "active") : "revoked"),
          h("td", { class: "actions" },
            h("button", { type: "button", onclick: async () => {
              try { usage.replaceChildren(h("h2", {}, `Usage of ${k.name}`), usageView(await api(`/admin/usage/${k.id}`, { headers: adminHeaders(), noKey: true }))); usage.scrollIntoView(); } catch (e) { status(e.message, "error"); }
            } }, "Usage"),
            k.active ? h("button", { type: "button", onclick: async () => {
              const next = prompt(`Scopes of "${k.name}" (comma-separated: read, write, admin)`, (k.scopes || []).join(","));
              if (next === null) return;
              const list = next.split(",").map((x) => x.trim()).filter(Boolean);
              try { await api(`/admin/keys/${k.id}`, { method: "PATCH", body: { scopes: list }, headers: adminHeaders(), noKey: true }); loadAdmin(); } catch (e) { status(e.message, "error"); }
            } }, "Scopes") : null,
            k.active ? h("button", { type: "button", class: "danger", onclick: async () => {
              if (!confirm(`Revoke key "${k.name}"? It stops working at once.`)) return;
              try { await api(`/admin/keys/${k.id}`, { method: "DELETE", headers: adminHeaders(), noKey: true }); loadAdmin(); } catch (e) { status(e.message, "error"); }
            } }, "Revoke") : null))))),
      usage);
  }
  adminForm.addEventListener("submit", (e) => {
    e.preventDefault();
    state.admin = token.value.trim();
    localStorage.setItem(ADMIN_STORE, state.admin);
    loadAdmin();
  });
  if (state.admin) loadAdmin();
};

// -- key box ---------------------------------------------------------------------------------
function keyState(msg, bad) {
  const s = $("#key-state");
  s.textContent = msg;
  s.style.color = bad ? "#ffb4a8" : "";
}
// the audio cookie follows the key: set for a key, cleared without one
async function syncSession() {
  try {
    if (state.key) await api("/ui/api/session", { method: "POST" });
    else await fetch("/ui/api/session", { method: "DELETE" });
  } catch (e) { /* a refused key is reported by keyState through api() */ }
}
async function setKey(k) {
  state.key = k.trim();
  state.facets = null;
  if (state.key) localStorage.setItem(KEY_STORE, state.key); else localStorage.removeItem(KEY_STORE);
  $("#api-key").value = state.key;
  keyState(state.key ? "saved" : "no key");
  await syncSession();
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#api-key").value = state.key;
  keyState(state.key ? "saved" : "no key");
  $("#key-form").addEventListener("submit", (e) => { e.preventDefault(); setKey($("#api-key").value); });
  const p = player();
  ["play", "pause", "ended", "emptied"].forEach((ev) => p.addEventListener(ev, syncPlayButtons));
  p.addEventListener("error", () => { if (p.src) status("The audio could not be played (check the key).", "error"); });
  syncSession().then(route);
});
