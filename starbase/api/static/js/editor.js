// The query editor: a textarea under a highlighted copy of its text.
//
// The textarea does the editing (undo, selection, IME, accessibility); a <pre> laid exactly
// over it shows the same text coloured by the server's lexer (`POST /api/v1/compile` returns
// the tokens) with wavy underlines under the diagnostics' spans. Until fresh tokens arrive,
// the old ones are shifted around the edit so colours do not flicker. Completion asks
// `POST /api/v1/complete` at the caret and shows a menu at the caret's position.

import { post } from "./api.js";

const CHECK_DELAY_MS = 90;
const COMPLETE_DELAY_MS = 120;

function escapeHtml(text) {
  return text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
}

export class Editor {
  constructor(root, { onRun, onCancel, onChecked, onEscape }) {
    this.root = root;
    this.onRun = onRun;
    this.onCancel = onCancel;
    this.onChecked = onChecked || (() => {});
    this.onEscape = onEscape || (() => false);
    this.tokens = [];
    this.tokensFor = "";
    this.diagnostics = [];
    this.check = null; // the last compile check: { ok, columns, row_only, … }
    this.menu = null;
    root.innerHTML = `
      <div class="editor-frame">
        <pre class="editor-highlight" aria-hidden="true"></pre>
        <textarea class="editor-input" spellcheck="false" autocapitalize="off"
          autocomplete="off" aria-label="StarQL query" rows="3"></textarea>
      </div>
      <ul class="completion popup" hidden role="listbox"></ul>`;
    this.pre = root.querySelector(".editor-highlight");
    this.input = root.querySelector(".editor-input");
    this.popup = root.querySelector(".completion");
    this.input.addEventListener("input", () => this.changed(true));
    this.input.addEventListener("scroll", () => this.syncScroll());
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.input.addEventListener("blur", () => setTimeout(() => this.closeMenu(), 150));
    this.input.addEventListener("click", () => this.closeMenu());
  }

  get value() {
    return this.input.value;
  }

  set value(text) {
    this.input.value = text;
    this.changed(false);
  }

  focus() {
    this.input.focus();
  }

  changed(typed) {
    this.fit();
    this.render();
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => this.runCheck(), CHECK_DELAY_MS);
    if (typed) {
      const before = this.input.value.slice(0, this.input.selectionStart);
      if (/[\w.$]$/.test(before) || (this.menu && /["']$/.test(before))) {
        clearTimeout(this.completeTimer);
        this.completeTimer = setTimeout(() => this.complete(false), COMPLETE_DELAY_MS);
      } else {
        this.closeMenu();
      }
    }
  }

  fit() {
    const lines = this.input.value.split("\n").length;
    this.input.rows = Math.max(3, Math.min(14, lines + 1));
  }

  syncScroll() {
    this.pre.scrollTop = this.input.scrollTop;
    this.pre.scrollLeft = this.input.scrollLeft;
  }

  async runCheck() {
    const text = this.input.value;
    if (this.checking) this.checking.abort();
    const controller = new AbortController();
    this.checking = controller;
    try {
      const result = await post("/api/v1/compile", { query: text }, { signal: controller.signal });
      if (text !== this.input.value) return;
      this.tokens = result.tokens;
      this.tokensFor = text;
      this.diagnostics = result.diagnostics;
      this.check = result;
      this.render();
      this.onChecked(result);
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.code === "query_too_large") {
        this.diagnostics = [{ severity: "error", message: error.message, code: "E000" }];
        this.render();
        this.onChecked({ ok: false, diagnostics: this.diagnostics });
      }
    }
  }

  // Tokens for the current text: the last ones, shifted around the edit while fresh ones come.
  currentTokens() {
    const now = this.input.value;
    const old = this.tokensFor;
    if (now === old) return this.tokens;
    let prefix = 0;
    while (prefix < now.length && prefix < old.length && now[prefix] === old[prefix]) prefix++;
    let suffix = 0;
    while (
      suffix < now.length - prefix &&
      suffix < old.length - prefix &&
      now[now.length - 1 - suffix] === old[old.length - 1 - suffix]
    ) suffix++;
    const shift = now.length - old.length;
    const out = [];
    for (const [start, end, kind] of this.tokens) {
      if (end <= prefix) out.push([start, end, kind]);
      else if (start >= old.length - suffix) out.push([start + shift, end + shift, kind]);
    }
    return out;
  }

