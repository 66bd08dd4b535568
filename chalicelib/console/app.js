// Review console. Plain JavaScript, no library, no build step.
// Every text from the API (bodies, authors, notes, model ids) is hostile input: it only ever
// reaches the page through text nodes or attributes, never parsed as markup. The server's
// Content-Security-Policy allows no inline script, so this file is the only code that runs.
"use strict";

(function () {
  const page = document.body.dataset;
  const AUTH = page.auth || "none"; // none | api_key | iam (the stage's API_AUTH)
  // Filters GET /comments offers on this server; the others are applied to each page here.
  const SERVER_PARAMS = new Set((page.params || "").split(",").filter(Boolean));
  const OFFLINE_PREFIX = page.offlinePrefix || "devtools/";
  const KEY_STORE = "reddit-hate-watch.api-key";
  const PAGE_SIZE = 25;
  // Volume windows are counted from GET /comments pages: at most this many comments are read.
  const WINDOW_PAGE_SIZE = 100;
  const WINDOW_MAX_PAGES = 20;
  const DAY = 86400;
  const DEFAULTS = { subreddit: "", label: "hate", reviewed: "false", min_score: "" };
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const state = { filters: { ...DEFAULTS }, cursor: null, nextCursor: null, offlineModels: new Set() };

  // -- small DOM helpers (text only) -------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  const isOffline = (model) => typeof model === "string" && model.startsWith(OFFLINE_PREFIX);

  function noteModel(model) {
    if (!isOffline(model) || state.offlineModels.has(model)) return;
    state.offlineModels.add(model);
    $("offline-model").textContent = [...state.offlineModels].join(", ");
    $("offline-banner").hidden = false;
  }

  const percent = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)}% hate` : "");
  const utc = (epoch) => new Date(epoch * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";

  // P(hate): the API's p_hate when it has one; otherwise derived from the label's own score.
  function pHate(item) {
    if (typeof item.p_hate === "number") return item.p_hate;
    if (typeof item.score !== "number") return null;
    return item.label === "hate" ? item.score : 1 - item.score;
  }

  function redditLink(permalink) {
    if (typeof permalink !== "string" || !permalink.startsWith("/")) return null;
    const url = new URL(permalink, "https://www.reddit.com");
    return url.origin === "https://www.reddit.com" ? url.href : null;
  }

  // -- the API ------------------------------------------------------------------------------
  class AuthNeeded extends Error {}

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (AUTH === "api_key") {
      const key = sessionStorage.getItem(KEY_STORE);
      if (!key) throw new AuthNeeded("API key needed");
      headers["x-api-key"] = key;
    }
    // Relative URLs: the page lives beside the API, under the stage's path (/api/ on API Gateway).
    const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
    if ((response.status === 403 || response.status === 401) && AUTH === "api_key") {
      sessionStorage.removeItem(KEY_STORE);
      throw new AuthNeeded("the API refused the key");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_err) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && (body.Message || body.message);
      throw new Error(`${options.method || "GET"} ${path}: ${response.status}${detail ? ` – ${detail}` : ""}`);
    }
    return body;
  }

  function askForKey(reason) {
    $("console").hidden = true;
    $("key-form").hidden = false;
    showError(reason && reason !== "API key needed" ? `${reason}: enter it again` : "");
    $("api-key").focus();
  }

  async function guarded(work) {
    try {
      await work();
    } catch (err) {
      if (err instanceof AuthNeeded) askForKey(err.message);
      else showError(err.message);
    }
  }

  // -- filters in the URL ---------------------------------------------------------------------
  function readFilters() {
    const query = new URLSearchParams(window.location.search);
    const pick = (name, allowed) => {
      const value = (query.get(name) || "").trim().toLowerCase();
      return allowed.includes(value) ? value : DEFAULTS[name];
    };
    const subreddit = (query.get("subreddit") || "").trim().replace(/^r\//i, "");
    const minScore = Number.parseFloat(query.get("min_score") || "");
    return {
      subreddit: /^[A-Za-z0-9_]{2,21}$/.test(subreddit) ? subreddit.toLowerCase() : "",
      label: pick("label", ["hate", "nothate", "all"]),
      reviewed: pick("reviewed", ["true", "false", "all"]),
      min_score: Number.isFinite(minScore) && minScore > 0 && minScore <= 1 ? String(minScore) : "",
    };
  }

  function showFilters(filters) {
    $("f-subreddit").value = filters.subreddit;
    $("f-label").value = filters.label;
    $("f-reviewed").value = filters.reviewed;
    $("f-min-score").value = filters.min_score;
    const local = [];
    if (filters.reviewed !== "all" && !SERVER_PARAMS.has("reviewed")) local.push("review state");
    if (filters.min_score && !SERVER_PARAMS.has("min_score")) local.push("minimum P(hate)");
    const note = $("filter-note");
    note.textContent = local.length
      ? `This API does not filter by ${local.join(" or ")} yet: those filters are applied to each page here, ` +
        "so a page may show fewer than 25 comments."
      : "";
    note.hidden = !local.length;
  }

  // The view as a URL query: label and review state always explicit, so a bookmark keeps its meaning.
  function filtersFromForm() {
    const form = new FormData($("filters"));
    const query = new URLSearchParams();
    const subreddit = String(form.get("subreddit") || "").trim();
    if (subreddit) query.set("subreddit", subreddit);
    query.set("label", String(form.get("label") || DEFAULTS.label));
    query.set("reviewed", String(form.get("reviewed") || DEFAULTS.reviewed));
    const minScore = String(form.get("min_score") || "").trim();
    if (minScore) query.set("min_score", minScore);
    return query;
  }

  function apiQuery(filters, cursor) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (filters.subreddit) query.set("subreddit", filters.subreddit);
    if (filters.label !== "all") query.set("label", filters.label);
    if (filters.reviewed !== "all" && SERVER_PARAMS.has("reviewed")) query.set("reviewed", filters.reviewed);
    if (filters.min_score && SERVER_PARAMS.has("min_score")) query.set("min_score", filters.min_score);
    if (cursor) query.set("cursor", cursor);
    return query;
  }

  // What the server could not filter, applied to the page it returned.
  function keep(item, filters) {
    if (filters.reviewed !== "all" && !SERVER_PARAMS.has("reviewed")) {
      const reviewed = item.verdict === "hate" || item.verdict === "nothate";
      if (reviewed !== (filters.reviewed === "true")) return false;
    }
    if (filters.min_score && !SERVER_PARAMS.has("min_score")) {
      const p = pHate(item);
      if (p === null || p < Number(filters.min_score)) return false;
    }
    return true;
  }

  // -- the queue ------------------------------------------------------------------------------
  function verdictText(item) {
    if (!item.verdict) return "not reviewed";
    const when = typeof item.reviewed_at === "number" ? ` on ${utc(item.reviewed_at)}` : "";
    const who = item.reviewer ? ` by ${item.reviewer}` : "";
    return `reviewed: ${item.verdict === "hate" ? "hate" : "not hate"}${when}${who}`;
  }

  function renderComment(item) {
    noteModel(item.model);
    const p = pHate(item);
    const link = redditLink(item.permalink);
    const meta = el("div", { class: "meta" },
      el("span", { class: "phate", title: "probability of hate" }, p === null ? "P(hate) –" : `P(hate) ${p.toFixed(2)}`),
      el("span", { class: "label" }, item.label || "unlabelled"),
      el("span", { class: "subreddit" }, `r/${item.subreddit || "?"}`),
      el("span", { class: "author" }, item.author ? `u/${item.author}` : "[unknown author]"),
      el("time", { datetime: new Date((item.created_utc || 0) * 1000).toISOString() }, utc(item.created_utc || 0)),
      el("span", { class: "model" }, item.model || "model not recorded"),
      link ? el("a", { href: link, rel: "noopener noreferrer nofollow", target: "_blank" }, "open on Reddit") : "");
    const verdict = el("span", { class: `verdict${item.verdict ? ` v-${item.verdict}` : ""}` }, verdictText(item));
    const note = el("input", { type: "text", maxlength: "500", placeholder: "note (optional)",
                               class: "note", "aria-label": "review note" });
    if (item.review_note) note.value = item.review_note;
    const row = el("li", { class: `comment label-${item.label}`, "data-id": item.comment_id },
      meta,
      el("p", { class: "body" }, item.body === undefined || item.body === null ? "" : String(item.body)),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "review-hate" }, "Hate"),
        el("button", { type: "button", class: "review-nothate" }, "Not hate"),
        note, verdict));
    row.querySelector(".review-hate").addEventListener("click", () => review(row, "hate"));
    row.querySelector(".review-nothate").addEventListener("click", () => review(row, "nothate"));
    return row;
  }

  async function review(row, verdict) {
    const note = row.querySelector("input.note").value.trim();
    const buttons = row.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    await guarded(async () => {
      try {
        const id = row.dataset.id;
        const item = await api(`comments/${encodeURIComponent(id)}/review`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(note ? { verdict, note } : { verdict }),
        });
        showError("");
        if (state.filters.reviewed === "false") {
          row.remove(); // reviewed: out of the unreviewed queue
          $("queue-empty").hidden = $("queue").children.length > 0;
        } else {
          row.replaceWith(renderComment(item));
        }
        await loadReviews();
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  }

  async function loadQueue(cursor) {
    const filters = state.filters;
    const page = await api(`comments?${apiQuery(filters, cursor)}`);
    const list = $("queue");
    list.replaceChildren(...page.items.filter((item) => keep(item, filters)).map(renderComment));
    $("queue-empty").hidden = list.children.length > 0;
    state.cursor = cursor || null;
    state.nextCursor = page.next_cursor || null;
    $("next-page").disabled = !state.nextCursor;
    $("first-page").disabled = !state.cursor;
  }

  // -- overview: windows, chart, reviews --------------------------------------------------------
  async function loadWindows() {
    const now = Math.floor(Date.now() / 1000);
    const since = now - 7 * DAY;
    const days = Array.from({ length: 7 }, () => ({ total: 0, hate: 0 }));
    const last24 = { total: 0, hate: 0 };
    let cursor = null;
    let pages = 0;
    let capped = false;
    do {
      const query = new URLSearchParams({ since: String(since), limit: String(WINDOW_PAGE_SIZE) });
      if (cursor) query.set("cursor", cursor);
      const page = await api(`comments?${query}`);
      for (const item of page.items) {
        noteModel(item.model);
        const age = now - Number(item.created_utc);
        const day = Math.min(6, Math.max(0, 6 - Math.floor(age / DAY)));
        const hate = item.label === "hate" ? 1 : 0;
        days[day].total += 1;
        days[day].hate += hate;
        if (age < DAY) {
          last24.total += 1;
          last24.hate += hate;
        }
      }
      cursor = page.next_cursor;
      pages += 1;
      capped = Boolean(cursor) && pages >= WINDOW_MAX_PAGES;
    } while (cursor && !capped);
    const week = days.reduce((a, d) => ({ total: a.total + d.total, hate: a.hate + d.hate }), { total: 0, hate: 0 });
    const prefix = capped ? "≥ " : "";
    $("total-24h").textContent = `${prefix}${last24.total.toLocaleString("en")}`;
    $("rate-24h").textContent = percent(last24.hate, last24.total);
    $("total-7d").textContent = `${prefix}${week.total.toLocaleString("en")}`;
    $("rate-7d").textContent = percent(week.hate, week.total);
    $("window-note").textContent = capped
      ? `Counted from the newest ${(WINDOW_PAGE_SIZE * WINDOW_MAX_PAGES).toLocaleString("en")} comments only.`
      : (week.total ? "" : "No comments were created in the last 7 days.");
    drawChart(days);
  }

  function drawChart(days) {
    const width = 740;
    const height = 190;
    const top = 26;
    const bottom = 150;
    const max = Math.max(1, ...days.map((d) => d.total));
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    chart.append(svg("title", {}, "Comments per 24 hours, last 7 days (hate in red)"));
    chart.append(svg("line", { x1: 10, y1: bottom, x2: width - 10, y2: bottom, class: "axis" }));
    days.forEach((d, i) => {
      const x = 20 + i * 104;
      const barWidth = 64;
      const full = ((bottom - top) * d.total) / max;
      const hate = ((bottom - top) * d.hate) / max;
      const group = svg("g", { class: "day", "data-total": d.total, "data-hate": d.hate });
      // Bars are 24-hour windows back from now, so the last one is the "last 24 h" figure.
      const label = i === 6 ? "last 24 h" : `${6 - i}–${7 - i} d ago`;
      group.append(svg("title", {}, `${label}: ${d.total} comments, ${d.hate} hate`));
      group.append(svg("rect", { x, y: bottom - full, width: barWidth, height: full - hate, class: "bar-nothate" }));
      group.append(svg("rect", { x, y: bottom - hate, width: barWidth, height: hate, class: "bar-hate" }));
      group.append(svg("text", { x: x + barWidth / 2, y: bottom - full - 6, "text-anchor": "middle" }, d.total));
      group.append(svg("text", { x: x + barWidth / 2, y: bottom + 16, "text-anchor": "middle" }, label));
      // A rate from a handful of comments means little: shown only from 10 comments a day.
      const rate = d.total >= 10 ? `${((100 * d.hate) / d.total).toFixed(0)}% hate` : (d.total ? `n=${d.total}` : "");
      group.append(svg("text", { x: x + barWidth / 2, y: bottom + 32, "text-anchor": "middle", class: "rate" }, rate));
      chart.append(group);
    });
    $("chart").replaceChildren(chart);
  }

  async function loadReviews() {
    const stats = await api("stats");
    $("total-all").textContent = Number(stats.total || 0).toLocaleString("en");
    $("rate-all").textContent = percent((stats.labels || {}).hate || 0, stats.total || 0);
    const reviews = stats.reviews || {};
    const shown = (p) => (typeof p === "number" ? `${(100 * p).toFixed(1)}%` : "–");
    $("precision").textContent = shown(reviews.precision);
    for (const name of ["hate_confirmed", "hate_overturned", "nothate_confirmed", "nothate_overturned"]) {
      $(name.replace("_", "-")).textContent = String(reviews[name] || 0);
    }
    const rows = Object.entries(reviews.models || {}).map(([model, figures]) => {
      noteModel(model);
      return el("tr", { "data-model": model },
        el("td", {}, el("code", {}, model)),
        ...["hate_confirmed", "hate_overturned", "nothate_confirmed", "nothate_overturned"].map(
          (name) => el("td", {}, String(figures[name] || 0))),
        el("td", {}, shown(figures.precision)));
    });
    $("model-reviews").querySelector("tbody").replaceChildren(...rows);
    $("model-reviews").hidden = rows.length === 0;
  }

  // -- start ---------------------------------------------------------------------------------
  async function show() {
    state.filters = readFilters();
    showFilters(state.filters);
    $("key-form").hidden = true;
    $("console").hidden = false;
    await guarded(async () => {
      await loadQueue(null);
      await loadReviews();
      await loadWindows();
    });
  }

  function start() {
    noteModel(page.stageModel);
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = filtersFromForm();
      window.history.pushState(null, "", `${window.location.pathname}?${query}`);
      state.filters = readFilters();
      showFilters(state.filters);
      guarded(() => loadQueue(null));
    });
    $("next-page").addEventListener("click", () => guarded(() => loadQueue(state.nextCursor)));
    $("first-page").addEventListener("click", () => guarded(() => loadQueue(null)));
    window.addEventListener("popstate", () => {
      state.filters = readFilters();
      showFilters(state.filters);
      guarded(() => loadQueue(null));
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORE, key);
      $("api-key").value = "";
      showError("");
      show();
    });
    if (AUTH === "iam") {
      $("iam-notice").hidden = false;
      return;
    }
    if (AUTH === "api_key" && !sessionStorage.getItem(KEY_STORE)) {
      askForKey("");
      return;
    }
    show();
  }

  start();
})();
