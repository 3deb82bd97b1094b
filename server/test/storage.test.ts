import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ConfigError, loadConfig } from "@media/server/config";
import {
  createDiskStore,
  createS3Store,
  type DeleteResult,
  fixedWindow,
  formatStoreFailure,
  type ObjectStore,
  openStores,
  resolveDiskRoot,
  type StoreFailure,
} from "@media/server/storage";
import { type S3FaultProxy, startS3FaultProxy } from "../testing/s3-fault-proxy.ts";
import { objectExists, putObject, S3RVER_CREDENTIALS, s3rverClient, startS3rver } from "../testing/s3-server.ts";

/** Notes, then deletes in one window (a minute: these tests do not hold a claim). */
async function noteAndDelete(store: ObjectStore, keys: string[]): Promise<DeleteResult> {
  return store.deleteMany(keys, fixedWindow(60), await store.note(keys));
}

/** What would be stored for the failure (`CODE: message`), "" for none. */
const stored = (failure: StoreFailure | undefined) => (failure === undefined ? "" : formatStoreFailure(failure));

/** A window that closed before the call. */
const closedWindow = () => fixedWindow(-1);

const readAll = async (store: ObjectStore, key: string) => {
  const object = await store.open(key);
  if (object === undefined) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

describe("disk store", () => {
  let dir: string;
  let root: string;
  let outside: string;
  let store: ObjectStore;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "disk-store-"));
    root = path.join(dir, "root");
    outside = path.join(dir, "outside");
    await mkdir(path.join(root, "a/b"), { recursive: true });
    await mkdir(outside, { recursive: true });
    store = createDiskStore("d", resolveDiskRoot(root));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("deletes files, and a missing file or folder counts as deleted", async () => {
    await writeFile(path.join(root, "a/b/one.jpg"), "1");
    await writeFile(path.join(root, "two.jpg"), "2");
    const result = await noteAndDelete(store, ["a/b/one.jpg", "two.jpg", "a/b/never.jpg", "no/such/folder.jpg"]);
    assert.deepEqual([...result.failed], []);
    assert.deepEqual(result.notAttempted, []);
    assert.equal(existsSync(path.join(root, "a/b/one.jpg")), false);
    assert.equal(existsSync(path.join(root, "two.jpg")), false);
  });

  test("refuses traversal, absolute, NUL and backslash keys without touching anything", async () => {
    const victim = path.join(outside, "victim.txt");
    await writeFile(victim, "keep me");
    await writeFile(path.join(root, "a/ok.txt"), "keep me too");
    const bad = [
      "../outside/victim.txt",
      "a/../../outside/victim.txt",
      victim,
      "a\u0000b",
      "a\\..\\..\\outside",
      "a//ok.txt",
      "./a/ok.txt",
    ];
    const result = await noteAndDelete(store, bad);
    assert.deepEqual([...result.failed.keys()].sort(), [...bad].sort());
    for (const failure of result.failed.values()) assert.equal(failure.code, "UNSAFE_KEY");
    assert.equal(existsSync(victim), true);
    assert.equal(existsSync(path.join(root, "a/ok.txt")), true);
  });

  test("never follows a symlinked folder, whether it leads outside the store or inside it", async () => {
    const victim = path.join(outside, "linked.txt");
    await writeFile(victim, "keep me");
    await symlink(outside, path.join(root, "escape"));
    // An alias inside the store (current -> 2026-12 is ordinary): the file it reaches is another media's.
    await mkdir(path.join(root, "real"), { recursive: true });
    await writeFile(path.join(root, "real/shared.png"), "referenced elsewhere");
    await symlink("real", path.join(root, "alias"));
    const result = await noteAndDelete(store, ["escape/linked.txt", "alias/shared.png"]);
    assert.match(stored(result.failed.get("escape/linked.txt")), /^UNSAFE_KEY: .*symbolic link at "escape"/);
    assert.match(stored(result.failed.get("alias/shared.png")), /^UNSAFE_KEY: .*symbolic link at "alias"/);
    assert.equal(existsSync(victim), true);
    assert.equal(existsSync(path.join(root, "real/shared.png")), true);
    await assert.rejects(store.open("alias/shared.png"), /symbolic link/);
    await assert.rejects(store.open("escape/linked.txt"), /symbolic link/);
  });

  test("a symlink at the key itself is removed, its target kept; a preview refuses it", async () => {
    const target = path.join(outside, "target.txt");
    await writeFile(target, "keep me");
    await symlink(target, path.join(root, "a/link.txt"));
    await assert.rejects(store.open("a/link.txt"), /is a symbolic link/);
    assert.deepEqual([...(await noteAndDelete(store, ["a/link.txt"])).failed], []);
    assert.equal(existsSync(path.join(root, "a/link.txt")), false);
    assert.equal(existsSync(target), true);
  });

  test("a file replaced, or one that appeared, after it was noted is left in place", async () => {
    await writeFile(path.join(root, "a/swapped.jpg"), "old");
    const noted = await store.note(["a/swapped.jpg", "a/late.jpg"]);
    // What a caller re-registering the keys does while a stopped worker sleeps.
    await unlink(path.join(root, "a/swapped.jpg"));
    await writeFile(path.join(root, "a/swapped.jpg"), "new and referenced");
    await writeFile(path.join(root, "a/late.jpg"), "new too");
    const result = await store.deleteMany(["a/swapped.jpg", "a/late.jpg"], fixedWindow(60), noted);
    assert.match(stored(result.failed.get("a/swapped.jpg")), /^FILE_CHANGED: .*was replaced after its deletion began/);
    assert.match(
      stored(result.failed.get("a/late.jpg")),
      /^FILE_CHANGED: a file appeared at key "a\/late.jpg" after its deletion began/,
    );
    assert.equal(readFileSync(path.join(root, "a/swapped.jpg"), "utf8"), "new and referenced");
    assert.equal(existsSync(path.join(root, "a/late.jpg")), true);
  });

  test("a folder moved away after its files were noted is retried, not counted deleted", async () => {
    await mkdir(path.join(root, "moving"), { recursive: true });
    await writeFile(path.join(root, "moving/1.jpg"), "still here");
    const noted = await store.note(["moving/1.jpg"]);
    await rename(path.join(root, "moving"), path.join(root, "moved-for-a-moment"));
    const result = await store.deleteMany(["moving/1.jpg"], fixedWindow(60), noted);
    assert.match(stored(result.failed.get("moving/1.jpg")), /^FILE_CHANGED: .*vanished after its deletion began/);
    await rename(path.join(root, "moved-for-a-moment"), path.join(root, "moving"));
    assert.equal(existsSync(path.join(root, "moving/1.jpg")), true);
  });

  test("nothing is touched once the window has closed", async () => {
    await writeFile(path.join(root, "a/kept.jpg"), "keep");
    const noted = await store.note(["a/kept.jpg"]);
    const result = await store.deleteMany(["a/kept.jpg"], closedWindow(), noted);
    assert.deepEqual(result.notAttempted, ["a/kept.jpg"]);
    assert.equal(existsSync(path.join(root, "a/kept.jpg")), true);
  });

  test("previews read regular files only", async () => {
    await writeFile(path.join(root, "a/b/pic.png"), "png bytes");
    assert.equal(await readAll(store, "a/b/pic.png"), "png bytes");
    assert.equal(await store.open("a/b/missing.png"), undefined);
    assert.equal(await store.open("no/folder.png"), undefined);
    await assert.rejects(store.open("a/b"), /not a regular file/);
  });

  test("the root may be a symlink, resolved once; a root replaced later fails every key", async () => {
    const real = path.join(dir, "real-root");
    await mkdir(path.join(real, "x"), { recursive: true });
    await writeFile(path.join(real, "x/1.jpg"), "1");
    await symlink(real, path.join(dir, "root-link"));
    const linked = createDiskStore("l", resolveDiskRoot(path.join(dir, "root-link")));
    assert.equal(await readAll(linked, "x/1.jpg"), "1");
    // The folder is moved away and another put at its path: the store must not act on the newcomer.
    await rename(real, path.join(dir, "moved-root"));
    await mkdir(path.join(real, "x"), { recursive: true });
    await writeFile(path.join(real, "x/1.jpg"), "someone else's");
    const result = await noteAndDelete(linked, ["x/1.jpg"]);
    const failure = result.failed.get("x/1.jpg");
    assert.match(stored(failure), /^STORE_UNAVAILABLE: key "x\/1.jpg" .*no longer the folder it was at start-up/);
    assert.ok(!stored(failure).includes(dir), "no server path in what is stored");
    assert.ok(failure?.detail.includes(`the store root ${real} is no longer`), "the logs get it");
    assert.equal(existsSync(path.join(real, "x/1.jpg")), true);
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

  test("deletes under the prefix, 1000 keys in one request; missing keys count as deleted", async () => {
    const client = direct();
    const keys = Array.from({ length: 1000 }, (_, i) => `photos/${i}.jpg`);
    for (let i = 0; i < 900; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((k) => putObject(client, bucket, `tenant/${k}`)));
    }
    await putObject(client, bucket, "photos/0.jpg"); // same key outside the prefix: must survive
    proxy.deleteRequests.length = 0;
    const result = await noteAndDelete(store(), keys);
    assert.deepEqual([...result.failed], []);
    // One request of 1000 keys (the SDK may resend it after a transient error).
    assert.ok(
      proxy.deleteRequests.length >= 1 && proxy.deleteRequests.every((n) => n === 1000),
      `${proxy.deleteRequests}`,
    );
    assert.equal(await objectExists(client, bucket, "tenant/photos/5.jpg"), false);
    assert.equal(await objectExists(client, bucket, "photos/0.jpg"), true);
    await assert.rejects(noteAndDelete(store(), [...keys, "one-too-many"]), /at most 1000 keys a call/);
  });

  test("per-key Errors in a 200 answer are reported as failures and those objects remain", async () => {
    const client = direct();
    await Promise.all(["x/1", "x/2", "x/3"].map((k) => putObject(client, bucket, `tenant/${k}`)));
    proxy.failingKeys.add("tenant/x/2");
    try {
      const { failed } = await noteAndDelete(store(), ["x/1", "x/2", "x/3"]);
      assert.deepEqual([...failed.keys()], ["x/2"]);
      assert.equal(
        stored(failed.get("x/2")),
        'STORAGE_ERROR: deleting key "x/2" failed: InternalError: injected failure',
      );
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
    assert.deepEqual([...(await noteAndDelete(store(), ["slow/1"])).failed], []);
    assert.equal(await objectExists(client, bucket, "tenant/slow/1"), false);

    await putObject(client, bucket, "tenant/slow/2");
    proxy.slowDown(10);
    const { failed } = await noteAndDelete(store(2), ["slow/2"]);
    proxy.slowDown(0);
    assert.match(stored(failed.get("slow/2")), /^STORAGE_ERROR: DeleteObjects failed: SlowDown/);
    assert.equal(await objectExists(client, bucket, "tenant/slow/2"), true);
  });

  test("slow answers still complete within the timeout; a request that outlasts it is abandoned", async () => {
    const client = direct();
    await putObject(client, bucket, "tenant/late/1");
    proxy.delayMs = 300;
    try {
      assert.deepEqual([...(await noteAndDelete(store(), ["late/1"])).failed], []);
      // A window whose STORAGE_TIMEOUT (its signal) is shorter than the answer's delay.
      const short = { ...fixedWindow(60), signal: AbortSignal.timeout(50) };
      const { failed } = await store().deleteMany(["late/2"], short, undefined);
      assert.match(stored(failed.get("late/2")), /^STORAGE_TIMEOUT: DeleteObjects abandoned after STORAGE_TIMEOUT/);
    } finally {
      proxy.delayMs = 0;
    }
    assert.equal(await objectExists(client, bucket, "tenant/late/1"), false);
  });

  test("a retry is not sent once the window has closed during its backoff", async () => {
    await putObject(direct(), bucket, "tenant/retry/1");
    // The first attempt is sent at once and answered 503 after 100 ms; the window closes at 50 ms.
    proxy.delayMs = 100;
    proxy.slowDown(1);
    try {
      const window = { ...fixedWindow(0.05), signal: AbortSignal.timeout(60_000) };
      const result = await store().deleteMany(["retry/1"], window, undefined);
      assert.match(
        stored(result.failed.get("retry/1")),
        /^STORAGE_TIMEOUT: not sent: the lease's storage window had closed/,
      );
    } finally {
      proxy.delayMs = 0;
    }
    assert.doesNotMatch(proxy.lastDelete?.body.toString() ?? "", /retry\/1/, "no retry reached s3rver");
    assert.equal(await objectExists(direct(), bucket, "tenant/retry/1"), true);
  });

  test("no request is sent once the window has closed", async () => {
    await putObject(direct(), bucket, "tenant/closed/1");
    proxy.deleteRequests.length = 0;
    const result = await store().deleteMany(["closed/1"], closedWindow(), undefined);
    assert.deepEqual(result.notAttempted, ["closed/1"]);
    assert.deepEqual(proxy.deleteRequests, []);
    assert.equal(await objectExists(direct(), bucket, "tenant/closed/1"), true);
  });

  test("DeleteObjects carries a Content-MD5 of its body and no CRC32 checksum header", async () => {
    await noteAndDelete(store(), ["md5/1"]);
    const sent = proxy.lastDelete;
    assert.ok(sent);
    assert.equal(sent.headers["content-md5"], createHash("md5").update(sent.body).digest("base64"));
    assert.equal(sent.headers["x-amz-checksum-crc32"], undefined);
  });

  test("unsafe keys are refused before any request", async () => {
    proxy.deleteRequests.length = 0;
    const { failed } = await noteAndDelete(store(), ["../escape", "/abs"]);
    assert.equal(failed.size, 2);
    for (const failure of failed.values()) assert.equal(failure.code, "UNSAFE_KEY");
    assert.deepEqual(proxy.deleteRequests, []);
  });

  test("an endpoint refusing connections is STORE_UNAVAILABLE, naming neither its host nor its port", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = createS3Store("s3", {
      bucket,
      prefix: "tenant/",
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
    });
    const failure = (await noteAndDelete(unreachable, ["down/1"])).failed.get("down/1");
    assert.equal(stored(failure), "STORE_UNAVAILABLE: DeleteObjects could not reach the S3 endpoint (ECONNREFUSED)");
    assert.match(failure?.detail ?? "", new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`), "the logs get it");
  });
});

describe("stores overlap by identity, not by spelling", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "overlap-"));
    await mkdir(path.join(dir, "a/sub"), { recursive: true });
    await mkdir(path.join(dir, "a/..cache"), { recursive: true });
    await mkdir(path.join(dir, "b"), { recursive: true });
    await symlink(path.join(dir, "a"), path.join(dir, "link-to-a"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const open = (stores: string) => openStores(loadConfig({ STORES: stores }, dir).stores);
  const S3 = "s3://media/photos/?region=us-east-1";

  const overlapping: Array<[string, string]> = [
    ["a folder and a symlink to it", "one=file:a,two=file:link-to-a"],
    ["a folder and a folder below a symlink to it", "one=file:a,two=file:link-to-a/sub"],
    ["a folder inside another", "one=file:a,two=file:a/sub"],
    ["a folder inside another whose name starts with ..", "one=file:a,two=file:a/..cache"],
    ["the same folder written with a trailing slash and ..", "one=file:a/,two=file:b/../a"],
    ["the same bucket and prefix in another region", `one=${S3},two=s3://media/photos/?region=eu-west-1`],
    ["a prefix inside another", `one=${S3},two=s3://media/photos/2026/`],
    ["a whole bucket and a prefix of it", `one=s3://media,two=${S3}`],
    [
      "endpoints spelled 127.0.0.1 and localhost, one with a trailing /",
      "one=s3://media/p/?endpoint=http://127.0.0.1:9000&forcePathStyle=true,two=s3://media/p?endpoint=http://localhost:9000/&forcePathStyle=true",
    ],
    [
      "the default AWS endpoint and the explicit one",
      "one=s3://media/p/,two=s3://media/p/?endpoint=https://s3.us-east-1.amazonaws.com",
    ],
  ];
  for (const [what, stores] of overlapping) {
    test(`refuses ${what}, naming both stores`, () => {
      assert.throws(
        () => open(stores),
        (error: unknown) =>
          error instanceof ConfigError && /stores "one" \(.*\) and "two" \(.*\) overlap/.test(error.message),
      );
    });
  }

  test("accepts folders and prefixes side by side, and a disk store beside an S3 one", () => {
    const stores = open(`one=file:a,two=file:b,three=${S3},four=s3://media/photos2/,five=s3://other/photos/`);
    assert.deepEqual([...stores.keys()], ["one", "two", "three", "four", "five"]);
  });

  test("refuses a configured folder that does not exist, and creates only the default one", async () => {
    assert.throws(() => open("one=file:nowhere"), /disk store "one", .*nowhere, does not exist/);
    const dataDir = path.join(dir, "data");
    const stores = openStores(loadConfig({ DATA_DIR: dataDir }, dir).stores);
    assert.deepEqual([...stores.keys()], ["default"]);
    assert.equal(existsSync(path.join(dataDir, "files")), true);
  });
});
