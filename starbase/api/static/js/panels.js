// The smaller parts of the page: time picker, facets, explain and context dialogs, saved
// queries menu, and the administration page.

import { get, post, del } from "./api.js";
import { formatNumber } from "./charts.js";
import { levelOf } from "./results.js";

function escapeHtml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// ---------------------------------------------------------------- time picker

export const RELATIVE = [
  ["5m", "Last 5 minutes"], ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"],
];

export class TimePicker {
  constructor(root, onChange) {
    this.onChange = onChange;
    this.range = null;
    const options = RELATIVE.map(([v, label]) => `<option value="${v}">${label}</option>`).join("");
    root.innerHTML = `
      <select id="time-select" aria-label="time range">
        <option value="all">All time</option>${options}<option value="custom">Absolute range…</option>
      </select>
      <span id="time-custom" hidden>
        <input id="time-from" placeholder="from (UTC) 2026-11-20T10:00:00Z" size="24" aria-label="from">
        <input id="time-to" placeholder="to (UTC)" size="24" aria-label="to">
        <button id="time-apply">Apply</button>
      </span>`;
    this.select = root.querySelector("#time-select");
    this.custom = root.querySelector("#time-custom");
    this.from = root.querySelector("#time-from");
    this.to = root.querySelector("#time-to");
    this.select.addEventListener("change", () => {
      if (this.select.value === "custom") {
        this.custom.hidden = false;
        this.from.focus();
        return;
      }
      this.custom.hidden = true;
      this.range = this.select.value === "all" ? null : { last: this.select.value };
      this.onChange(this.range);
    });
    const apply = () => {
      const range = {};
      if (this.from.value.trim()) range.from = this.from.value.trim();
      if (this.to.value.trim()) range.to = this.to.value.trim();
      this.range = Object.keys(range).length ? range : null;
      this.onChange(this.range);
    };
    root.querySelector("#time-apply").addEventListener("click", apply);
    for (const input of [this.from, this.to]) {
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") apply();
      });
    }
  }

  set(range) {
    this.range = range;
    if (!range) {
      this.select.value = "all";
      this.custom.hidden = true;
    } else if (range.last) {
      const known = RELATIVE.some(([v]) => v === range.last);
      if (!known) {
        const option = document.createElement("option");
        option.value = range.last;
        option.textContent = `Last ${range.last}`;
        this.select.insertBefore(option, this.select.lastElementChild);
      }
      this.select.value = range.last;
      this.custom.hidden = true;
    } else {
      this.select.value = "custom";
      this.custom.hidden = false;
      this.from.value = range.from || "";
      this.to.value = range.to || "";
    }
  }
}

export function nsToIso(ns) {
  const big = BigInt(ns);
  const ms = big / 1000000n;
  const date = new Date(Number(ms)).toISOString();
  return date.replace(/\.\d{3}Z$/, `.${(big % 1000000000n).toString().padStart(9, "0")}Z`);
}

// ---------------------------------------------------------------- facets

export function renderFacets(root, data, onFilter) {
  root.innerHTML = "";
  if (!data) return;
  const total = document.createElement("div");
  total.className = "facet-total muted";
  total.textContent = `${data.total.toLocaleString()} rows`;
  root.append(total);
  for (const facet of data.facets) {
    if (!facet.values.length) continue;
    const box = document.createElement("div");
    box.className = "facet";
    box.dataset.field = facet.field;
    const top = Math.max(...facet.values.map((v) => v.count));
    box.innerHTML =
      `<h3>${escapeHtml(facet.field)}</h3>` +
      facet.values
        .map(
          (v, i) =>
            `<div class="facet-value" data-index="${i}">` +
            `<button class="in" title="filter in" aria-label="filter in ${escapeHtml(v.value)}">+</button>` +
            `<button class="out" title="filter out" aria-label="filter out ${escapeHtml(v.value)}">−</button>` +
            `<span class="name" title="${escapeHtml(v.value ?? "null")}">${escapeHtml(v.value ?? "null")}</span>` +
            `<span class="count">${formatNumber(v.count)}</span>` +
            `<span class="meter"><i data-share="${(v.count / top).toFixed(3)}"></i></span></div>`,
        )
        .join("");
    for (const meter of box.querySelectorAll(".meter i")) meter.style.width = `${Number(meter.dataset.share) * 100}%`;
    box.addEventListener("click", (event) => {
      const row = event.target.closest(".facet-value");
      if (!row) return;
      const value = facet.values[Number(row.dataset.index)].value;
      const include = !event.target.classList.contains("out");
      onFilter(facet.field, value, include);
    });
    root.append(box);
  }
}

