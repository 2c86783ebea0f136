// The client against a running stack (HEIRLOOM_API_URL, HEIRLOOM_API_KEY, HEIRLOOM_PHOTO and
// HEIRLOOM_WEBHOOK_DELIVERY, set by tests/clients/test_typescript_client.py), and its webhook
// verification against a delivery the stack really sent. `node --test test/`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ApiError, Heirloom, serverSentEvents, verifyWebhook } from "../src/index.js";

const env = process.env;
const stack = env.HEIRLOOM_API_URL && env.HEIRLOOM_API_KEY && env.HEIRLOOM_PHOTO;
const delivery = env.HEIRLOOM_WEBHOOK_DELIVERY
  ? JSON.parse(readFileSync(env.HEIRLOOM_WEBHOOK_DELIVERY, "utf8"))
  : null;

test("a photo is submitted, followed to completion, downloaded and shared", { skip: !stack }, async () => {
  const heirloom = new Heirloom({ baseUrl: env.HEIRLOOM_API_URL, apiKey: env.HEIRLOOM_API_KEY });
  const photo = readFileSync(env.HEIRLOOM_PHOTO);
  const submitted = await heirloom.upload(photo, "restore", { fileName: "grandparents.jpg" });
  assert.ok(["queued", "running"].includes(submitted.status), submitted.status); // charged and started
  assert.deepEqual(submitted.operations, ["restore"]);

  const seen = [];
  for await (const event of heirloom.events(submitted.id)) {
    seen.push(event.type);
    if (event.type === "job.completed") break;
  }
  assert.equal(seen[0], "snapshot");
  assert.ok(seen.includes("job.completed"), seen.join(" "));

  const job = await heirloom.wait(submitted.id, { timeoutMs: 120_000 });
  assert.equal(job.status, "completed");
  assert.equal(job.progress, 100);

  const result = await heirloom.downloadResult(job.id);
  assert.deepEqual([...result.slice(0, 3)], [0xff, 0xd8, 0xff]); // a JPEG

  const share = await heirloom.share(job.id, { expiresInS: 3600 });
  assert.ok(share.url.includes("/s/"), share.url);
  const page = await fetch(share.url);
  assert.equal(page.status, 200);
});

test("an error answer is an ApiError with the stable code", { skip: !stack }, async () => {
  const heirloom = new Heirloom({ baseUrl: env.HEIRLOOM_API_URL, apiKey: env.HEIRLOOM_API_KEY });
  await assert.rejects(heirloom.job("no-such-job"), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 404);
    assert.equal(err.code, "not_found");
    return true;
  });
  const anonymous = new Heirloom({ baseUrl: env.HEIRLOOM_API_URL, apiKey: "hl_not_a_key" });
  await assert.rejects(anonymous.request("GET", "/v1/me"), { code: "unauthorized", status: 401 });
});

test("a delivery the stack sent verifies; a changed body or an old one does not", { skip: !delivery }, async () => {
  const body = Buffer.from(delivery.body_b64, "base64");
  const { header, secret } = delivery;
  assert.equal(await verifyWebhook(body, header, secret), true);
  assert.equal(await verifyWebhook(body, header, ["an-old-secret", secret]), true);
  assert.equal(await verifyWebhook(Buffer.concat([body, Buffer.from(" ")]), header, secret), false);
  assert.equal(await verifyWebhook(body, header, "another-secret"), false);
  assert.equal(await verifyWebhook(body, header, secret, { now: Date.now() / 1000 + 3600 }), false);
});

test("a known signature verifies (the server's scheme, computed by hand)", async () => {
  // HMAC-SHA256 of "<t>.<body>" with the secret, as services/events/webhooks.py signs.
  const header = `t=1700000000,v1=${"0".repeat(64)}`;
  const { createHmac } = await import("node:crypto");
  const real = createHmac("sha256", "secret").update("1700000000.{}").digest("hex");
  const signed = `t=1700000000,v1=${real}`;
  assert.equal(await verifyWebhook("{}", signed, "secret", { now: 1700000000 }), true);
  assert.equal(await verifyWebhook("{}", header, "secret", { now: 1700000000 }), false);
  assert.equal(await verifyWebhook("{}", "v1=abc", "secret", { now: 1700000000 }), false);
});

test("server-sent events are parsed across chunk boundaries, comments skipped", async () => {
  const text = ': ping\r\n\r\nevent: snapshot\nid: 7\ndata: {"job":{"id":"a"}}\n\nevent: job.comp';
  const rest = 'leted\nid: 9\ndata: {"job":{"id":"a",\ndata: "status":"completed"}}\n\n';
  const chunks = [text, rest].map((part) => new TextEncoder().encode(part));
  const events = [];
  for await (const event of serverSentEvents(chunks)) events.push(event);
  assert.deepEqual(events, [
    { type: "snapshot", id: 7, data: { job: { id: "a" } } },
    { type: "job.completed", id: 9, data: { job: { id: "a", status: "completed" } } },
  ]);
});
