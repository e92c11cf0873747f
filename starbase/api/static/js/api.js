// Calls to the Starbase API: the bearer token, JSON in and out, errors as exceptions.
// Every function returns parsed JSON or throws an ApiError carrying the server's body.

const TOKEN_KEY = "starbase.token";

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error;
    const diagnostics = body && body.diagnostics;
    super(error ? error.message : diagnostics ? diagnostics[0].message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = error ? error.code : diagnostics ? "compile_error" : "http_error";
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function headers(extra = {}) {
  const out = { ...extra };
  if (token()) out.Authorization = `Bearer ${token()}`;
  return out;
}

export async function call(method, path, body, { signal, accept } = {}) {
  const init = { method, headers: headers(accept ? { Accept: accept } : {}), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: { code: "not_json", message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path, options) => call("GET", path, undefined, options);
export const post = (path, body, options) => call("POST", path, body, options);
export const del = (path, options) => call("DELETE", path, undefined, options);
export const put = (path, body, options) => call("PUT", path, body, options);

// A server-sent-events stream read with fetch (EventSource cannot send the bearer token).
// `onEvent(type, data)` is called per event; returns an AbortController to stop it.
export function eventStream(path, onEvent, onEnd) {
  const controller = new AbortController();
  (async () => {
    let failure = null;
    try {
      const response = await fetch(path, {
        headers: headers({ Accept: "text/event-stream" }),
        signal: controller.signal,
      });
      if (!response.ok) {
        const text = await response.text();
        let parsed = null;
        try { parsed = JSON.parse(text); } catch { parsed = null; }
        throw new ApiError(response.status, parsed);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let type = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) type = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length) onEvent(type, JSON.parse(data.join("\n")));
        }
      }
    } catch (error) {
      if (error.name !== "AbortError") failure = error;
    }
    onEnd(failure);
  })();
  return controller;
}

// Downloads a streamed result (CSV or NDJSON) as a file.
export async function download(body, accept, filename) {
  const response = await fetch("/api/v1/query", {
    method: "POST",
    headers: headers({ Accept: accept, "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let parsed = null;
    try { parsed = await response.json(); } catch { parsed = null; }
    throw new ApiError(response.status, parsed);
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
