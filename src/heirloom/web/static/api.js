// Talking to the Heirloom API. The API key lives in this tab's session storage and travels
// only in the Authorization header: never in a URL (streams use a short-lived stream token).

const KEY_NAME = "heirloom.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function setApiKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function forgetApiKey() {
  sessionStorage.removeItem(KEY_NAME);
}

/** An error answer of the API: its plain-language message, code and HTTP status. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = "network_error", details = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const UNREACHABLE = "The Heirloom server cannot be reached. Check your connection and try again.";

async function send(path, { method = "GET", json, form, headers = {}, auth = true } = {}) {
  const init = { method, headers: { ...headers } };
  const key = apiKey();
  if (auth && key) init.headers.Authorization = `Bearer ${key}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(UNREACHABLE);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      return new ApiError(body.error.message, {
        status: response.status,
        code: body.error.code,
        details: body.error.details || null,
      });
    }
  } catch {
    // Not the API's JSON (a proxy's page, say): fall through to a generic sentence.
  }
  return new ApiError(`The server answered ${response.status} ${response.statusText}.`, {
    status: response.status,
    code: "http_error",
  });
}

/** Call a JSON route; resolves to the parsed body (null for 204). */
export async function api(path, options = {}) {
  const response = await send(path, options);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

/** Fetch an image or file with the key in the header (a presigned S3 302 is followed). */
export async function fetchBlob(path) {
  const response = await send(path);
  return response.blob();
}

/** An object URL for an image behind the key, for <img src>; revoke it when done. */
export async function blobUrl(path) {
  return URL.createObjectURL(await fetchBlob(path));
}

/** A fresh stream token for `?token=` on one job's WebSocket (it opens that stream only). */
export async function streamToken(jobId) {
  const body = await api("/v1/stream-tokens", { method: "POST", json: { job_id: jobId } });
  return body.token;
}

/** A random Idempotency-Key, so a repeated click or a retried request makes one job. */
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}
