// The results: a log view (wrapped, severity-coloured, rows expand to their JSON) or a table,
// filled page by page as the user scrolls; a click on a value offers to filter on it.

const LEVELS = [
  [21, "fatal"], [17, "error"], [13, "warn"], [9, "info"], [5, "debug"], [1, "trace"],
];

export function levelOf(severity) {
  if (severity === null || severity === undefined) return "none";
  for (const [floor, name] of LEVELS) if (severity >= floor) return name;
  return "none";
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// StarQL for a field path: `attributes.http.route`, or attributes.`user-agent`.
export function fieldPath(column, key = null) {
  if (key === null) return column;
  return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(key) ? `${column}.${key}` : `${column}.\`${key.replace(/`/g, "")}\``;
}

// A `where` condition keeping (or dropping) rows whose `field` is `value`.
export function condition(field, value, include) {
  if (value === null || value === undefined) return include ? `not exists(${field})` : `exists(${field})`;
  const literal = typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(String(value));
  return `${field} ${include ? "==" : "!="} ${literal}`;
}

export class Results {
  constructor(root, menu, { onFilter, onContext, onMore }) {
    this.root = root;
    this.menu = menu;
    this.onFilter = onFilter;
    this.onContext = onContext;
    this.onMore = onMore;
    this.mode = "logs";
    this.columns = [];
    this.rows = [];
    root.addEventListener("scroll", () => {
      if (root.scrollTop + root.clientHeight > root.scrollHeight - 300) this.onMore();
    });
    root.addEventListener("click", (event) => this.clicked(event));
    document.addEventListener("click", (event) => {
      if (!menu.contains(event.target) && !event.target.closest(".value")) menu.hidden = true;
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") menu.hidden = true;
    });
  }

  get isLog() {
    return this.columns.some((c) => c.name === "message");
  }

  reset(columns, mode = null) {
    this.columns = columns;
    this.rows = [];
    this.mode = mode || (this.isLog ? "logs" : "table");
    this.root.innerHTML = "";
    this.root.scrollTop = 0;
    if (this.mode === "table") {
      const head = columns.map((c) => `<th title="${escapeHtml(c.type)}">${escapeHtml(c.name)}</th>`).join("");
      this.root.innerHTML = `<table class="grid"><thead><tr>${head}</tr></thead><tbody></tbody></table>`;
    } else {
      this.root.innerHTML = '<div class="logs"></div>';
    }
  }

  message(text, kind = "muted") {
    const note = document.createElement("div");
    note.className = `note ${kind}`;
    note.textContent = text;
    this.root.append(note);
  }

  append(rows, { atTop = false } = {}) {
    const start = this.rows.length;
    this.rows.push(...rows);
    const html = rows.map((row, k) => (this.mode === "table" ? this.tableRow(row, start + k) : this.logRow(row, start + k))).join("");
    const target = this.mode === "table" ? this.root.querySelector("tbody") : this.root.querySelector(".logs");
    if (!target) return;
    target.insertAdjacentHTML(atTop ? "afterbegin" : "beforeend", html);
  }

  index(name) {
    return this.columns.findIndex((c) => c.name === name);
  }

  logRow(row, i) {
    const get = (name) => {
      const k = this.index(name);
      return k >= 0 ? row[k] : null;
    };
    const level = levelOf(get("severity"));
    const time = get("timestamp");
    const shown = time ? String(time).replace("T", " ").replace("Z", "") : "";
    const sevText = get("severity_text") || (level !== "none" ? level.toUpperCase() : "");
    return (
      `<div class="log-row level-${level}" data-row="${i}">` +
      `<span class="t">${escapeHtml(shown.slice(0, 23))}</span>` +
      `<span class="sev">${escapeHtml(sevText)}</span>` +
      `<span class="svc">${escapeHtml(get("service") || "")}</span>` +
      `<span class="msg">${escapeHtml(get("message") ?? "")}</span></div>`
    );
  }

