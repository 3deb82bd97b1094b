import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createDiskStore, createS3Store } from "@media/server/storage";
import { type S3FaultProxy, startS3FaultProxy } from "./s3-fault-proxy.ts";
import { objectExists, putObject, S3RVER_CREDENTIALS, s3rverClient, startS3rver } from "./s3-server.ts";

describe("disk store", () => {
  let dir: string;
  let root: string;
  let outside: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "disk-store-"));
    root = path.join(dir, "root");
    outside = path.join(dir, "outside");
    await mkdir(path.join(root, "a/b"), { recursive: true });
    await mkdir(outside, { recursive: true });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("deletes files, and a missing file or folder counts as deleted", async () => {
    await writeFile(path.join(root, "a/b/one.jpg"), "1");
    await writeFile(path.join(root, "two.jpg"), "2");
    const store = createDiskStore("d", root);
    const failures = await store.deleteMany(["a/b/one.jpg", "two.jpg", "a/b/never.jpg", "no/such/folder.jpg"]);
    assert.deepEqual([...failures], []);
    assert.equal(existsSync(path.join(root, "a/b/one.jpg")), false);
    assert.equal(existsSync(path.join(root, "two.jpg")), false);
  });

  test("refuses traversal, absolute, NUL and backslash keys without touching anything", async () => {
    const victim = path.join(outside, "victim.txt");
    await writeFile(victim, "keep me");
    await writeFile(path.join(root, "a/ok.txt"), "keep me too");
    const store = createDiskStore("d", root);
    const bad = [
      "../outside/victim.txt",
      "a/../../outside/victim.txt",
      victim,
      "a\u0000b",
      "a\\..\\..\\outside",
      "a//ok.txt",
      "./a/ok.txt",
    ];
    const failures = await store.deleteMany(bad);
    assert.deepEqual([...failures.keys()].sort(), [...bad].sort());
    assert.equal(existsSync(victim), true);
    assert.equal(existsSync(path.join(root, "a/ok.txt")), true);
  });

  test("refuses a symlinked folder that leads outside the root", async () => {
    const victim = path.join(outside, "linked.txt");
    await writeFile(victim, "keep me");
    await symlink(outside, path.join(root, "escape"));
    const failures = await createDiskStore("d", root).deleteMany(["escape/linked.txt"]);
    assert.match(failures.get("escape/linked.txt") ?? "", /outside the store through a symbolic link/);
    assert.equal(existsSync(victim), true);
  });

  test("a symlink at the key itself is removed, its target kept", async () => {
    const target = path.join(outside, "target.txt");
    await writeFile(target, "keep me");
    await symlink(target, path.join(root, "a/link.txt"));
    assert.deepEqual([...(await createDiskStore("d", root).deleteMany(["a/link.txt"]))], []);
    assert.equal(existsSync(path.join(root, "a/link.txt")), false);
    assert.equal(existsSync(target), true);
  });
});

describe("S3 store (s3rver behind a fault-injecting proxy)", () => {
  const bucket = "media";
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let proxy: S3FaultProxy;
  const direct = () => s3rverClient(s3.port);
  const store = (maxAttempts = 5) =>
    createS3Store("s3", {
      bucket,
      prefix: "tenant/",
      region: "us-east-1",
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts,
    });

  before(async () => {
    s3 = await startS3rver(bucket);
    proxy = await startS3FaultProxy(s3.port);
  });
  after(async () => {
    await proxy.close();
    await s3.stop();
  });

  test("deletes under the prefix in requests of up to 1000 keys; missing keys count as deleted", async () => {
    const client = direct();
    const keys = Array.from({ length: 1500 }, (_, i) => `photos/${i}.jpg`);
    for (let i = 0; i < 1400; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((k) => putObject(client, bucket, `tenant/${k}`)));
    }
    await putObject(client, bucket, "photos/0.jpg"); // same key outside the prefix: must survive
    proxy.deleteRequests.length = 0;
    const failures = await store().deleteMany(keys);
    assert.deepEqual([...failures], []);
    // A full batch is one request of 1000 keys (the SDK may resend a request on a transient error).
    assert.ok(
      proxy.deleteRequests.every((n) => n === 1000 || n === 500),
      `requests: ${proxy.deleteRequests}`,
    );
    assert.ok(proxy.deleteRequests.includes(1000) && proxy.deleteRequests.includes(500));
    assert.equal(await objectExists(client, bucket, "tenant/photos/5.jpg"), false);
    assert.equal(await objectExists(client, bucket, "photos/0.jpg"), true);
  });

  test("per-key Errors in a 200 answer are reported as failures and those objects remain", async () => {
    const client = direct();
    await Promise.all(["x/1", "x/2", "x/3"].map((k) => putObject(client, bucket, `tenant/${k}`)));
    proxy.failingKeys.add("tenant/x/2");
    try {
      const failures = await store().deleteMany(["x/1", "x/2", "x/3"]);
      assert.deepEqual([...failures.keys()], ["x/2"]);
      assert.match(failures.get("x/2") ?? "", /InternalError/);
      assert.equal(await objectExists(client, bucket, "tenant/x/2"), true);
      assert.equal(await objectExists(client, bucket, "tenant/x/1"), false);
    } finally {
      proxy.failingKeys.clear();
    }
  });

  test("503 SlowDown is retried with backoff; a longer burst fails every key of the request", async () => {
    const client = direct();
    await putObject(client, bucket, "tenant/slow/1");
    proxy.slowDown(2);
    assert.deepEqual([...(await store().deleteMany(["slow/1"]))], []);
    assert.equal(await objectExists(client, bucket, "tenant/slow/1"), false);

    await putObject(client, bucket, "tenant/slow/2");
    proxy.slowDown(10);
    const failures = await store(2).deleteMany(["slow/2"]);
    proxy.slowDown(0);
    assert.match(failures.get("slow/2") ?? "", /SlowDown|reduce your request rate/);
    assert.equal(await objectExists(client, bucket, "tenant/slow/2"), true);
  });

  test("slow answers still complete", async () => {
    const client = direct();
    await putObject(client, bucket, "tenant/late/1");
    proxy.delayMs = 300;
    try {
      assert.deepEqual([...(await store().deleteMany(["late/1"]))], []);
    } finally {
      proxy.delayMs = 0;
    }
    assert.equal(await objectExists(client, bucket, "tenant/late/1"), false);
  });

  test("DeleteObjects carries a Content-MD5 of its body and no CRC32 checksum header", async () => {
    await store().deleteMany(["md5/1"]);
    const sent = proxy.lastDelete;
    assert.ok(sent);
    assert.equal(sent.headers["content-md5"], createHash("md5").update(sent.body).digest("base64"));
    assert.equal(sent.headers["x-amz-checksum-crc32"], undefined);
  });

  test("unsafe keys are refused before any request", async () => {
    proxy.deleteRequests.length = 0;
    const failures = await store().deleteMany(["../escape", "/abs"]);
    assert.equal(failures.size, 2);
    assert.deepEqual(proxy.deleteRequests, []);
  });
});
