// The Starbase web UI: explore (editor, histogram, facets, results, live tail) and admin.
// State that a link should carry (query, time range) lives in the URL's hash.

import { ApiError, del, download, eventStream, get, post, setToken } from "./api.js";
import { Editor } from "./editor.js";
import { histogram, seriesChart } from "./charts.js";
import { Results, condition } from "./results.js";
import {
  TimePicker, listSaved, nsToIso, renderAdmin, renderFacets, saveQuery, showContext, showExplain,
} from "./panels.js";

const $ = (id) => document.getElementById(id);
const JOB_ROWS = 10_000; // rows a run keeps on the server (scrolling reads them)
const PAGE = 200;
const FIRST_PAGES = 3;
const POLL_MS = 200;
const MAX_TAIL_ROWS = 5_000;
const DEFAULT_QUERY = "from otel\n| where severity >= \"warn\"";

const state = {
  run: null, // { id, offset, state, columns, loading, generation }
  tail: null, // { controller, paused, buffer, columns }
  vocabulary: null,
  generation: 0,
};

const editor = new Editor($("editor"), {
  onRun: () => run(),
  onChecked: (check) => showDiagnostics(check.diagnostics || []),
  onEscape: () => {
    if (state.run && state.run.state === "running") {
      cancel();
      return true;
    }
    return false;
  },
});
const picker = new TimePicker($("time-picker"), () => run());
const results = new Results($("results"), $("value-menu"), {
  onFilter: (field, value, include) => addFilter(field, value, include),
  onContext: (row, columns) => openContext(row, columns),
  onMore: () => loadMore(),
});

function setStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${kind}`;
}

function showDiagnostics(list) {
  const box = $("diagnostics");
  box.innerHTML = "";
  for (const d of list) {
    const item = document.createElement("li");
    item.className = d.severity === "warning" ? "warning" : "error";
    const where = d.line ? `${d.line}:${d.column} ` : "";
    item.textContent = `${where}${d.code} ${d.message}${d.hints && d.hints.length ? " — " + d.hints.join(" ") : ""}`;
    if (d.span) {
      item.addEventListener("click", () => {
        editor.input.focus();
        editor.input.setSelectionRange(d.span.start, d.span.end);
      });
    }
    box.append(item);
  }
}

function showError(error) {
  if (error instanceof ApiError && error.body.diagnostics) {
    showDiagnostics(error.body.diagnostics);
    setStatus("compile error", "bad");
    return;
  }
  setStatus(error.message, "bad");
  results.message(error.message, "bad");
}

// ---------------------------------------------------------------- the URL

function readUrl() {
  const [path, query = ""] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(query);
  const range = params.get("last")
    ? { last: params.get("last") }
    : params.get("from") || params.get("to")
      ? Object.fromEntries([["from", params.get("from")], ["to", params.get("to")]].filter(([, v]) => v))
      : null;
  return { view: path === "/admin" ? "admin" : "explore", query: params.get("q"), range };
}

function writeUrl() {
  const params = new URLSearchParams();
  params.set("q", editor.value);
  const range = picker.range;
  if (range && range.last) params.set("last", range.last);
  if (range && range.from) params.set("from", range.from);
  if (range && range.to) params.set("to", range.to);
  history.replaceState(null, "", `#/explore?${params}`);
}

function body() {
  const out = { query: editor.value };
  if (picker.range) out.range = picker.range;
  return out;
}

// ---------------------------------------------------------------- running

async function run() {
  stopTail();
  await cancel(true);
  writeUrl();
  const generation = ++state.generation;
  state.run = null; // a page still in flight for the previous run must not land in the new one
  const request = body();
  setStatus("running…");
  $("cancel").hidden = false;
  $("result-info").textContent = "";
  results.reset([]);
  let job;
  try {
    job = await post("/api/v1/jobs", { ...request, limit: JOB_ROWS });
  } catch (error) {
    $("cancel").hidden = true;
    showError(error);
    return;
  }
  if (generation !== state.generation) {
    del(`/api/v1/jobs/${job.id}`).catch(() => {}); // a newer run replaced this one while it started
    return;
  }
  state.run = { id: job.id, offset: 0, state: "running", columns: null, loading: false, generation, request };
  drawCharts(request, generation);
  poll(generation);
}

