// The HTTP and WebSocket client: tokens in session storage, refreshed once on a 401, errors in plain words.
import { saveFile } from "/assets/ui.js";

const store = window.sessionStorage;

export const session = {
  get token() { return store.getItem("gemba.access"); },
  get refresh() { return store.getItem("gemba.refresh"); },
  save(tokens) {
    store.setItem("gemba.access", tokens.access_token);
    store.setItem("gemba.refresh", tokens.refresh_token);
  },
  clear() { store.removeItem("gemba.access"); store.removeItem("gemba.refresh"); },
};

/** An error a person can read: the server's problem detail, or what went wrong on the way. */
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function refreshTokens() {
  if (!session.refresh) return false;
  const response = await fetch("/api/v1/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!response.ok) { session.clear(); return false; }
  session.save(await response.json());
  return true;
}

/** Sends a request with the session's token, refreshing it once on a 401; throws ApiError with the server's explanation. */
async function send(path, { method = "GET", body, retry = true } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { ...(session.token ? { Authorization: `Bearer ${session.token}` } : {}),
                 ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check the network; the page retries by itself.");
  }
  if (response.status === 401 && retry && await refreshTokens()) return send(path, { method, body, retry: false });
  if (response.status === 401) { session.clear(); location.hash = "#/login"; throw new ApiError(401, "Please sign in again."); }
  if (!response.ok) {
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not a problem document */ }
    const detail = json && (json.detail || json.title);
    const plain = { 403: "Your role does not allow this.", 404: "Not found.", 429: "Too many requests; wait a moment." }[response.status];
    throw new ApiError(response.status, detail || plain || `The server answered ${response.status}.`);
  }
  return response;
}

/** Calls the API; JSON in and out. Throws ApiError with the server's explanation. */
export async function api(path, options = {}) {
  const text = await (await send(path, options)).text();
  return text ? JSON.parse(text) : null;
}

/** Fetches `path` with the session's token and hands it to the browser as a file named `filename`. */
export async function download(path, filename) {
  saveFile(await (await send(path)).blob(), filename);
}

/**
 * A WebSocket that reconnects after a network blip (1 s, 2 s, … up to 15 s) and reports its state.
 * `onMessage` gets parsed JSON; `onState` gets "live", "reconnecting" or "closed".
 */
export function liveSocket(path, { onMessage, onState }) {
  let socket, closed = false, delay = 1000, timer;
  const open = () => {
    const url = new URL(path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("access_token", session.token || "");
    socket = new WebSocket(url);
    socket.onopen = () => { delay = 1000; onState?.("live"); };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = async (event) => {
      if (closed) return;
      onState?.("reconnecting");
      if (event.code === 4401) await refreshTokens();
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  open();
  return { close() { closed = true; clearTimeout(timer); socket?.close(); onState?.("closed"); }, send: (data) => socket?.send(JSON.stringify(data)) };
}
