// The Heirloom API over fetch: `Heirloom` for the common path (upload, events, wait, download,
// share) and `request` for any route; `verifyWebhook` for a receiver. Runs in Node >= 20 and in
// browsers (fetch, FormData, Blob, Web Crypto); types are in index.d.ts, over the generated
// schema.d.ts (`make clients`).

export const API_VERSION = "2026-12-07";
export const SIGNATURE_HEADER = "Heirloom-Signature";
/** The events after which a job's stream ends: the job reached its final state. */
export const FINAL_EVENTS = new Set(["job.completed", "job.failed", "job.cancelled"]);
const FINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);

/** An error answer: `status` (HTTP), `code` (stable, docs/errors.md), `message` (for people). */
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(`${status} ${code}: ${message}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.apiMessage = message;
  }

  static async from(response) {
    const text = await response.text();
    try {
      const { error } = JSON.parse(text);
      return new ApiError(response.status, error.code, error.message, error.details || {});
    } catch {
      return new ApiError(response.status, "http_error", `The server answered ${response.status}.`);
    }
  }
}

export class Heirloom {
  /** @param {{baseUrl: string, apiKey: string, fetch?: typeof fetch}} options */
  constructor({ baseUrl, apiKey, fetch: fetchImpl = globalThis.fetch }) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.fetch = fetchImpl;
  }

  url(path, query) {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url;
  }

  /** Any route: resolves to the parsed JSON answer (null for 204); an error answer throws. */
  async request(method, path, { query, json, form, headers = {}, signal } = {}) {
    const init = { method, headers: { Authorization: `Bearer ${this.apiKey}`, ...headers }, signal };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form !== undefined) {
      init.body = form;
    }
    const response = await this.fetch(this.url(path, query), init);
    if (!response.ok) throw await ApiError.from(response);
    if (response.status === 204) return null;
    return response.json();
  }

  /** Submit a photo (Blob, ArrayBuffer or bytes); resolves to the charged job. */
  async upload(photo, operations = "restore", { fileName = "photo", idempotencyKey, callbackUrl } = {}) {
    const form = new FormData();
    const blob = photo instanceof Blob ? photo : new Blob([photo]);
    form.append("file", blob, fileName);
    form.append("operations", operations);
    if (callbackUrl !== undefined) form.append("callback_url", callbackUrl);
    const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
    return this.request("POST", "/v1/jobs", { form, headers });
  }

  job(jobId) {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  /** The job's events as they happen (`{type, id, data}`), from a snapshot to its final event. */
  async *events(jobId, { after, signal } = {}) {
    const response = await this.fetch(this.url(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { after }), {
      headers: { Authorization: `Bearer ${this.apiKey}`, Accept: "text/event-stream" },
      signal,
    });
    if (!response.ok) throw await ApiError.from(response);
    yield* serverSentEvents(response.body);
  }

  /** Follow the job's stream until it ends; resolves to the job. A dropped stream resumes. */
  async wait(jobId, { timeoutMs = 600_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - Date.now()));
      try {
        for await (const event of this.events(jobId, { after: last, signal: controller.signal })) {
          if (event.type === "error") {
            const error = event.data.error || {};
            throw new ApiError(401, error.code || "unauthorized", error.message || "stream refused");
          }
          if (event.id !== null) last = event.id;
          if (FINAL_EVENTS.has(event.type) || event.data.job?.finished_at) return this.job(jobId);
        }
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (Date.now() >= deadline) break;
      } finally {
        clearTimeout(timer);
      }
      const job = await this.job(jobId);
      if (FINAL_STATUSES.has(job.status)) return job;
    }
    throw new Error(`job ${jobId} did not finish within ${timeoutMs} ms`);
  }

  /** The restored photo's bytes (a completed job's). */
  async downloadResult(jobId) {
    const response = await this.fetch(this.url(`/v1/jobs/${encodeURIComponent(jobId)}/result`), {
      headers: { Authorization: `Bearer ${this.apiKey}` },
    });
    if (!response.ok) throw await ApiError.from(response);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** A public link to the job's result; its `url` is in this answer only. */
  share(jobId, { expiresInS, allowDownload = false } = {}) {
    const json = { allow_download: allowDownload };
    if (expiresInS !== undefined) json.expires_in = expiresInS;
    return this.request("POST", `/v1/jobs/${encodeURIComponent(jobId)}/shares`, { json });
  }
}

/** Events of a text/event-stream body (comments and keep-alives skipped). */
export async function* serverSentEvents(body) {
  const decoder = new TextDecoder();
  let buffer = "";
  let type = "message";
  let id = null;
  let data = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(buffer[end] === "\r" ? end + 2 : end + 1);
      if (line === "") {
        if (data.length) yield { type, id, data: JSON.parse(data.join("\n")) };
        type = "message";
        id = null;
        data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "event") type = value;
        else if (name === "data") data.push(value);
        else if (name === "id") id = Number(value);
      }
    }
  }
}

/**
 * Whether `body` (the raw bytes or text, before any JSON parsing) was signed by one of
 * `secrets` within `toleranceS` seconds: `Heirloom-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`,
 * HMAC-SHA256 of "<t>.<body>".
 */
export async function verifyWebhook(body, header, secrets, { toleranceS = 300, now } = {}) {
  let timestamp = null;
  const signatures = [];
  for (const part of header.split(",")) {
    const [name, value = ""] = part.trim().split(/=(.*)/s);
    if (name === "t" && /^\d+$/.test(value)) timestamp = Number(value);
    else if (name === "v1" && value) signatures.push(value);
  }
  if (timestamp === null || !signatures.length) return false;
  const current = now ?? Date.now() / 1000;
  if (Math.abs(current - timestamp) > toleranceS) return false;
  const encoder = new TextEncoder();
  const bytes = typeof body === "string" ? encoder.encode(body) : new Uint8Array(body);
  const message = new Uint8Array([...encoder.encode(`${timestamp}.`), ...bytes]);
  for (const secret of typeof secrets === "string" ? [secrets] : secrets) {
    const key = await crypto.subtle.importKey(
      "raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
    );
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
    const expected = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
    if (signatures.some((signature) => sameText(expected, signature))) return true;
  }
  return false;
}

// Compares in time that depends on the length only, not on where the texts differ.
function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
