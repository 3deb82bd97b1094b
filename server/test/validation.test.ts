import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import type { MediaState } from "@media/proto/media/v1/media_pb";
import { countRows, expectCode, startTestService, type TestService } from "../testing/support.ts";

let t: TestService;
let linkedId: bigint;

before(async () => {
  t = await startTestService();
  const { media } = await t.media.createMedia({ store: "default", key: "valid/existing.jpg" });
  linkedId = media!.id;
  await t.media.linkMedia({ mediaId: linkedId, owner: "valid/owner" });
});
after(() => t.stop());

const good = { store: "default", key: "ok/file.jpg", contentType: "image/jpeg", sizeBytes: 1n };

/** [description, call, field the error must name] */
const cases: Array<[string, () => Promise<unknown>, string]> = [
  ["empty store", () => t.media.createMedia({ ...good, store: "" }), "store"],
  ["unknown store", () => t.media.createMedia({ ...good, store: "elsewhere" }), "store"],
  ["empty key", () => t.media.createMedia({ ...good, key: "" }), "key"],
  ["absolute key", () => t.media.createMedia({ ...good, key: "/etc/passwd" }), "key"],
  ["'..' segment", () => t.media.createMedia({ ...good, key: "a/../../etc/passwd" }), "key"],
  ["'..' alone", () => t.media.createMedia({ ...good, key: ".." }), "key"],
  ["'.' segment", () => t.media.createMedia({ ...good, key: "a/./b" }), "key"],
  ["a key in the trash", () => t.media.createMedia({ ...good, key: ".media-trash/005/5" }), "key"],
  ["a key in the trash, other case", () => t.media.createMedia({ ...good, key: ".MEDIA-Trash/005/5" }), "key"],
  ["empty segment", () => t.media.createMedia({ ...good, key: "a//b" }), "key"],
  ["trailing slash", () => t.media.createMedia({ ...good, key: "a/b/" }), "key"],
  ["backslash", () => t.media.createMedia({ ...good, key: "a\\..\\b" }), "key"],
  ["NUL in key", () => t.media.createMedia({ ...good, key: "a\u0000b" }), "key"],
  ["newline in key", () => t.media.createMedia({ ...good, key: "a\nb" }), "key"],
  ["key over 1024 bytes", () => t.media.createMedia({ ...good, key: "é".repeat(513) }), "key"],
  ["key segment over 255 bytes", () => t.media.createMedia({ ...good, key: `a/${"b".repeat(256)}` }), "key"],
  ["negative size", () => t.media.createMedia({ ...good, sizeBytes: -1n }), "size_bytes"],
  ["control char in content type", () => t.media.createMedia({ ...good, contentType: "image/\u0007" }), "content_type"],
  ["content type too long", () => t.media.createMedia({ ...good, contentType: "x".repeat(256) }), "content_type"],
  ["bad label key", () => t.media.createMedia({ ...good, labels: { "bad key": "v" } }), "labels"],
  [
    "too many labels",
    () =>
      t.media.createMedia({
        ...good,
        labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])),
      }),
    "labels",
  ],
  ["label value too long", () => t.media.createMedia({ ...good, labels: { k: "v".repeat(256) } }), "labels"],
  ["zero id", () => t.media.getMedia({ id: 0n }), "id"],
  ["negative id", () => t.media.getMedia({ id: -5n }), "id"],
  ["no ids", () => t.media.batchGetMedia({ ids: [] }), "ids"],
  ["1001 ids", () => t.media.batchGetMedia({ ids: Array.from({ length: 1001 }, (_, i) => BigInt(i + 1)) }), "ids"],
  ["bad id in batch", () => t.media.batchGetMedia({ ids: [1n, 0n] }), "ids[1]"],
  ["link: zero media_id", () => t.media.linkMedia({ mediaId: 0n, owner: "o" }), "media_id"],
  ["link: empty owner", () => t.media.linkMedia({ mediaId: linkedId, owner: "" }), "owner"],
  ["link: owner too long", () => t.media.linkMedia({ mediaId: linkedId, owner: "o".repeat(513) }), "owner"],
  ["link: control char in owner", () => t.media.linkMedia({ mediaId: linkedId, owner: "o\u0000" }), "owner"],
  ["unlink: empty owner", () => t.media.unlinkMedia({ mediaId: linkedId, owner: "" }), "owner"],
  ["unlink: negative media_id", () => t.media.unlinkMedia({ mediaId: -1n, owner: "valid/owner" }), "media_id"],
  ["unlink owner: empty owner", () => t.media.unlinkOwner({ owner: "" }), "owner"],
  ["bidi override in key", () => t.media.createMedia({ ...good, key: "a/\u202egpj.exe" }), "key"],
  ["zero-width space in key", () => t.media.createMedia({ ...good, key: "a/b\u200b.jpg" }), "key"],
  [
    "zero-width joiner in content type",
    () => t.media.createMedia({ ...good, contentType: "image/\u200djpeg" }),
    "content_type",
  ],
  ["bidi isolate in label value", () => t.media.createMedia({ ...good, labels: { app: "blog\u2066" } }), "labels"],
  ["byte order mark in owner", () => t.media.linkMedia({ mediaId: linkedId, owner: "\ufeffvalid/owner" }), "owner"],
  ["bidi override in owner", () => t.media.unlinkOwner({ owner: "valid/\u202erenwo" }), "owner"],
  ["zero-width space in hold reason", () => t.admin.holdMedia({ mediaId: linkedId, reason: "legal\u200b" }), "reason"],
  ["bidi override in pause reason", () => t.admin.pauseDeletions({ reason: "\u202emaintenance" }), "reason"],
  ["format character in owner filter", () => t.admin.listMedia({ owner: "valid/owner\u200b" }), "owner"],
  ["list: page_size over 1000", () => t.admin.listMedia({ pageSize: 1001 }), "page_size"],
  ["list: unknown state", () => t.admin.listMedia({ state: 99 as MediaState }), "state"],
  [
    "references: page token carrying NUL",
    () =>
      t.admin.listMediaReferences({ mediaId: linkedId, pageToken: Buffer.from('r:["\\u0000"]').toString("base64url") }),
    "page_token",
  ],
  [
    "list: forged page token",
    () => t.admin.listMedia({ pageToken: Buffer.from("e:5").toString("base64url") }),
    "page_token",
  ],
  ["events: negative page_size", () => t.admin.listMediaEvents({ mediaId: linkedId, pageSize: -1 }), "page_size"],
];

describe("every invalid field is rejected with INVALID_ARGUMENT naming it, and nothing is written", () => {
  for (const [name, call, field] of cases) {
    test(name, async () => {
      const before = await Promise.all([
        countRows(t.sql, "media"),
        countRows(t.sql, "media_references"),
        countRows(t.sql, "media_events"),
      ]);
      const error = await expectCode(call(), Code.InvalidArgument);
      assert.ok(
        error.rawMessage.startsWith(`${field}`),
        `"${error.rawMessage}" should start with the field "${field}"`,
      );
      const afterCounts = await Promise.all([
        countRows(t.sql, "media"),
        countRows(t.sql, "media_references"),
        countRows(t.sql, "media_events"),
      ]);
      assert.deepEqual(afterCounts, before);
    });
  }

  test("the linked media is untouched by all of the above", async () => {
    const { media } = await t.media.getMedia({ id: linkedId });
    assert.equal(media?.referenceCount, 1n);
  });
});
