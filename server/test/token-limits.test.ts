import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { ConfigError, loadConfig } from "../src/config.ts";
import {
  connectTransport,
  expectCode,
  grpcTransport,
  startTestService,
  TEST_SERVICE_TOKEN,
  TEST_TOKENS_ENV,
  type TestService,
} from "../testing/support.ts";

// Owner-scoped service tokens (AUTH_TOKEN_LIMITS), on both ports: a limited
// token changes only owners under its prefixes, creates only in its stores,
// and sees only media of its stores; an unlimited service token keeps today's
// reach. The full matrix: owner inside and outside, store inside and outside.

const BLOG_TOKEN = "blog-token-0123456789abcdef0123456789";
let t: TestService;
let dir: string;
let onDefault: bigint;
let onPhotos: bigint;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "token-limits-"));
  for (const store of ["default", "photos"]) await mkdir(path.join(dir, store));
  t = await startTestService({
    STORES: `default=file:${path.join(dir, "default")},photos=file:${path.join(dir, "photos")}`,
    AUTH_TOKENS: `${TEST_TOKENS_ENV.AUTH_TOKENS},blog:service:${BLOG_TOKEN}`,
    AUTH_TOKEN_LIMITS: JSON.stringify({ blog: { owners: ["blog/"], stores: ["default"] } }),
  });
  onDefault = (await t.media.createMedia({ store: "default", key: "limits/a.jpg", sizeBytes: 1n })).media?.id ?? 0n;
  onPhotos = (await t.media.createMedia({ store: "photos", key: "limits/b.jpg", sizeBytes: 1n })).media?.id ?? 0n;
});
after(async () => {
  await t.stop();
  await rm(dir, { recursive: true, force: true });
});

const ports = {
  "HTTP port (Connect)": (token: string) => createClient(MediaService, connectTransport(t.service.httpPort, token)),
  "gRPC port": (token: string) => createClient(MediaService, grpcTransport(t.service.grpcPort, token)),
};

let seq = 0;
for (const [port, clientFor] of Object.entries(ports)) {
  describe(port, () => {
    test("a limited token acts for owners under its prefixes only", async () => {
      const blog = clientFor(BLOG_TOKEN);
      const owner = `blog/post-${++seq}`;
      assert.equal((await blog.linkMedia({ mediaId: onDefault, owner })).changed, true);
      await expectCode(blog.linkMedia({ mediaId: onDefault, owner: `shop/item-${seq}` }), Code.PermissionDenied);
      await expectCode(blog.unlinkMedia({ mediaId: onDefault, owner: "shop/other" }), Code.PermissionDenied);
      await expectCode(blog.unlinkOwner({ owner: "shop/other" }), Code.PermissionDenied);
      await expectCode(blog.replaceOwnerMedia({ owner: "shop/other", mediaIds: [] }), Code.PermissionDenied);
      assert.deepEqual((await blog.replaceOwnerMedia({ owner, mediaIds: [] })).unlinkedMediaIds, [onDefault]);
      const refused = await blog.linkMedia({ mediaId: onDefault, owner: "shop/x" }).catch((e: unknown) => e);
      assert.match(String(refused), /limited to other owners/);
    });

    test("a limited token creates only in its stores, and only for its owners", async () => {
      const blog = clientFor(BLOG_TOKEN);
      const key = `limits/${port.length}-${++seq}.jpg`;
      assert.ok((await blog.createMedia({ store: "default", key, sizeBytes: 1n, owner: "blog/new" })).media);
      await expectCode(blog.createMedia({ store: "photos", key, sizeBytes: 1n }), Code.PermissionDenied);
      await expectCode(
        blog.createMedia({ store: "default", key: `${key}.2`, sizeBytes: 1n, owner: "shop/1" }),
        Code.PermissionDenied,
      );
      const { rows } = await t.sql.query("SELECT count(*)::int AS n FROM media WHERE key = $1", [`${key}.2`]);
      assert.equal(rows[0].n, 0, "a refused create registers nothing");
    });

    test("media of other stores do not exist for a limited token", async () => {
      const blog = clientFor(BLOG_TOKEN);
      assert.equal((await blog.getMedia({ id: onDefault })).media?.store, "default");
      await expectCode(blog.getMedia({ id: onPhotos }), Code.NotFound);
      const batch = await blog.batchGetMedia({ ids: [onDefault, onPhotos] });
      assert.deepEqual([batch.media.map((m) => m.id), batch.missingIds], [[onDefault], [onPhotos]]);
      await expectCode(blog.linkMedia({ mediaId: onPhotos, owner: "blog/x" }), Code.NotFound);
      await expectCode(blog.unlinkMedia({ mediaId: onPhotos, owner: "blog/x" }), Code.NotFound);
      await expectCode(blog.replaceOwnerMedia({ owner: "blog/x", mediaIds: [onDefault, onPhotos] }), Code.NotFound);
      const { rows } = await t.sql.query("SELECT count(*)::int AS n FROM media_references WHERE owner = 'blog/x'");
      assert.equal(rows[0].n, 0, "nothing was linked");
    });

    test("an unlimited service token keeps its reach over every owner and store", async () => {
      const service = clientFor(TEST_SERVICE_TOKEN);
      const owner = `shop/item-${++seq}`;
      assert.equal((await service.linkMedia({ mediaId: onPhotos, owner })).changed, true);
      assert.equal((await service.getMedia({ id: onPhotos })).media?.referenceCount, 1n);
      assert.equal((await service.unlinkOwner({ owner })).unlinkedMediaIds.length, 1);
    });
  });
}

test("AUTH_TOKEN_LIMITS is checked at start-up", () => {
  const env = (limits: unknown) => ({
    AUTH_TOKENS: `${TEST_TOKENS_ENV.AUTH_TOKENS},blog:service:${BLOG_TOKEN}`,
    AUTH_TOKEN_LIMITS: typeof limits === "string" ? limits : JSON.stringify(limits),
  });
  const refused: Array<[unknown, RegExp]> = [
    ["{not json", /not valid JSON/],
    [["blog"], /must be a JSON object/],
    [{ nobody: { owners: ["x/"] } }, /"nobody", which is no configured token/],
    [{ "test-admin": { owners: ["x/"] } }, /admin token; only service tokens/],
    [{ blog: { stores: ["elsewhere"] } }, /store "elsewhere", which is not in STORES/],
    [{ blog: { owners: [] } }, /list of 1 to 100 strings/],
    [{ blog: { owners: ["blog/"], colour: "red" } }, /only "owners" and "stores"/],
  ];
  for (const [limits, why] of refused) {
    assert.throws(
      () => loadConfig(env(limits)),
      (e: unknown) => e instanceof ConfigError && why.test(e.message),
      String(why),
    );
  }
  const ok = loadConfig(env({ blog: { owners: ["blog/"] } })).tokens.find((tk) => tk.name === "blog");
  assert.deepEqual(ok?.limits?.ownerPrefixes, ["blog/"]);
  assert.equal(ok?.limits?.stores, undefined);
});