// ---------------------------------------------------------------- dialogs

export function showExplain(dialog, body, explain) {
  body.innerHTML = explain.sections
    .map(
      (s) =>
        `<section class="explain-part kind-${s.kind}"><h3>${escapeHtml(s.title)}</h3>` +
        `<pre class="lang-${escapeHtml(s.language)}">${escapeHtml(s.body)}</pre></section>`,
    )
    .join("");
  dialog.showModal();
}

export function showContext(dialog, body, data, row, columns) {
  const at = columns.findIndex((c) => c.name === "timestamp");
  const msg = columns.findIndex((c) => c.name === "message");
  const line = (r, current) => {
    const sev = r[data.columns.findIndex((c) => c.name === "severity")];
    return (
      `<div class="log-row level-${levelOf(sev)}${current ? " current" : ""}">` +
      `<span class="t">${escapeHtml(String(r[0]).replace("T", " ").slice(0, 23))}</span>` +
      `<span class="sev">${escapeHtml(r[2] || "")}</span><span class="svc">${escapeHtml(r[3] || "")}</span>` +
      `<span class="msg">${escapeHtml(r[5] ?? "")}</span></div>`
    );
  };
  const target = row[at];
  const message = msg >= 0 ? row[msg] : null;
  const before = data.before.map((r) => line(r, r[0] === target && (message === null || r[5] === message)));
  body.innerHTML =
    `<div class="muted">Lines from the same source, service and host around ${escapeHtml(target)}</div>` +
    `<div class="logs context">${before.join("")}${data.after.map((r) => line(r, false)).join("")}</div>`;
  dialog.showModal();
  const current = body.querySelector(".current");
  if (current) current.scrollIntoView({ block: "center" });
}

// ---------------------------------------------------------------- saved queries

export async function listSaved(root, onOpen) {
  const data = await get("/api/v1/saved");
  if (!data.saved.length) {
    root.innerHTML = '<div class="muted pad">No saved queries yet (Save stores the query and time range).</div>';
    return;
  }
  root.innerHTML = data.saved
    .map(
      (q) =>
        `<div class="saved-item" role="menuitem" data-id="${escapeHtml(q.id)}">` +
        `<button class="open" title="${escapeHtml(q.query)}">${escapeHtml(q.name)}</button>` +
        `<button class="remove" aria-label="delete ${escapeHtml(q.name)}" title="delete">✕</button></div>`,
    )
    .join("");
  root.querySelectorAll(".saved-item").forEach((item) => {
    const entry = data.saved.find((q) => q.id === item.dataset.id);
    item.querySelector(".open").addEventListener("click", () => onOpen(entry));
    item.querySelector(".remove").addEventListener("click", async (event) => {
      event.stopPropagation();
      await del(`/api/v1/saved/${encodeURIComponent(entry.id)}`);
      listSaved(root, onOpen);
    });
  });
}

export async function saveQuery(name, query, range) {
  const body = { name, query };
  if (range) body.range = range;
  return post("/api/v1/saved", body);
}

// ---------------------------------------------------------------- administration

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let k = 0;
  let v = n;
  while (v >= 1024 && k < units.length - 1) {
    v /= 1024;
    k++;
  }
  return `${v.toFixed(k ? 1 : 0)} ${units[k]}`;
}

