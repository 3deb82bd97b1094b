import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { CopyObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { createS3Store, fixedWindow, formatStoreFailure, type StoreFailure } from "@media/server/storage";
import { trashedName } from "../src/storage/s3-trash.ts";
import { type S3FaultProxy, startS3FaultProxy } from "../testing/s3-fault-proxy.ts";
import { objectExists, putObject, S3RVER_CREDENTIALS, s3rverClient, startS3rver } from "../testing/s3-server.ts";

/** What would be stored for the failure (`CODE: message`), "" for none. */
const stored = (failure: StoreFailure | undefined) => (failure === undefined ? "" : formatStoreFailure(failure));
const open = () => fixedWindow(60);
const closedWindow = () => fixedWindow(-1);

describe("S3 trash (s3rver behind a fault-injecting proxy)", () => {
  const bucket = "media";
  const prefix = "tenant/";
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let proxy: S3FaultProxy;
  const direct = () => s3rverClient(s3.port);
  const store = (maxAttempts = 5) =>
    createS3Store("s3", {
      bucket,
      prefix,
      region: "us-east-1",
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts,
    });
  const exists = (name: string) => objectExists(direct(), bucket, name);
  const inTrash = (id: string) => exists(trashedName(prefix, id));
  const atKey = (key: string) => exists(prefix + key);
  const read = async (name: string) => {
    const answer = await direct().send(new GetObjectCommand({ Bucket: bucket, Key: name }));
    return Buffer.from(await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  };
  const put = (key: string, body: string | Buffer = "x") => putObject(direct(), bucket, prefix + key, body as string);

  before(async () => {
    s3 = await startS3rver(bucket);
    proxy = await startS3FaultProxy(s3.port);
  });
  after(async () => {
    await proxy.close();
    await s3.stop();
  });

  test("the trashed copy of media N is <prefix>.media-trash/N", () => {
    assert.equal(trashedName("tenant/", "42"), "tenant/.media-trash/42");
    assert.equal(trashedName("", "42"), ".media-trash/42");
  });

  test("trash then place: the bytes come back, and the trashed copy stays until dropped", async () => {
    const one = randomBytes(70_000);
    const two = randomBytes(1234);
    await put("rt/1.jpg", one);
    await put("rt/sub dir/2 ü.jpg", two);
    const objects = [
      { id: "101", key: "rt/1.jpg" },
      { id: "102", key: "rt/sub dir/2 ü.jpg" },
    ];
    proxy.deleteRequests.length = 0;
    const trashed = await store().trashMany(objects, open(), undefined);
    assert.deepEqual([...trashed.failed], []);
    assert.deepEqual(trashed.notAttempted, []);
    // One DeleteObjects of both originals (s3rver now and then answers 500 to one, which the SDK retries).
    assert.deepEqual([...new Set(proxy.deleteRequests)], [2], "one DeleteObjects of both originals");
    assert.equal(await atKey("rt/1.jpg"), false);
    assert.equal(await atKey("rt/sub dir/2 ü.jpg"), false);
    assert.deepEqual(await read(trashedName(prefix, "101")), one);

    const placed = await store().placeFromTrash(objects, open());
    assert.deepEqual([...placed.failed], []);
    assert.deepEqual([...placed.placed].sort(), ["101", "102"]);
    assert.deepEqual([...placed.taken], []);
    assert.deepEqual([...placed.gone], []);
    assert.deepEqual(await read(`${prefix}rt/1.jpg`), one);
    assert.deepEqual(await read(`${prefix}rt/sub dir/2 ü.jpg`), two);
    assert.equal(await inTrash("101"), true, "the trashed copy stays until dropped");
    assert.equal(await inTrash("102"), true);

    const dropped = await store().dropFromTrash(["101", "102"], open());
    assert.deepEqual([...dropped.failed], []);
    assert.equal(await inTrash("101"), false);
    assert.equal(await inTrash("102"), false);
    assert.equal(await atKey("rt/1.jpg"), true, "dropping leaves the placed object alone");
  });

  test("nothing at the key counts as trashed, and is left out of DeleteObjects", async () => {
    await put("none/1");
    proxy.deleteRequests.length = 0;
    const result = await store().trashMany(
      [
        { id: "201", key: "none/1" },
        { id: "202", key: "none/missing" },
      ],
      open(),
      undefined,
    );
    assert.deepEqual([...result.failed], []);
    assert.deepEqual(result.notAttempted, []);
    assert.deepEqual([...new Set(proxy.deleteRequests)], [1]);
    assert.equal(await inTrash("201"), true);
    assert.equal(await inTrash("202"), false);

    // A second attempt after a first one that finished: nothing left to copy or delete.
    proxy.deleteRequests.length = 0;
    const again = await store().trashMany([{ id: "201", key: "none/1" }], open(), undefined);
    assert.deepEqual([...again.failed], []);
    assert.deepEqual(proxy.deleteRequests, []);
    assert.equal(await inTrash("201"), true);
  });

  test("place refuses when another object is at the key, and leaves it untouched", async () => {
    await put("taken/1", "original");
    await store().trashMany([{ id: "301", key: "taken/1" }], open(), undefined);
    await put("taken/1", "a newer upload");
    const result = await store().placeFromTrash([{ id: "301", key: "taken/1" }], open());
    assert.deepEqual([...result.taken], [["301", "an object is at the key"]]);
    assert.deepEqual([...result.placed], []);
    assert.equal((await read(`${prefix}taken/1`)).toString(), "a newer upload");
    assert.equal((await read(trashedName(prefix, "301"))).toString(), "original");
  });

  test("place recognises its own earlier copy (same ETag) and copies nothing", async () => {
    await put("own/1", "mine");
    await store().trashMany([{ id: "401", key: "own/1" }], open(), undefined);
    // An earlier place whose copy landed but whose answer was lost.
    await direct().send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: `${prefix}own/1`,
        CopySource: `${bucket}/${prefix}.media-trash/401`,
      }),
    );
    proxy.copies.length = 0;
    const result = await store().placeFromTrash([{ id: "401", key: "own/1" }], open());
    assert.deepEqual([...result.failed], []);
    assert.deepEqual([...result.placed], ["401"]);
    assert.deepEqual(proxy.copies, [], "no CopyObject sent");
  });

  test("place reports gone when there is no trashed copy", async () => {
    proxy.copies.length = 0;
    const result = await store().placeFromTrash([{ id: "501", key: "gone/1" }], open());
    assert.deepEqual([...result.gone], ["501"]);
    assert.deepEqual([...result.failed], []);
    assert.equal(await atKey("gone/1"), false);
    assert.deepEqual(proxy.copies, []);
  });

  test("a HEAD refused during place fails that id; locate counts a refused HEAD as present", async () => {
    await put("deny/1");
    await store().trashMany([{ id: "551", key: "deny/1" }], open(), undefined);
    proxy.forbiddenHeads.add(`${prefix}deny/1`);
    try {
      const result = await store().placeFromTrash([{ id: "551", key: "deny/1" }], open());
      assert.equal(stored(result.failed.get("551")), 'PERMISSION_DENIED: HeadObject of key "deny/1" failed: HTTP 403');
      assert.deepEqual([...result.placed], []);
      const places = await store().locate([{ id: "551", key: "deny/1" }]);
      assert.deepEqual(places.get("551"), { atKey: true, inTrash: true }, "a 403 is not a verified absence");
    } finally {
      proxy.forbiddenHeads.clear();
    }
    assert.equal(await atKey("deny/1"), false, "nothing was copied");
  });

  test("a failed CopyObject fails that id and keeps its original; the others are trashed", async () => {
    await Promise.all(["c/1", "c/2", "c/3", "c/4"].map((k) => put(k)));
    proxy.failingCopies.set(`${prefix}c/2`, { status: 403, code: "AccessDenied" });
    proxy.failingCopies.set(`${prefix}c/3`, { status: 500, code: "InternalError" });
    proxy.failingCopies.set(`${prefix}c/4`, { status: 400, code: "EntityTooLarge" });
    proxy.deleteRequests.length = 0;
    try {
      const objects = ["c/1", "c/2", "c/3", "c/4"].map((key, i) => ({ id: `60${i + 1}`, key }));
      const { failed, notAttempted } = await store(1).trashMany(objects, open(), undefined);
      assert.deepEqual(notAttempted, []);
      assert.deepEqual([...failed.keys()].sort(), ["602", "603", "604"]);
      assert.equal(
        stored(failed.get("602")),
        'PERMISSION_DENIED: CopyObject of key "c/2" to the trash failed: AccessDenied: injected failure',
      );
      assert.equal(
        stored(failed.get("603")),
        'STORAGE_ERROR: CopyObject of key "c/3" to the trash failed: InternalError: injected failure',
      );
      assert.match(stored(failed.get("604")), /^STORAGE_ERROR: .* larger than CopyObject can copy \(5 GiB\)/);
      assert.deepEqual([...new Set(proxy.deleteRequests)], [1], "only the copied original is deleted");
    } finally {
      proxy.failingCopies.clear();
    }
    assert.equal(await atKey("c/1"), false);
    assert.equal(await inTrash("601"), true);
    for (const k of ["c/2", "c/3", "c/4"]) assert.equal(await atKey(k), true, `${k} is still there`);
  });

  test("per-key DeleteObjects Errors after the copy fail that id; its original stays", async () => {
    await Promise.all(["d/1", "d/2"].map((k) => put(k)));
    proxy.failingKeys.add(`${prefix}d/2`);
    try {
      const objects = [
        { id: "701", key: "d/1" },
        { id: "702", key: "d/2" },
      ];
      const { failed } = await store().trashMany(objects, open(), undefined);
      assert.deepEqual([...failed.keys()], ["702"]);
      assert.equal(
        stored(failed.get("702")),
        'STORAGE_ERROR: deleting key "d/2" failed: InternalError: injected failure',
      );
    } finally {
      proxy.failingKeys.clear();
    }
    assert.equal(await atKey("d/1"), false);
    assert.equal(await atKey("d/2"), true);
    assert.equal(await inTrash("702"), true, "its copy stays; a retry copies again over it");
    const retry = await store().trashMany([{ id: "702", key: "d/2" }], open(), undefined);
    assert.deepEqual([...retry.failed], []);
    assert.equal(await atKey("d/2"), false);
  });

  test("a closed window sends nothing", async () => {
    await put("closed/1");
    const objects = [{ id: "801", key: "closed/1" }];
    const before = proxy.requests;
    const trashed = await store().trashMany(objects, closedWindow(), undefined);
    const placed = await store().placeFromTrash(objects, closedWindow());
    const dropped = await store().dropFromTrash(["801"], closedWindow());
    assert.deepEqual(trashed.notAttempted, ["801"]);
    assert.deepEqual(placed.notAttempted, ["801"]);
    assert.deepEqual(dropped.notAttempted, ["801"]);
    for (const r of [trashed, placed, dropped]) assert.deepEqual([...r.failed], []);
    assert.equal(proxy.requests, before, "no request reached the proxy");
    assert.equal(await atKey("closed/1"), true);
  });

  test("a window that closes while copying: DeleteObjects is not sent, the originals stay", async () => {
    await Promise.all(["late/1", "late/2"].map((k) => put(k)));
    proxy.delayMs = 100;
    proxy.deleteRequests.length = 0;
    try {
      const window = { ...fixedWindow(0.05), signal: AbortSignal.timeout(60_000) };
      const objects = [
        { id: "901", key: "late/1" },
        { id: "902", key: "late/2" },
      ];
      const result = await store().trashMany(objects, window, undefined);
      assert.deepEqual(result.notAttempted, ["901", "902"]);
      assert.deepEqual([...result.failed], []);
    } finally {
      proxy.delayMs = 0;
    }
    assert.deepEqual(proxy.deleteRequests, []);
    assert.equal(await atKey("late/1"), true);
    assert.equal(await atKey("late/2"), true);
  });

  test("a copy that outlasts STORAGE_TIMEOUT is abandoned, and its original stays", async () => {
    await put("slow/1");
    proxy.delayMs = 300;
    try {
      const short = { ...fixedWindow(60), signal: AbortSignal.timeout(50) };
      const { failed } = await store().trashMany([{ id: "1001", key: "slow/1" }], short, undefined);
      assert.match(stored(failed.get("1001")), /^STORAGE_TIMEOUT: CopyObject of key "slow\/1" to the trash abandoned/);
    } finally {
      proxy.delayMs = 0;
    }
    // The proxy forwards the copy after its delay: wait for it, then check the original.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await atKey("slow/1"), true);
  });

  test("drop deletes the trashed copies; a missing one counts as dropped; per-key Errors fail", async () => {
    await Promise.all(["drop/1", "drop/2"].map((k) => put(k)));
    await store().trashMany(
      [
        { id: "1101", key: "drop/1" },
        { id: "1102", key: "drop/2" },
      ],
      open(),
      undefined,
    );
    proxy.failingKeys.add(trashedName(prefix, "1102"));
    try {
      const { failed, notAttempted } = await store().dropFromTrash(["1101", "1102", "1103"], open());
      assert.deepEqual(notAttempted, []);
      assert.deepEqual([...failed.keys()], ["1102"]);
      assert.match(
        stored(failed.get("1102")),
        /^STORAGE_ERROR: deleting key "\.media-trash\/1102" failed: InternalError/,
      );
    } finally {
      proxy.failingKeys.clear();
    }
    assert.equal(await inTrash("1101"), false);
    assert.equal(await inTrash("1102"), true);
  });

  test("unsafe keys and ids are refused before any request", async () => {
    const before = proxy.requests;
    const trashed = await store().trashMany(
      [
        { id: "1201", key: "../escape" },
        { id: "1202", key: ".media-trash/1" },
        { id: "../1203", key: "ok" },
      ],
      open(),
      undefined,
    );
    assert.deepEqual([...trashed.failed.keys()].sort(), ["../1203", "1201", "1202"]);
    for (const failure of trashed.failed.values()) assert.equal(failure.code, "UNSAFE_KEY");
    const dropped = await store().dropFromTrash(["a/b"], open());
    assert.equal(dropped.failed.get("a/b")?.code, "UNSAFE_KEY");
    assert.equal(proxy.requests, before);
    await assert.rejects(
      store().trashMany(
        Array.from({ length: 1001 }, (_, i) => ({ id: `${i}`, key: `k/${i}` })),
        open(),
        undefined,
      ),
      /at most 1000 objects a call/,
    );
  });

  test("locate: at the key, in the trash, both, neither; an error counts as present", async () => {
    await Promise.all(["loc/key", "loc/trash", "loc/both"].map((k) => put(k)));
    await store().trashMany([{ id: "1302", key: "loc/trash" }], open(), undefined);
    await direct().send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: trashedName(prefix, "1303"),
        CopySource: `${bucket}/${prefix}loc/both`,
      }),
    );
    const places = await store().locate([
      { id: "1301", key: "loc/key" },
      { id: "1302", key: "loc/trash" },
      { id: "1303", key: "loc/both" },
      { id: "1304", key: "loc/neither" },
      { id: "1305", key: "../unsafe" },
    ]);
    assert.deepEqual(Object.fromEntries(places), {
      1301: { atKey: true, inTrash: false },
      1302: { atKey: false, inTrash: true },
      1303: { atKey: true, inTrash: true },
      1304: { atKey: false, inTrash: false },
      1305: { atKey: true, inTrash: false },
    });

    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = createS3Store("s3", {
      bucket,
      prefix,
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
    });
    const down = await unreachable.locate([{ id: "1304", key: "loc/neither" }]);
    assert.deepEqual(down.get("1304"), { atKey: true, inTrash: true }, "never 'verified gone' on an error");
    const { failed } = await unreachable.trashMany([{ id: "1304", key: "loc/neither" }], open(), undefined);
    assert.equal(
      stored(failed.get("1304")),
      'STORE_UNAVAILABLE: CopyObject of key "loc/neither" to the trash could not reach the S3 endpoint (ECONNREFUSED)',
    );
  });

  test("cost: requests per object of trashing vs a plain delete (printed, not asserted on time)", async (t) => {
    const n = 1000;
    const keys = Array.from({ length: n }, (_, i) => `cost/${i}`);
    for (let i = 0; i < n; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => put(k)));
    const objects = keys.map((key, i) => ({ id: `c${i}`, key }));
    /** Runs one call, counting the requests that reached the proxy and the CopyObject and DeleteObjects among them. */
    const measure = async (what: string, run: () => Promise<unknown>) => {
      const requests = proxy.requests;
      proxy.copies.length = 0;
      proxy.deleteRequests.length = 0;
      const started = performance.now();
      await run();
      const ms = performance.now() - started;
      const all = proxy.requests - requests;
      const counts = { all, copies: proxy.copies.length, deletes: proxy.deleteRequests.length };
      t.diagnostic(
        `${what}: ${all} requests for ${n} objects (${(all / n).toFixed(3)}/object: ${counts.copies} CopyObject, ` +
          `${counts.deletes} DeleteObjects of ${proxy.deleteRequests.join("+") || 0} keys, ` +
          `${all - counts.copies - counts.deletes} other), ${ms.toFixed(0)} ms (${(ms / n).toFixed(2)} ms/object, s3rver on loopback)`,
      );
      return counts;
    };
    const trash = await measure("trashMany", async () => {
      assert.equal((await store().trashMany(objects, open(), undefined)).failed.size, 0);
    });
    const place = await measure("placeFromTrash", async () => {
      assert.equal((await store().placeFromTrash(objects, open())).placed.size, n);
    });
    const drop = await measure("dropFromTrash", async () => {
      assert.equal(
        (
          await store().dropFromTrash(
            objects.map((o) => o.id),
            open(),
          )
        ).failed.size,
        0,
      );
    });
    const plain = await measure("deleteMany", async () => {
      assert.equal((await store().deleteMany(keys, open(), undefined)).failed.size, 0);
    });
    // The SDK may resend a DeleteObjects after a transient error (s3rver drops some connections).
    assert.equal(trash.copies, n, "a CopyObject each");
    assert.ok(trash.deletes >= 1 && trash.all === n + trash.deletes, "and one DeleteObjects");
    assert.equal(place.all, 3 * n, "HEAD the trashed copy, HEAD the key, CopyObject");
    assert.ok(drop.deletes >= 1 && drop.all === drop.deletes);
    assert.ok(plain.deletes >= 1 && plain.all === plain.deletes);
  });
});