  tableRow(row, i) {
    const cells = row.map((value, k) => {
      const text = value === null ? "null" : typeof value === "object" ? JSON.stringify(value) : String(value);
      const field = this.columns[k].name;
      const clickable = typeof value !== "object" || value === null;
      return `<td>${clickable ? this.valueSpan(field, value, text) : escapeHtml(text)}</td>`;
    });
    return `<tr data-row="${i}">${cells.join("")}</tr>`;
  }

  valueSpan(field, value, text) {
    const encoded = escapeHtml(JSON.stringify(value));
    return `<span class="value${value === null ? " null" : ""}" data-field="${escapeHtml(field)}" data-value="${encoded}">${escapeHtml(text)}</span>`;
  }

  detail(row) {
    const lines = [];
    this.columns.forEach((column, k) => {
      const value = row[k];
      if (value && typeof value === "object") {
        for (const [key, inner] of Object.entries(value).sort()) {
          const field = fieldPath(column.name, key);
          lines.push(`<div class="kv"><span class="k">${escapeHtml(field)}</span>${this.valueSpan(field, inner, String(inner))}</div>`);
        }
      } else {
        const text = value === null ? "null" : String(value);
        lines.push(`<div class="kv"><span class="k">${escapeHtml(column.name)}</span>${this.valueSpan(column.name, value, text)}</div>`);
      }
    });
    const json = {};
    this.columns.forEach((c, k) => { json[c.name] = row[k]; });
    return (
      `<div class="log-detail"><div class="actions">` +
      `<button data-action="context">Context</button><button data-action="copy">Copy JSON</button></div>` +
      `<div class="fields">${lines.join("")}</div>` +
      `<pre class="json">${escapeHtml(JSON.stringify(json, null, 2))}</pre></div>`
    );
  }

  clicked(event) {
    const value = event.target.closest(".value");
    if (value) {
      event.stopPropagation();
      this.openMenu(value, value.dataset.field, JSON.parse(value.dataset.value));
      return;
    }
    const action = event.target.closest("[data-action]");
    if (action) {
      const row = this.rows[Number(action.closest("[data-row]").dataset.row)];
      if (action.dataset.action === "context") this.onContext(row, this.columns);
      if (action.dataset.action === "copy") {
        const json = {};
        this.columns.forEach((c, k) => { json[c.name] = row[k]; });
        navigator.clipboard?.writeText(JSON.stringify(json));
      }
      return;
    }
    if (event.target.closest(".log-detail")) return;
    const line = event.target.closest(".log-row");
    if (!line) return;
    const next = line.nextElementSibling;
    if (next && next.classList.contains("log-detail-wrap")) {
      next.remove();
      line.classList.remove("open");
      return;
    }
    const wrap = document.createElement("div");
    wrap.className = "log-detail-wrap";
    wrap.dataset.row = line.dataset.row;
    wrap.innerHTML = this.detail(this.rows[Number(line.dataset.row)]);
    line.after(wrap);
    line.classList.add("open");
  }

  openMenu(anchor, field, value) {
    const menu = this.menu;
    const shown = value === null ? "null" : String(value);
    menu.innerHTML = "";
    const title = document.createElement("div");
    title.className = "menu-title";
    title.textContent = `${field} = ${shown.length > 60 ? shown.slice(0, 57) + "…" : shown}`;
    menu.append(title);
    for (const [label, include] of [["Filter in (==)", true], ["Filter out (!=)", false]]) {
      const button = document.createElement("button");
      button.textContent = label;
      button.className = include ? "filter-in" : "filter-out";
      button.addEventListener("click", () => {
        menu.hidden = true;
        this.onFilter(field, value, include);
      });
      menu.append(button);
    }
    const box = anchor.getBoundingClientRect();
    menu.style.left = `${Math.min(window.innerWidth - 220, box.left)}px`;
    menu.style.top = `${box.bottom + 4}px`;
    menu.hidden = false;
  }
}
