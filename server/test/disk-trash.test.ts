import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { link, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  createDiskStore,
  fixedWindow,
  formatStoreFailure,
  type ObjectStore,
  resolveDiskRoot,
} from "@media/server/storage";
import { trashPathOf } from "../src/storage/disk-trash.ts";
import type { MediaObject, ObjectsResult, StoreFailure } from "../src/storage/object-store.ts";

/** What would be stored for the failure (`CODE: message`), "" for none. */
const stored = (failure: StoreFailure | undefined) => (failure === undefined ? "" : formatStoreFailure(failure));

/** A window that closed before the call. */
const closedWindow = () => fixedWindow(-1);

const noFailures = (result: ObjectsResult) => {
  assert.deepEqual(
    [...result.failed].map(([id, f]) => `${id}: ${stored(f)}`),
    [],
  );
  assert.deepEqual(result.notAttempted, []);
};

/** Every path under `dir`, for "nothing outside was touched or created". */
const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

describe("disk store trash", () => {
  let dir: string;
  let root: string;
  let outside: string;
  let store: ObjectStore;
  let nextId = 1000;
  /** A fresh media id for each test, so tests never share a trashed copy. */
  const newId = () => String(nextId++);
  const at = (key: string) => path.join(root, key);
  const inTrash = (id: string) => path.join(root, trashPathOf(id));

  /** Notes, then trashes in one window (these tests hold no claim). */
  async function noteAndTrash(objects: MediaObject[]): Promise<ObjectsResult> {
    return store.trashMany(objects, fixedWindow(60), await store.note(objects.map((o) => o.key)));
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "disk-trash-"));
    root = path.join(dir, "root");
    outside = path.join(dir, "outside");
    await mkdir(root, { recursive: true });
    store = createDiskStore("d", resolveDiskRoot(root));
  });
  beforeEach(async () => {
    await rm(outside, { recursive: true, force: true });
    await mkdir(outside, { recursive: true });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("the trashed copy's path is .media-trash/<id mod 1000, 3 digits>/<id>", () => {
    assert.equal(trashPathOf("7"), ".media-trash/000/7");
    assert.equal(trashPathOf("123456"), ".media-trash/123/123456");
    assert.equal(trashPathOf("45123456"), ".media-trash/123/45123456");
    assert.equal(trashPathOf("9223372036854775807"), ".media-trash/775/9223372036854775807");
    for (const bad of ["", "-1", "07", "1e3", "../1", "0x10"]) assert.throws(() => trashPathOf(bad), /not a decimal/);
  });

  test("trash moves the file to its trashed copy's name, making the trash on demand", async () => {
    const id = newId();
    await mkdir(at("t/a"), { recursive: true });
    await writeFile(at("t/a/one.jpg"), "one bytes");
    const ino = lstatSync(at("t/a/one.jpg")).ino;
    noFailures(await noteAndTrash([{ id, key: "t/a/one.jpg" }]));
    assert.equal(existsSync(at("t/a/one.jpg")), false);
    assert.equal(readFileSync(inTrash(id), "utf8"), "one bytes");
    assert.equal(lstatSync(inTrash(id)).ino, ino, "moved by a rename, not copied");
    // Trashed again (a retry): nothing at the key counts as done.
    noFailures(await noteAndTrash([{ id, key: "t/a/one.jpg" }]));
    assert.equal(readFileSync(inTrash(id), "utf8"), "one bytes");
  });

  test("place puts the copy back with equal bytes (making its folders) and keeps it until dropped", async () => {
    const id = newId();
    await mkdir(at("p/deep"), { recursive: true });
    await writeFile(at("p/deep/pic.png"), "png bytes");
    noFailures(await noteAndTrash([{ id, key: "p/deep/pic.png" }]));
    await rm(at("p"), { recursive: true });
    const result = await store.placeFromTrash([{ id, key: "p/deep/pic.png" }], fixedWindow(60));
    noFailures(result);
    assert.deepEqual([...result.placed], [id]);
    assert.deepEqual([...result.taken], []);
    assert.deepEqual([...result.gone], []);
    assert.equal(readFileSync(at("p/deep/pic.png"), "utf8"), "png bytes");
    assert.equal(readFileSync(inTrash(id), "utf8"), "png bytes", "the trashed copy stays until dropped");
    noFailures(await store.dropFromTrash([id], fixedWindow(60)));
    assert.equal(existsSync(inTrash(id)), false);
    assert.equal(readFileSync(at("p/deep/pic.png"), "utf8"), "png bytes");
  });

  test("place never overwrites what is at the key: taken, left untouched", async () => {
    const id = newId();
    await mkdir(at("k"), { recursive: true });
    await writeFile(at("k/x.jpg"), "old");
    noFailures(await noteAndTrash([{ id, key: "k/x.jpg" }]));
    await writeFile(at("k/x.jpg"), "someone else's new file");
    await mkdir(at("k/dir.jpg"), { recursive: true });
    await writeFile(at("k/blocker"), "a file where a folder would be");
    const result = await store.placeFromTrash([{ id, key: "k/x.jpg" }], fixedWindow(60));
    noFailures(result);
    assert.deepEqual([...result.taken], [[id, "a file is at the key"]]);
    assert.deepEqual([...result.placed], []);
    assert.equal(readFileSync(at("k/x.jpg"), "utf8"), "someone else's new file");
    assert.equal(readFileSync(inTrash(id), "utf8"), "old");
    // A folder at the key, or a file where one of its folders would be.
    const folder = await store.placeFromTrash([{ id, key: "k/dir.jpg" }], fixedWindow(60));
    assert.deepEqual([...folder.taken], [[id, "a folder is at the key"]]);
    const blocked = await store.placeFromTrash([{ id, key: "k/blocker/x.jpg" }], fixedWindow(60));
    assert.match(blocked.taken.get(id) ?? "", /something other than a folder is at "k\/blocker"/);
    assert.equal(readFileSync(at("k/blocker"), "utf8"), "a file where a folder would be");
  });

  test("place recognises its own copy from an interrupted restore; trashing it again moves only the key's name", async () => {
    const id = newId();
    await mkdir(at("r"), { recursive: true });
    await writeFile(at("r/1.jpg"), "restored");
    noFailures(await noteAndTrash([{ id, key: "r/1.jpg" }]));
    // The restore linked it back, then stopped before it was recorded.
    await link(inTrash(id), at("r/1.jpg"));
    const result = await store.placeFromTrash([{ id, key: "r/1.jpg" }], fixedWindow(60));
    noFailures(result);
    assert.deepEqual([...result.placed], [id]);
    assert.deepEqual([...result.taken], []);
    // Trashed again before the copy was dropped: the key's name goes, the trashed copy stays.
    noFailures(await noteAndTrash([{ id, key: "r/1.jpg" }]));
    assert.equal(existsSync(at("r/1.jpg")), false);
    assert.equal(readFileSync(inTrash(id), "utf8"), "restored");
  });

  test("a copy an interrupted restore left in the trash is replaced by the file now at the key", async () => {
    const id = newId();
    await mkdir(path.dirname(inTrash(id)), { recursive: true });
    await writeFile(inTrash(id), "an older trashed copy");
    await writeFile(at("clash.jpg"), "current");
    noFailures(await noteAndTrash([{ id, key: "clash.jpg" }]));
    assert.equal(existsSync(at("clash.jpg")), false);
    assert.equal(readFileSync(inTrash(id), "utf8"), "current");
  });

  test("place reports gone when there is no trashed copy", async () => {
    const never = "999999999";
    const id = newId();
    const result = await store.placeFromTrash(
      [
        { id: never, key: "g/never.jpg" },
        { id, key: "g/also.jpg" },
      ],
      fixedWindow(60),
    );
    noFailures(result);
    assert.deepEqual([...result.gone].sort(), [id, never].sort());
    assert.equal(existsSync(at("g/never.jpg")), false);
  });

  test("drop deletes trashed copies; a missing one counts as deleted; a planted symlink goes, its target stays", async () => {
    const id = newId();
    const planted = newId();
    await writeFile(at("d.jpg"), "d");
    noFailures(await noteAndTrash([{ id, key: "d.jpg" }]));
    const target = path.join(outside, "target.txt");
    await writeFile(target, "keep me");
    await mkdir(path.dirname(inTrash(planted)), { recursive: true });
    await symlink(target, inTrash(planted));
    noFailures(await store.dropFromTrash([id, planted, "888888888"], fixedWindow(60)));
    assert.equal(existsSync(inTrash(id)), false);
    assert.throws(() => lstatSync(inTrash(planted)), /ENOENT/, "the symlink itself is gone");
    assert.equal(readFileSync(target, "utf8"), "keep me");
    const bad = await store.dropFromTrash(["../x"], fixedWindow(60));
    assert.match(stored(bad.failed.get("../x")), /^UNSAFE_KEY: .*not a decimal integer/);
  });

  test("a symlinked folder on the key's way is refused by trash and place; nothing outside is touched", async () => {
    const id = newId();
    await writeFile(path.join(outside, "linked.jpg"), "outside");
    await symlink(outside, at("escape"));
    const before = tree(outside);
    const trashed = await noteAndTrash([{ id, key: "escape/linked.jpg" }]);
    assert.match(stored(trashed.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "escape"/);
    assert.equal(readFileSync(path.join(outside, "linked.jpg"), "utf8"), "outside");
    // A trashed copy that place would put through the link, making folders there.
    await writeFile(at("s.jpg"), "s");
    noFailures(await noteAndTrash([{ id, key: "s.jpg" }]));
    const placed = await store.placeFromTrash([{ id, key: "escape/new/s.jpg" }], fixedWindow(60));
    assert.match(stored(placed.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "escape"/);
    // A dangling link on the way: mkdir never creates its target.
    await symlink(path.join(outside, "made-by-link"), at("dangling"));
    const dangling = await store.placeFromTrash([{ id, key: "dangling/s.jpg" }], fixedWindow(60));
    assert.match(stored(dangling.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "dangling"/);
    assert.deepEqual(tree(outside), before);
    await unlink(at("escape"));
    await unlink(at("dangling"));
  });

  test("a symlink at the key, or a folder, is never trashed", async () => {
    const id = newId();
    const folderId = newId();
    await writeFile(path.join(outside, "t.jpg"), "outside");
    await symlink(path.join(outside, "t.jpg"), at("link.jpg"));
    await mkdir(at("a-folder.jpg/inner"), { recursive: true });
    const result = await noteAndTrash([
      { id, key: "link.jpg" },
      { id: folderId, key: "a-folder.jpg" },
    ]);
    assert.match(stored(result.failed.get(id)), /^UNSAFE_KEY: .*is a symbolic link; only regular files/);
    assert.match(stored(result.failed.get(folderId)), /^UNSAFE_KEY: .*is a folder; only regular files/);
    assert.equal(lstatSync(at("link.jpg")).isSymbolicLink(), true);
    assert.equal(existsSync(at("a-folder.jpg/inner")), true);
    await unlink(at("link.jpg"));
  });

  describe("the trash folder or a shard replaced by a symlink to a folder outside", () => {
    test("the trash folder a symlink: refused, nothing outside touched or created", async () => {
      const id = newId();
      await rm(at(".media-trash"), { recursive: true, force: true });
      // An outside folder laid out as a trash: place must not link from it, drop must not unlink in it.
      const copy = path.join(outside, path.relative(".media-trash", trashPathOf(id)));
      await mkdir(path.dirname(copy), { recursive: true });
      await writeFile(copy, "outside copy");
      await symlink(outside, at(".media-trash"));
      const before = tree(outside);
      await writeFile(at("v.jpg"), "v");
      const trashed = await noteAndTrash([{ id, key: "v.jpg" }]);
      assert.match(stored(trashed.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "\.media-trash"/);
      assert.equal(readFileSync(at("v.jpg"), "utf8"), "v");
      const placed = await store.placeFromTrash([{ id, key: "v2.jpg" }], fixedWindow(60));
      assert.match(stored(placed.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "\.media-trash"/);
      assert.equal(existsSync(at("v2.jpg")), false);
      const dropped = await store.dropFromTrash([id], fixedWindow(60));
      assert.match(stored(dropped.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "\.media-trash"/);
      const places = await store.locate([{ id, key: "v.jpg" }]);
      assert.deepEqual(places.get(id), { atKey: true, inTrash: true }, "not known to be gone");
      assert.deepEqual(tree(outside), before);
      assert.equal(readFileSync(copy, "utf8"), "outside copy");
      await unlink(at(".media-trash"));
      await unlink(at("v.jpg"));
    });

    test("a shard a symlink: refused, nothing outside touched or created", async () => {
      const id = newId();
      const shard = path.dirname(inTrash(id));
      await rm(shard, { recursive: true, force: true });
      await mkdir(path.dirname(shard), { recursive: true });
      await writeFile(path.join(outside, id), "outside copy");
      await symlink(outside, shard);
      const before = tree(outside);
      await writeFile(at("w.jpg"), "w");
      const trashed = await noteAndTrash([{ id, key: "w.jpg" }]);
      assert.match(stored(trashed.failed.get(id)), /^UNSAFE_KEY: .*symbolic link at "\.media-trash\/\d{3}"/);
      assert.equal(readFileSync(at("w.jpg"), "utf8"), "w");
      const placed = await store.placeFromTrash([{ id, key: "w2.jpg" }], fixedWindow(60));
      assert.match(stored(placed.failed.get(id)), /^UNSAFE_KEY: /);
      assert.equal(existsSync(at("w2.jpg")), false);
      const dropped = await store.dropFromTrash([id], fixedWindow(60));
      assert.match(stored(dropped.failed.get(id)), /^UNSAFE_KEY: /);
      assert.deepEqual(tree(outside), before);
      assert.equal(readFileSync(path.join(outside, id), "utf8"), "outside copy");
      await unlink(shard);
      await unlink(at("w.jpg"));
    });

    test("a file where the trash folder should be: trash fails STORE_UNAVAILABLE, the file stays", async () => {
      const id = newId();
      await rm(at(".media-trash"), { recursive: true, force: true });
      await writeFile(at(".media-trash"), "not a folder");
      await writeFile(at("f.jpg"), "f");
      const trashed = await noteAndTrash([{ id, key: "f.jpg" }]);
      assert.match(
        stored(trashed.failed.get(id)),
        /^STORE_UNAVAILABLE: .*trash is unusable, ".media-trash" is not a folder/,
      );
      assert.equal(readFileSync(at("f.jpg"), "utf8"), "f");
      await unlink(at(".media-trash"));
      await unlink(at("f.jpg"));
    });

    test("a symlink planted as a trashed copy is never placed", async () => {
      const id = newId();
      await writeFile(path.join(outside, "secret"), "outside");
      await mkdir(path.dirname(inTrash(id)), { recursive: true });
      await symlink(path.join(outside, "secret"), inTrash(id));
      const placed = await store.placeFromTrash([{ id, key: "planted.jpg" }], fixedWindow(60));
      assert.match(stored(placed.failed.get(id)), /^UNSAFE_KEY: .*is not a regular file; it is never placed/);
      assert.equal(existsSync(at("planted.jpg")), false);
      await unlink(inTrash(id));
    });
  });

  test("a file replaced, or one that appeared, after it was noted is left in place", async () => {
    const swapped = newId();
    const late = newId();
    await writeFile(at("swapped.jpg"), "old");
    const objects = [
      { id: swapped, key: "swapped.jpg" },
      { id: late, key: "late.jpg" },
    ];
    const noted = await store.note(objects.map((o) => o.key));
    await unlink(at("swapped.jpg"));
    await writeFile(at("swapped.jpg"), "new and referenced");
    await writeFile(at("late.jpg"), "new too");
    const result = await store.trashMany(objects, fixedWindow(60), noted);
    assert.match(stored(result.failed.get(swapped)), /^FILE_CHANGED: .*was replaced after its trashing began/);
    assert.match(
      stored(result.failed.get(late)),
      /^FILE_CHANGED: a file appeared at .*"late.jpg"\) after its trashing began/,
    );
    assert.equal(readFileSync(at("swapped.jpg"), "utf8"), "new and referenced");
    assert.equal(readFileSync(at("late.jpg"), "utf8"), "new too");
    assert.equal(existsSync(inTrash(swapped)), false);
    assert.equal(existsSync(inTrash(late)), false);
  });

  test("a closed window touches nothing", async () => {
    const id = newId();
    const kept = newId();
    await writeFile(at("closed.jpg"), "keep");
    const noted = await store.note(["closed.jpg"]);
    const trashed = await store.trashMany([{ id, key: "closed.jpg" }], closedWindow(), noted);
    assert.deepEqual(trashed.notAttempted, [id]);
    assert.equal(readFileSync(at("closed.jpg"), "utf8"), "keep");
    assert.equal(existsSync(inTrash(id)), false);
    // A trashed copy neither placed nor dropped.
    await writeFile(at("kept.jpg"), "kept");
    noFailures(await noteAndTrash([{ id: kept, key: "kept.jpg" }]));
    const placed = await store.placeFromTrash([{ id: kept, key: "kept/x.jpg" }], closedWindow());
    assert.deepEqual(placed.notAttempted, [kept]);
    assert.equal(existsSync(at("kept")), false, "no folder made");
    const dropped = await store.dropFromTrash([kept], closedWindow());
    assert.deepEqual(dropped.notAttempted, [kept]);
    assert.equal(readFileSync(inTrash(kept), "utf8"), "kept");
  });

  test("locate says what is at the key and in the trash", async () => {
    const [both, keyOnly, trashOnly, neither, unsafe] = [newId(), newId(), newId(), newId(), newId()];
    await writeFile(at("loc-both.jpg"), "b");
    noFailures(await noteAndTrash([{ id: both, key: "loc-both.jpg" }]));
    await link(inTrash(both), at("loc-both.jpg"));
    await writeFile(at("loc-key.jpg"), "k");
    await writeFile(at("loc-trash.jpg"), "t");
    noFailures(await noteAndTrash([{ id: trashOnly, key: "loc-trash.jpg" }]));
    await symlink(outside, at("loc-link"));
    const places = await store.locate([
      { id: both, key: "loc-both.jpg" },
      { id: keyOnly, key: "loc-key.jpg" },
      { id: trashOnly, key: "loc-trash.jpg" },
      { id: neither, key: "no/such/folder.jpg" },
      { id: unsafe, key: "loc-link/x.jpg" },
    ]);
    assert.deepEqual(Object.fromEntries(places), {
      [both]: { atKey: true, inTrash: true },
      [keyOnly]: { atKey: true, inTrash: false },
      [trashOnly]: { atKey: false, inTrash: true },
      [neither]: { atKey: false, inTrash: false },
      // Through a symlink it cannot be told: not known to be gone.
      [unsafe]: { atKey: true, inTrash: false },
    });
    await unlink(at("loc-link"));
  });
});
