// AutoPhon's pages: the API token, authenticated requests and task events. Plain JS, no build.
"use strict";
const API = "/api/v1";
const FINAL = ["completed", "failed", "cancelled", "expired"];
const TOKEN_KEY = "autophon.token";

function getToken() { return localStorage.getItem(TOKEN_KEY) || ""; }
function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
}
function authHeaders() {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// fetch() with the bearer token; throws an Error carrying the API's "detail" sentence.
async function api(path, options = {}) {
  const response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, {
    ...options, headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    if (response.status === 401) detail += " Enter your API token above.";
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g,
    c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function formatSeconds(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// Follows /tasks/{id}/events (Server-Sent Events read through fetch, so the token is sent as
// a header, which EventSource cannot do). onEvent(type, data) for "status" and "progress";
// resumes after a dropped connection from the last event id; stops at a final status or
// when the returned function is called.
function followTask(id, onEvent) {
  let lastId = "", stopped = false, controller = null;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = lastId ? { "Last-Event-ID": lastId } : {};
        const response = await api(`tasks/${id}/events`, { headers, signal: controller.signal });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) type = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
              else if (line.startsWith("id: ")) lastId = line.slice(4);
            }
            if (data) {
              const parsed = JSON.parse(data);
              onEvent(type, parsed);
              if (type === "status" && FINAL.includes(parsed.status)) { stopped = true; return; }
            }
          }
        }
      } catch (error) {
        if (stopped) return;
        if (error.status === 404 || error.status === 401) { stopped = true; return; }
      }
      // The stream ended without a final status (a restarted server): reconnect.
      await new Promise(resolve => setTimeout(resolve, 2000));
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}

// The token field shared by the pages: <input id="token"> and <button id="token-save">.
function setupTokenField(onChange) {
  const input = document.getElementById("token");
  input.value = getToken();
  document.getElementById("token-form").addEventListener("submit", event => {
    event.preventDefault();
    setToken(input.value.trim());
    onChange();
  });
}