async function poll(generation) {
  const current = state.run;
  let pages = 0;
  while (current === state.run && generation === state.generation) {
    const wanted = current.columns && results.mode === "logs" && pages >= FIRST_PAGES ? 0 : PAGE;
    let page;
    try {
      page = await get(`/api/v1/jobs/${current.id}?offset=${current.offset}&limit=${wanted}`);
    } catch (error) {
      showError(error);
      break;
    }
    if (current !== state.run || generation !== state.generation) return;
    if (!current.columns && page.columns.length) {
      current.columns = page.columns;
      results.reset(page.columns);
      setMode(results.mode);
    }
    if (page.rows.length) {
      results.append(page.rows);
      current.offset += page.rows.length;
      pages += 1;
    }
    current.state = page.state;
    current.total = page.total_rows;
    info(page);
    if (page.state !== "running" && (page.rows.length < wanted || wanted === 0)) {
      finished(page);
      return;
    }
    if (page.state === "running" && page.rows.length < wanted) await sleep(POLL_MS);
  }
}

function info(page) {
  const shown = results.rows.length;
  const more = page.total_rows > shown ? ` (${shown.toLocaleString()} shown, scroll for more)` : "";
  const truncated = page.truncated ? ` · first ${page.total_rows.toLocaleString()} kept` : "";
  $("result-info").textContent = `${page.total_rows.toLocaleString()} rows${more}${truncated}`;
}

function finished(page) {
  $("cancel").hidden = true;
  const stats = page.stats || {};
  if (page.state === "done") {
    setStatus(`done · ${page.total_rows.toLocaleString()} rows · ${Math.round(stats.elapsed_ms || 0)} ms`, "good");
    if (!page.total_rows) results.message("No rows matched.");
    if (results.mode === "table" && state.run && !state.tail) {
      if (seriesChart($("chart"), page.columns, results.rows, (a, b) => zoom(a, b))) state.run.charted = true;
    }
  } else if (page.state === "cancelled") {
    setStatus("cancelled", "warn");
    results.message("The query was cancelled.", "warn");
  } else {
    const message = page.error ? page.error.message : "the query failed";
    setStatus(message, "bad");
    results.message(message, "bad");
  }
}

async function loadMore() {
  const current = state.run;
  if (!current || current.loading || !current.columns || current.offset >= (current.total || 0)) return;
  current.loading = true;
  try {
    const page = await get(`/api/v1/jobs/${current.id}?offset=${current.offset}&limit=${PAGE}`);
    if (current === state.run && current.generation === state.generation && page.rows.length) {
      results.append(page.rows);
      current.offset += page.rows.length;
      info(page);
    }
  } catch (error) {
    showError(error);
  } finally {
    current.loading = false;
  }
}

async function cancel(quiet = false) {
  const current = state.run;
  if (state.charts) state.charts.abort();
  if (!current || current.state !== "running") return;
  current.state = "cancelled";
  try {
    await del(`/api/v1/jobs/${current.id}`);
  } catch {
    // it ended or expired meanwhile
  }
  if (!quiet) {
    $("cancel").hidden = true;
    setStatus("cancelled", "warn");
    results.message("The query was cancelled.", "warn");
  }
}

async function drawCharts(request, generation) {
  if (state.charts) state.charts.abort(); // the server cancels what the page no longer waits for
  const controller = new AbortController();
  state.charts = controller;
  const signal = controller.signal;
  const chart = $("chart");
  chart.innerHTML = '<div class="chart-empty muted">…</div>';
  $("facets").innerHTML = "";
  try {
    const buckets = Math.max(20, Math.floor((chart.clientWidth || 800) / 8));
    const data = await post("/api/v1/histogram", { ...request, buckets }, { signal });
    if (generation !== state.generation) return;
    if (!(state.run && state.run.charted)) histogram(chart, data, (a, b) => zoom(a, b));
  } catch (error) {
    if (generation === state.generation && error.name !== "AbortError") {
      chart.innerHTML = "";
      const note = document.createElement("div");
      note.className = "chart-empty muted";
      note.textContent = error.message;
      chart.append(note);
    }
  }
  try {
    const fields = ["service", "severity_text", "host", "source"];
    const keys = (state.vocabulary && state.vocabulary.attribute_keys) || [];
    for (const key of keys.slice(0, 3)) fields.push(/^[A-Za-z_][\w.]*$/.test(key) ? `attributes.${key}` : `attributes.\`${key}\``);
    const data = await post("/api/v1/facets", { ...request, fields, top: 8 }, { signal });
    if (generation !== state.generation) return;
    renderFacets($("facets"), data, (field, value, include) => addFilter(field, value, include));
  } catch {
    // facets are a help, never a failure
  }
}