  render(caret = null) {
    const text = this.input.value;
    const kinds = new Array(text.length).fill("");
    for (const [start, end, kind] of this.currentTokens()) {
      for (let i = start; i < end && i < text.length; i++) kinds[i] = `tok-${kind}`;
    }
    const marks = new Array(text.length).fill(0);
    const messages = new Map();
    if (this.tokensFor === text) {
      this.diagnostics.forEach((d, index) => {
        if (!d.span) return;
        let { start, end } = d.span;
        if (end <= start) {
          start = Math.min(start, Math.max(0, text.length - 1));
          end = start + 1;
        }
        for (let i = start; i < end && i < text.length; i++) {
          marks[i] = d.severity === "warning" ? Math.max(marks[i], 1) : 2;
          messages.set(i, index);
        }
      });
    }
    let html = "";
    let i = 0;
    while (i <= text.length) {
      if (caret !== null && i === caret) html += '<span class="caret-mark"></span>';
      if (i === text.length) break;
      let j = i + 1;
      while (
        j < text.length && kinds[j] === kinds[i] && marks[j] === marks[i] &&
        messages.get(j) === messages.get(i) && !(caret !== null && j === caret)
      ) j++;
      const classes = [kinds[i]];
      if (marks[i] === 2) classes.push("diag-error");
      if (marks[i] === 1) classes.push("diag-warning");
      const index = messages.get(i);
      const data = index !== undefined ? ` data-diagnostic="${index}"` : "";
      html += `<span class="${classes.join(" ").trim()}"${data}>${escapeHtml(text.slice(i, j))}</span>`;
      i = j;
    }
    this.pre.innerHTML = html + "\n";
    this.syncScroll();
  }

  keydown(event) {
    if (this.menu && !this.popup.hidden) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        const count = this.menu.candidates.length;
        this.menu.index = (this.menu.index + step + count) % count;
        this.showMenu();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        if (!(event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          this.accept(this.menu.index);
          return;
        }
      }
      if (event.key === "Escape") {
        event.preventDefault();
        this.closeMenu();
        return;
      }
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      this.closeMenu();
      this.onRun();
      return;
    }
    if (event.ctrlKey && event.key === " ") {
      event.preventDefault();
      this.complete(true);
      return;
    }
    if (event.key === "Escape") {
      if (this.onEscape()) event.preventDefault();
    }
  }

  async complete(explicit) {
    const text = this.input.value;
    const offset = this.input.selectionStart;
    let result;
    try {
      result = await post("/api/v1/complete", { query: text, offset });
    } catch {
      return;
    }
    if (text !== this.input.value || offset !== this.input.selectionStart) return;
    const candidates = result.candidates.filter((c) => c.insert !== result.prefix || explicit);
    if (!candidates.length || (!explicit && !result.prefix && !candidates.some((c) => c.kind === "value"))) {
      this.closeMenu();
      return;
    }
    this.menu = { ...result, candidates: candidates.slice(0, 40), index: 0 };
    this.showMenu();
  }

  showMenu() {
    const { candidates, index, start } = this.menu;
    this.popup.innerHTML = candidates
      .map(
        (c, i) =>
          `<li role="option" class="${i === index ? "active" : ""}" data-index="${i}">` +
          `<span class="kind kind-${c.kind}">${c.kind[0]}</span>` +
          `<span class="label">${escapeHtml(c.label)}</span>` +
          `<span class="detail">${escapeHtml(c.detail || "")}</span></li>`,
      )
      .join("");
    for (const item of this.popup.querySelectorAll("li")) {
      item.addEventListener("mousedown", (event) => {
        event.preventDefault();
        this.accept(Number(item.dataset.index));
      });
    }
    this.render(start);
    const mark = this.pre.querySelector(".caret-mark");
    const frame = this.root.getBoundingClientRect();
    if (mark) {
      const at = mark.getBoundingClientRect();
      this.popup.style.left = `${Math.max(0, at.left - frame.left)}px`;
      this.popup.style.top = `${at.bottom - frame.top + 2}px`;
    }
    this.popup.hidden = false;
    const active = this.popup.querySelector(".active");
    if (active) active.scrollIntoView({ block: "nearest" });
  }

  accept(index) {
    const { candidates, start, end } = this.menu;
    const chosen = candidates[index];
    const text = this.input.value;
    const next = text.slice(0, start) + chosen.insert + text.slice(end);
    const caret = start + chosen.insert.length - (chosen.cursor_back || 0);
    this.input.value = next;
    this.input.setSelectionRange(caret, caret);
    this.closeMenu();
    this.changed(false);
  }

  closeMenu() {
    if (this.popup.hidden) return;
    this.popup.hidden = true;
    this.menu = null;
    this.render();
  }
}
