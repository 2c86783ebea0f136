// A job's live status: the WebSocket stream with automatic reconnect (resuming after the last
// event id), and polling GET /v1/jobs/{id} whenever the stream is down.

import { api, streamToken } from "./api.js";

const FINAL = new Set(["completed", "failed", "cancelled", "expired", "deleted"]);
const POLL_MS = 2000;
const MAX_BACKOFF_MS = 15000;
// The server closes with 1000 after the final state and 4401 once the key is revoked. It
// refuses the handshake itself (an abnormal close here) for a bad token, another user's job
// or too many open streams: polling then takes over, and its GET says which.
const CLOSE_FINAL = 1000;
const CLOSE_UNAUTHORIZED = 4401;

export function isFinal(status) {
  return FINAL.has(status);
}

/**
 * Follow one job. `onJob(state)` gets every new state (stream events and polled records);
 * `onMode(mode)` gets "live", "reconnecting" or "polling", and "ended" at the end.
 * Returns a function that stops everything.
 */
export function watchJob(jobId, { onJob, onMode = () => {}, onError = () => {} }) {
  let stopped = false;
  let socket = null;
  let lastEventId = null;
  let attempts = 0;
  let pollTimer = null;
  let retryTimer = null;

  const finish = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(pollTimer);
    clearTimeout(retryTimer);
    if (socket) socket.close();
    onMode("ended");
  };

  const deliver = (state) => {
    if (stopped) return;
    onJob(state);
    if (isFinal(state.status)) finish();
  };

  const poll = async () => {
    pollTimer = null;
    if (stopped) return;
    try {
      deliver(await api(`/v1/jobs/${encodeURIComponent(jobId)}`));
    } catch (err) {
      onError(err);
      if (err.status === 404 || err.status === 401) {
        finish();
        return;
      }
    }
    if (!stopped && !pollTimer && (!socket || socket.readyState !== WebSocket.OPEN)) {
      pollTimer = setTimeout(poll, POLL_MS);
    }
  };

  const startPolling = () => {
    if (!pollTimer && !stopped) pollTimer = setTimeout(poll, 0);
  };

  const stopPolling = () => {
    clearTimeout(pollTimer);
    pollTimer = null;
  };

  const reconnectLater = () => {
    if (stopped) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts);
    attempts += 1;
    onMode(attempts > 1 ? "polling" : "reconnecting");
    startPolling();
    retryTimer = setTimeout(connect, delay);
  };

  async function connect() {
    if (stopped) return;
    if (!("WebSocket" in window)) {
      onMode("polling");
      startPolling();
      return;
    }
    let token;
    try {
      token = await streamToken(jobId);
    } catch (err) {
      onError(err);
      reconnectLater();
      return;
    }
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ token });
    if (lastEventId !== null) query.set("after", String(lastEventId));
    const ws = new WebSocket(
      `${scheme}//${location.host}/v1/jobs/${encodeURIComponent(jobId)}/ws?${query}`,
    );
    socket = ws;
    ws.onopen = () => {
      attempts = 0;
      stopPolling();
      onMode("live");
    };
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (typeof event.id === "number" && event.id > 0) lastEventId = event.id;
      if (event.job) deliver(event.job);
    };
    ws.onclose = (close) => {
      if (socket === ws) socket = null;
      if (stopped) return;
      if (close.code === CLOSE_FINAL) {
        // The last state came over the socket; one GET fills in the whole record.
        stopPolling();
        poll();
        return;
      }
      // 4401: the key was revoked; the GET polling answers 401 and ends the watch.
      if (close.code === CLOSE_UNAUTHORIZED) {
        stopPolling();
        poll();
        return;
      }
      reconnectLater();
    };
  }

  connect();
  return finish;
}