function zoom(fromNs, toNs) {
  picker.set({ from: nsToIso(fromNs), to: nsToIso(toNs) });
  run();
}

function addFilter(field, value, include) {
  const where = `| where ${condition(field, value, include)}`;
  const text = editor.value;
  const match = /^(\s*(?:#[^\n]*\n\s*)*from\b[^|\n]*)/.exec(text);
  if (!match) {
    editor.value = `${text}\n${where}`;
  } else {
    const head = match[1].trimEnd();
    const rest = text.slice(match[1].length).replace(/^[ \t]*\n?/, "");
    editor.value = `${head}\n${where}${rest ? "\n" + rest : ""}`;
  }
  run();
}

function setMode(mode) {
  $("as-logs").classList.toggle("on", mode === "logs");
  $("as-table").classList.toggle("on", mode === "table");
}

function switchMode(mode) {
  if (!results.columns.length) return;
  const rows = results.rows.slice();
  results.reset(results.columns, mode);
  results.append(rows);
  setMode(mode);
}

// ---------------------------------------------------------------- live tail

function startTail() {
  cancel(true);
  if (state.charts) state.charts.abort();
  state.run = null;
  const check = editor.check;
  if (check && check.ok && !check.row_only) {
    setStatus("live tail needs a row-only query (no stats, sort, limit or dedup)", "bad");
    return;
  }
  writeUrl();
  const tail = { paused: false, buffer: [], dropped: 0, columns: null, received: 0 };
  state.tail = tail;
  $("live").classList.add("on");
  $("pause").hidden = false;
  $("pause").textContent = "Pause ❚❚";
  $("chart").innerHTML = '<div class="chart-empty muted">live tail: new rows appear below as they are committed</div>';
  $("facets").innerHTML = "";
  results.reset([]);
  setStatus("live · waiting for rows…", "good");
  const url = `/api/v1/tail?query=${encodeURIComponent(editor.value)}`;
  tail.controller = eventStream(
    url,
    (type, data) => {
      if (state.tail !== tail) return;
      if (type === "start") {
        tail.columns = data.columns;
        results.reset(data.columns, "logs");
        setMode(results.mode);
      } else if (type === "rows") {
        tail.received += data.rows.length;
        if (tail.paused) tail.buffer.push(...data.rows);
        else showTailRows(data.rows);
        setStatus(`live · ${tail.received.toLocaleString()} rows${tail.paused ? ` · paused, ${tail.buffer.length} waiting` : ""}`, "good");
      } else if (type === "dropped") {
        results.message(data.message, "warn");
      } else if (type === "error") {
        setStatus(data.message, "bad");
      }
    },
    (error) => {
      if (state.tail !== tail) return;
      if (error) showError(error);
      else setStatus("live tail ended", "warn");
      stopTail(false);
    },
  );
}

function showTailRows(rows) {
  const box = $("results");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 40;
  results.append(rows);
  const logs = box.querySelector(".logs");
  while (logs && logs.children.length > MAX_TAIL_ROWS) logs.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function stopTail(abort = true) {
  const tail = state.tail;
  if (!tail) return;
  state.tail = null;
  if (abort && tail.controller) tail.controller.abort();
  $("live").classList.remove("on");
  $("pause").hidden = true;
  if (abort) setStatus("live tail stopped");
}

function togglePause() {
  const tail = state.tail;
  if (!tail) return;
  tail.paused = !tail.paused;
  $("pause").textContent = tail.paused ? "Resume ▶" : "Pause ❚❚";
  if (!tail.paused && tail.buffer.length) {
    showTailRows(tail.buffer.splice(0));
  }
  setStatus(`live · ${tail.received.toLocaleString()} rows${tail.paused ? " · paused" : ""}`, "good");
}

// ---------------------------------------------------------------- the rest of the toolbar

async function explain() {
  try {
    const value = await post("/api/v1/explain", body());
    showExplain($("explain-dialog"), $("explain-body"), value);
  } catch (error) {
    showError(error);
  }
}

async function openContext(row, columns) {
  const get = (name) => {
    const k = columns.findIndex((c) => c.name === name);
    return k >= 0 ? row[k] : null;
  };
  if (!get("timestamp") || !get("source")) {
    setStatus("context needs the timestamp and source columns", "warn");
    return;
  }
  try {
    const data = await post("/api/v1/context", {
      source: get("source"), timestamp: get("timestamp"), service: get("service"), host: get("host"),
    });
    showContext($("context-dialog"), $("context-body"), data, row, columns);
  } catch (error) {
    showError(error);
  }
}

async function save() {
  const name = window.prompt("Save this query as:", "");
  if (!name) return;
  try {
    await saveQuery(name, editor.value, picker.range);
    setStatus(`saved “${name}”`, "good");
  } catch (error) {
    showError(error);
  }
}

async function toggleSaved() {
  const list = $("saved-list");
  if (!list.hidden) {
    list.hidden = true;
    return;
  }
  list.hidden = false;
  try {
    await listSaved(list, (entry) => {
      list.hidden = true;
      editor.value = entry.query;
      picker.set(entry.range || null);
      run();
    });
    const first = list.querySelector("button");
    if (first) first.focus();
  } catch (error) {
    list.hidden = true;
    showError(error);
  }
}

async function share() {
  writeUrl();
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus("link copied", "good");
  } catch {
    setStatus(location.href);
  }
}

async function downloadAs(accept, extension) {
  try {
    setStatus("downloading…");
    await download(body(), accept, `starbase-result.${extension}`);
    setStatus("downloaded", "good");
  } catch (error) {
    showError(error);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- views and start-up

let adminTimer = null;

function showView(view) {
  $("explore").hidden = view !== "explore";
  $("admin").hidden = view !== "admin";
  $("nav-explore").classList.toggle("on", view === "explore");
  $("nav-admin").classList.toggle("on", view === "admin");
  clearInterval(adminTimer);
  if (view === "admin") {
    renderAdmin();
    adminTimer = setInterval(renderAdmin, 5000);
  }
}

async function signIn() {
  try {
    const status = await get("/api/v1/status");
    $("token-form").hidden = true;
    $("auth-note").textContent = status.auth
      ? `tenant: ${status.tenant || "default"}`
      : "local mode: no token configured, this machine only";
    return true;
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      $("token-form").hidden = false;
      $("auth-note").textContent = error.status === 403 ? "unknown token" : "sign in with a token";
      $("token-input").focus();
      return false;
    }
    $("auth-note").textContent = error.message;
    return false;
  }
}

function wire() {
  $("run").addEventListener("click", () => run());
  $("cancel").addEventListener("click", () => cancel());
  $("live").addEventListener("click", () => (state.tail ? stopTail() : startTail()));
  $("pause").addEventListener("click", () => togglePause());
  $("explain-button").addEventListener("click", () => explain());
  $("save").addEventListener("click", () => save());
  $("saved-button").addEventListener("click", () => toggleSaved());
  $("share").addEventListener("click", () => share());
  $("as-logs").addEventListener("click", () => switchMode("logs"));
  $("as-table").addEventListener("click", () => switchMode("table"));
  $("download-csv").addEventListener("click", () => downloadAs("text/csv", "csv"));
  $("download-ndjson").addEventListener("click", () => downloadAs("application/x-ndjson", "ndjson"));
  $("explain-close").addEventListener("click", () => $("explain-dialog").close());
  $("context-close").addEventListener("click", () => $("context-dialog").close());
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken($("token-input").value.trim());
    if (await signIn()) start();
  });
  window.addEventListener("hashchange", () => showView(readUrl().view));
  document.addEventListener("keydown", (event) => {
    const typing = event.target.matches("input, textarea, select");
    if (event.altKey && event.key.toLowerCase() === "l") {
      event.preventDefault();
      state.tail ? stopTail() : startTail();
    } else if (event.altKey && event.key.toLowerCase() === "e") {
      event.preventDefault();
      explain();
    } else if (event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    } else if (event.altKey && event.key.toLowerCase() === "o") {
      event.preventDefault();
      toggleSaved();
    } else if (event.key === "/" && !typing) {
      event.preventDefault();
      editor.focus();
    } else if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && !typing) {
      event.preventDefault();
      run();
    } else if (event.key === "Escape" && !typing && state.run && state.run.state === "running") {
      cancel();
    }
  });
}

let started = false;

async function start() {
  if (started) return;
  started = true;
  get("/api/v1/completions").then((v) => { state.vocabulary = v; }).catch(() => {});
  const url = readUrl();
  editor.value = url.query || DEFAULT_QUERY;
  picker.set(url.range);
  showView(url.view);
  editor.focus();
  if (url.view === "explore" && url.query) run();
}

wire();
signIn().then((ok) => {
  if (ok) start();
});