function when(ns) {
  if (!ns) return "";
  return new Date(Number(BigInt(ns) / 1000000n)).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export async function renderAdmin() {
  const [router, tables, sources] = await Promise.allSettled([
    get("/api/v1/router"), get("/api/v1/tables"), get("/api/v1/sources"),
  ]);
  const routerBox = document.getElementById("admin-router");
  if (router.status === "fulfilled") {
    const r = router.value;
    if (!r.configured) {
      routerBox.innerHTML = '<p class="muted">No router configured (start serve with --router URL to see its health, ingest rates and errors).</p>';
    } else if (!r.reachable) {
      routerBox.innerHTML = `<p class="bad">${escapeHtml(r.url)} unreachable: ${escapeHtml(r.reason)}</p>`;
    } else {
      const t = r.totals;
      const rate = (name) => (r.rates[name] !== undefined ? formatNumber(r.rates[name]) : "…");
      routerBox.innerHTML = `
        <table class="kvtable" id="router-table">
          <tr><th>URL</th><td>${escapeHtml(r.url)}</td></tr>
          <tr><th>Health</th><td class="${r.healthy ? "good" : "bad"}">${r.healthy ? "live" : "down"}, ${r.ready ? "ready" : "not ready"}</td></tr>
          <tr><th>Ingest</th><td>${rate("records_in_per_s")} records/s · ${rate("bytes_in_per_s")} B/s</td></tr>
          <tr><th>Committed</th><td>${rate("records_committed_per_s")} records/s · ${formatNumber(t.records_committed_total || 0)} in all</td></tr>
          <tr><th>Records in</th><td>${formatNumber(t.records_in_total || 0)}</td></tr>
          <tr><th>Errors</th><td class="${(t.error_responses_total || 0) + (t.flush_errors_total || 0) ? "bad" : ""}">${formatNumber(t.error_responses_total || 0)} error answers · ${formatNumber(t.rejected_records_total || 0)} records refused · ${formatNumber(t.flush_errors_total || 0)} failed commits</td></tr>
          <tr><th>Queue</th><td>${formatNumber(t.queue_records || 0)} records (${bytes(t.queue_bytes || 0)}) · WAL ${bytes(t.wal_bytes || 0)}</td></tr>
          <tr><th>Store</th><td class="${t.store_up === 0 ? "bad" : "good"}">${t.store_up === 0 ? "last commit failed" : "committing"}</td></tr>
        </table>`;
    }
  } else {
    routerBox.textContent = router.reason.message;
  }
  const tablesBox = document.getElementById("admin-tables");
  if (tables.status === "fulfilled") {
    const rows = tables.value.tables.map((t) =>
      t.error
        ? `<tr><td>${escapeHtml(t.source)}</td><td colspan="7" class="bad">${escapeHtml(t.error)}</td></tr>`
        : `<tr><td>${escapeHtml(t.source)}</td><td>${escapeHtml(t.format)}</td><td class="num">${t.rows.toLocaleString()}</td>` +
          `<td class="num">${t.files.toLocaleString()}</td><td class="num">${bytes(t.bytes)}</td>` +
          `<td>${when(t.min_time_ns)} → ${when(t.max_time_ns)}</td>` +
          `<td>${t.compaction.incoming_files} incoming (${bytes(t.compaction.incoming_bytes)}) · ${t.compaction.compacted_files} compacted · gen ${t.compaction.generation}</td>` +
          `<td>v${t.version} · ${when(t.last_commit_ns)}</td></tr>`,
    );
    tablesBox.innerHTML =
      '<table class="grid" id="tables-table"><thead><tr><th>source</th><th>format</th><th>rows</th><th>files</th><th>bytes</th>' +
      "<th>time range</th><th>compaction</th><th>last commit</th></tr></thead>" +
      `<tbody>${rows.join("") || '<tr><td colspan="8" class="muted">no stored tables</td></tr>'}</tbody></table>`;
  } else {
    tablesBox.textContent = tables.reason.message;
  }
  const sourcesBox = document.getElementById("admin-sources");
  if (sources.status === "fulfilled") {
    sourcesBox.innerHTML = sources.value.sources
      .map((s) => {
        const where = s.location || (s.log_groups || []).join(", ");
        const mapping = s.mapping || {};
        const fields = Object.entries(mapping.fields || {})
          .map(([name, spec]) => `<tr><td>${escapeHtml(name)}</td><td><code>${escapeHtml(JSON.stringify(spec))}</code></td></tr>`)
          .join("");
        return (
          `<details class="source"><summary><b>${escapeHtml(s.name)}</b> · ${escapeHtml(s.format)} · ${escapeHtml(where || "")}</summary>` +
          `<p class="muted">${escapeHtml(mapping.description || mapping.error || "")}</p>` +
          `<table class="grid mapping">${fields}</table>` +
          `<details><summary>mapping file</summary><pre>${escapeHtml(mapping.yaml || "")}</pre></details></details>`
        );
      })
      .join("");
  } else {
    sourcesBox.textContent = sources.reason.message;
  }
}
