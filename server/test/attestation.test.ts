import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Client, Code, type ConnectError, createClient } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@media/proto/google/rpc/error_details_pb";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { AttestationState, DriftKind, DriftRepair, MediaState } from "@media/proto/media/v1/media_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import {
  connectTransport,
  expectCode,
  grpcTransport,
  startTestService,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  TEST_TOKENS_ENV,
  type TestService,
} from "../testing/support.ts";

// Reference attestation on both ports: an owner's truth against the
// references held here, each kind of drift, each repair with its events, what
// changed during an attestation left alone, repeated pairs counted once, a
// repeated finish, expiry, and a limited token's reach. (The sweep's expiry is
// in worker/test/attestation-expiry.test.ts.)

const BLOG_TOKEN = "blog-token-0123456789abcdef0123456789";
let t: TestService;
let dir: string;
let keySeq = 0;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "attestation-"));
  for (const store of ["default", "photos"]) await mkdir(path.join(dir, store));
  t = await startTestService({
    GRACE_PERIOD: "1h",
    PENDING_TTL: "24h",
    STORES: `default=file:${path.join(dir, "default")},photos=file:${path.join(dir, "photos")}`,
    AUTH_TOKENS: `${TEST_TOKENS_ENV.AUTH_TOKENS},blog:service:${BLOG_TOKEN}`,
    AUTH_TOKEN_LIMITS: JSON.stringify({ blog: { owners: ["blog/"], stores: ["default"] } }),
  });
});
after(async () => {
  await t.stop();
  await rm(dir, { recursive: true, force: true });
});

const ports = {
  "HTTP port (Connect)": (token: string) => createClient(MediaService, connectTransport(t.service.httpPort, token)),
  "gRPC port": (token: string) => createClient(MediaService, grpcTransport(t.service.grpcPort, token)),
};

async function create(owner?: string, store = "default"): Promise<bigint> {
  const { media } = await t.media.createMedia({
    store,
    key: `attest/${++keySeq}.jpg`,
    sizeBytes: 1n,
    ...(owner === undefined ? {} : { owner }),
  });
  assert.ok(media);
  return media.id;
}

async function setState(id: bigint, sql: string): Promise<void> {
  await t.sql.query(`UPDATE media SET ${sql} WHERE id = $1`, [String(id)]);
}

const trash = (id: bigint) =>
  setState(id, "state = 'TRASHED', delete_time = NULL, trash_time = now(), purge_time = now() + interval '7 days'");
const fail = (id: bigint) => setState(id, "state = 'FAILED', delete_time = NULL, last_error = 'EIO: test'");

async function stateOf(id: bigint): Promise<MediaState | undefined> {
  return (await t.media.getMedia({ id })).media?.state;
}

async function holdOf(id: bigint): Promise<string | null> {
  const { rows } = await t.sql.query("SELECT hold_reason FROM media WHERE id = $1", [String(id)]);
  return rows[0].hold_reason;
}

async function pairsLeft(id: bigint): Promise<number> {
  const { rows } = await t.sql.query(
    `SELECT (SELECT count(*) FROM attestation_pairs WHERE attestation_id = $1)
          + (SELECT count(*) FROM attestation_drift WHERE attestation_id = $1) AS n`,
    [String(id)],
  );
  return Number(rows[0].n);
}

const reasonOf = (error: ConnectError) => error.findDetails(ErrorInfoSchema)[0]?.reason;

const itemKey = (i: { kind: DriftKind; owner: string; mediaId: bigint; state: MediaState; repair: DriftRepair }) =>
  [DriftKind[i.kind], i.owner, i.mediaId, MediaState[i.state], DriftRepair[i.repair]] as const;

let prefixSeq = 0;
for (const [port, clientFor] of Object.entries(ports)) {
  describe(port, () => {
    let media: Client<typeof MediaService>;
    before(() => {
      media = clientFor(TEST_ADMIN_TOKEN);
    });

    test("finds each kind of drift, in the report's order; repeated pairs count once; a repeat answers the same", async () => {
      const p = `site${++prefixSeq}/`;
      const kept = await create(`${p}kept`);
      const leaked = await create(`${p}leak`);
      const shared = await create("elsewhere/1");
      const pending = await create();
      const orphan = await create(`${p}was`);
      await media.unlinkMedia({ mediaId: orphan, owner: `${p}was` });
      const trashed = await create();
      await trash(trashed);
      const gone = 987_654_321n;
      const outside = await create(`other${prefixSeq}/x`);

      const { attestation: started } = await media.startAttestation({ ownerPrefix: p });
      assert.equal(started?.state, AttestationState.OPEN);
      assert.ok(started?.expireTime);
      const id = started?.id ?? 0n;
      const page1 = await media.attestReferences({
        attestationId: id,
        references: [
          { owner: `${p}kept`, mediaId: kept },
          { owner: `${p}b`, mediaId: shared },
          { owner: `${p}a`, mediaId: pending },
          { owner: `${p}kept`, mediaId: kept },
        ],
      });
      assert.equal(page1.attestation?.attestedCount, 3n, "a pair repeated within a page counts once");
      const page2 = await media.attestReferences({
        attestationId: id,
        references: [
          { owner: `${p}a`, mediaId: pending },
          { owner: `${p}a`, mediaId: orphan },
          { owner: `${p}b`, mediaId: trashed },
          { owner: `${p}c`, mediaId: gone },
        ],
      });
      assert.equal(page2.attestation?.attestedCount, 6n, "a pair repeated across pages counts once");

      const { attestation } = await media.finishAttestation({ attestationId: id });
      assert.equal(attestation?.state, AttestationState.FINISHED);
      assert.ok(attestation?.finishTime);
      const drift = attestation?.drift;
      assert.ok(drift);
      assert.deepEqual(
        [drift.endangeredCount, drift.goneCount, drift.notLinkedCount, drift.unattestedCount, drift.repairedCount],
        [3n, 1n, 1n, 1n, 0n],
      );
      assert.equal(drift.itemsTruncated, false);
      assert.deepEqual(drift.items.map(itemKey), [
        ["ENDANGERED", `${p}a`, pending, "PENDING", "UNSPECIFIED"],
        ["ENDANGERED", `${p}a`, orphan, "ORPHANED", "UNSPECIFIED"],
        ["ENDANGERED", `${p}b`, trashed, "TRASHED", "UNSPECIFIED"],
        ["GONE", `${p}c`, gone, "UNSPECIFIED", "UNSPECIFIED"],
        ["NOT_LINKED", `${p}b`, shared, "LINKED", "UNSPECIFIED"],
        ["UNATTESTED", `${p}leak`, leaked, "LINKED", "UNSPECIFIED"],
      ]);
      // Reported only: nothing changed.
      assert.equal(await stateOf(pending), MediaState.PENDING);
      assert.equal(await stateOf(leaked), MediaState.LINKED);
      assert.equal(await stateOf(outside), MediaState.LINKED);
      assert.equal(await pairsLeft(id), 0, "the pairs are dropped after the finish");

      const again = await media.finishAttestation({ attestationId: id, linkAttested: true, unlinkUnattested: true });
      assert.deepEqual(
        again.attestation,
        attestation,
        "a repeated finish answers the stored report, repairing nothing",
      );
      assert.equal(await stateOf(pending), MediaState.PENDING);

      const listed = await t.admin.listAttestations({ ownerPrefix: p });
      assert.deepEqual(listed.attestations, [attestation]);
      const late = await expectCode(
        media.attestReferences({ attestationId: id, references: [{ owner: `${p}a`, mediaId: kept }] }),
        Code.FailedPrecondition,
      );
      assert.equal(reasonOf(late), "ATTESTATION_FINISHED");
    });

    test("repairs: links attested pairs, holds TRASHED and FAILED media, unlinks unattested ones, audited", async () => {
      const p = `site${++prefixSeq}/`;
      const shared = await create("elsewhere/2");
      const pending = await create();
      const orphan = await create(`${p}was`);
      await media.unlinkMedia({ mediaId: orphan, owner: `${p}was` });
      const trashed = await create();
      await trash(trashed);
      const failed = await create();
      await fail(failed);
      const leaked = await create(`${p}leak`);
      const leakedShared = await create(`${p}leak2`);
      await media.linkMedia({ mediaId: leakedShared, owner: "elsewhere/3" });

      const { attestation: started } = await media.startAttestation({ ownerPrefix: p });
      const id = started?.id ?? 0n;
      await media.attestReferences({
        attestationId: id,
        references: [shared, pending, orphan, trashed, failed].map((mediaId) => ({ owner: `${p}post`, mediaId })),
      });
      const { attestation } = await media.finishAttestation({
        attestationId: id,
        linkAttested: true,
        unlinkUnattested: true,
      });
      const drift = attestation?.drift;
      assert.ok(drift);
      assert.equal(drift.repairedCount, 7n);
      const repairs = new Map(drift.items.map((i) => [i.mediaId, DriftRepair[i.repair]]));
      assert.deepEqual(
        [shared, pending, orphan, trashed, failed, leaked, leakedShared].map((m) => repairs.get(m)),
        ["LINKED", "LINKED", "LINKED", "HELD", "HELD", "UNLINKED", "UNLINKED"],
      );
      for (const m of [shared, pending, orphan]) assert.equal(await stateOf(m), MediaState.LINKED);
      const orphaned = (await t.media.getMedia({ id: leaked })).media;
      assert.equal(orphaned?.state, MediaState.ORPHANED, "the last reference went: the grace period starts");
      const graceLeft = Number(orphaned?.deleteTime?.seconds ?? 0n) - Date.now() / 1000;
      assert.ok(graceLeft > 3000 && graceLeft <= 3600, `deleted after the grace period (${graceLeft}s)`);
      assert.equal(await stateOf(leakedShared), MediaState.LINKED);
      assert.match((await holdOf(trashed)) ?? "", new RegExp(`attestation ${id}: .*restore it`));
      assert.match((await holdOf(failed)) ?? "", new RegExp(`attestation ${id}: .*retry it`));

      const eventsOf = async (mediaId: bigint) => (await t.admin.listMediaEvents({ mediaId })).events.at(-1);
      const linked = await eventsOf(pending);
      assert.deepEqual([linked?.type, linked?.owner, linked?.actor], [MediaEventType.LINKED, `${p}post`, "test-admin"]);
      assert.match(linked?.reason ?? "", new RegExp(`^attestation ${id}: `));
      const held = await eventsOf(trashed);
      assert.deepEqual([held?.type, held?.actor], [MediaEventType.HELD, "test-admin"]);
      assert.match(held?.reason ?? "", new RegExp(`^attestation ${id}: `));
      const unlinked = await eventsOf(leaked);
      assert.deepEqual([unlinked?.type, unlinked?.owner], [MediaEventType.UNLINKED, `${p}leak`]);
      assert.match(unlinked?.reason ?? "", new RegExp(`^attestation ${id}: not attested`));
    });

    test("a pair linked or unlinked during the attestation is left alone (CHANGED_DURING)", async () => {
      const p = `site${++prefixSeq}/`;
      const dropped = await create(`${p}d`);
      await media.linkMedia({ mediaId: dropped, owner: "elsewhere/4" });
      const { attestation: started } = await media.startAttestation({ ownerPrefix: p });
      const id = started?.id ?? 0n;
      await media.attestReferences({ attestationId: id, references: [{ owner: `${p}d`, mediaId: dropped }] });
      // After the owner's page: it unlinks (its page predates that), and links a new media it does not attest.
      await media.unlinkMedia({ mediaId: dropped, owner: `${p}d` });
      const fresh = await create(`${p}new`);
      const { attestation } = await media.finishAttestation({
        attestationId: id,
        linkAttested: true,
        unlinkUnattested: true,
      });
      assert.deepEqual(attestation?.drift?.items.map(itemKey), [
        ["NOT_LINKED", `${p}d`, dropped, "LINKED", "CHANGED_DURING"],
      ]);
      assert.equal(attestation?.drift?.repairedCount, 0n);
      const { rows } = await t.sql.query("SELECT owner FROM media_references WHERE media_id = $1", [String(dropped)]);
      assert.deepEqual(
        rows.map((r) => r.owner),
        ["elsewhere/4"],
        "not linked again",
      );
      assert.equal(await stateOf(fresh), MediaState.LINKED, "a reference newer than the attestation is not unattested");
    });

    test("a limited token: its prefixes only, media of other stores do not exist for it", async () => {
      const blog = clientFor(BLOG_TOKEN);
      await expectCode(blog.startAttestation({ ownerPrefix: "shop/" }), Code.PermissionDenied);
      await expectCode(blog.startAttestation({ ownerPrefix: "blo" }), Code.PermissionDenied, "limited to other owners");
      const p = `blog/site${++prefixSeq}/`;
      const visible = await create(`${p}seen`);
      const hidden = await create(`${p}hidden`, "photos");
      const hiddenUnlinked = await create(undefined, "photos");
      const { attestation: started } = await blog.startAttestation({ ownerPrefix: p });
      const id = started?.id ?? 0n;
      assert.equal(started?.actor, "blog");
      const bad = await expectCode(
        blog.attestReferences({
          attestationId: id,
          references: [
            { owner: `${p}seen`, mediaId: visible },
            { owner: "blog/elsewhere", mediaId: visible },
          ],
        }),
        Code.InvalidArgument,
        "pair 1",
      );
      assert.equal(reasonOf(bad), "INVALID_ARGUMENT");
      assert.match(bad.rawMessage, /^references\[1\]\.owner: /);
      const other = clientFor(TEST_SERVICE_TOKEN);
      const foreign = await expectCode(
        other.attestReferences({ attestationId: id, references: [{ owner: `${p}seen`, mediaId: visible }] }),
        Code.NotFound,
      );
      assert.equal(reasonOf(foreign), "ATTESTATION_NOT_FOUND");
      await expectCode(other.finishAttestation({ attestationId: id }), Code.NotFound);
      await blog.attestReferences({
        attestationId: id,
        references: [
          { owner: `${p}seen`, mediaId: visible },
          { owner: `${p}pic`, mediaId: hiddenUnlinked },
        ],
      });
      const { attestation } = await blog.finishAttestation({
        attestationId: id,
        linkAttested: true,
        unlinkUnattested: true,
      });
      assert.deepEqual(
        attestation?.drift?.items.map(itemKey),
        [["GONE", `${p}pic`, hiddenUnlinked, "UNSPECIFIED", "UNSPECIFIED"]],
        "the media of a store it may not see is GONE, and its reference there is not UNATTESTED",
      );
      assert.equal(await stateOf(hidden), MediaState.LINKED);
      assert.equal(await stateOf(hiddenUnlinked), MediaState.PENDING);
    });

    test("an attestation past its hour takes no page and no finish", async () => {
      const p = `site${++prefixSeq}/`;
      const { attestation: started } = await media.startAttestation({ ownerPrefix: p });
      const id = started?.id ?? 0n;
      await t.sql.query("UPDATE attestations SET expire_time = now() - interval '1 second' WHERE id = $1", [
        String(id),
      ]);
      const page = await expectCode(
        media.attestReferences({ attestationId: id, references: [{ owner: `${p}a`, mediaId: 1n }] }),
        Code.FailedPrecondition,
        "expired",
      );
      assert.equal(reasonOf(page), "ATTESTATION_EXPIRED");
      assert.equal(
        reasonOf(await expectCode(media.finishAttestation({ attestationId: id }), Code.FailedPrecondition)),
        "ATTESTATION_EXPIRED",
      );
      await expectCode(media.finishAttestation({ attestationId: 0n }), Code.InvalidArgument);
      await expectCode(media.finishAttestation({ attestationId: 999_999n }), Code.NotFound);
      await expectCode(media.attestReferences({ attestationId: id, references: [] }), Code.InvalidArgument);
    });
  });
}

describe("at scale", () => {
  test("concurrent pages with overlapping pairs; repairs in transactions of at most 1,000; a report of 1,000 items", async () => {
    const p = "bulk/";
    // 2,500 references under the prefix, straight in SQL (each media LINKED by one reference).
    await t.sql.query(
      `WITH m AS (
         INSERT INTO media (store, key, state, reference_count)
         SELECT 'default', 'bulk/' || g, 'LINKED', 1 FROM generate_series(1, 2500) g RETURNING id
       ) INSERT INTO media_references (media_id, owner) SELECT id, 'bulk/' || id FROM m`,
    );
    const { rows } = await t.sql.query<{ id: string }>(
      "SELECT media_id::text AS id FROM media_references WHERE owner LIKE 'bulk/%' ORDER BY media_id",
    );
    const ids = rows.map((r) => BigInt(r.id));
    const { attestation: started } = await t.media.startAttestation({ ownerPrefix: p });
    const id = started?.id ?? 0n;
    // The first 1,000 attested, in five overlapping pages sent at once (in both orders).
    const pages = Array.from({ length: 5 }, (_, i) => {
      const slice = ids.slice(i * 150, i * 150 + 400).map((mediaId) => ({ owner: `bulk/${mediaId}`, mediaId }));
      return i % 2 === 0 ? slice : slice.reverse();
    });
    await Promise.all(pages.map((references) => t.media.attestReferences({ attestationId: id, references })));
    const between = await t.admin.listAttestations({ ownerPrefix: p });
    assert.equal(between.attestations[0]?.attestedCount, 1000n);

    const { attestation } = await t.media.finishAttestation({ attestationId: id, unlinkUnattested: true });
    const drift = attestation?.drift;
    assert.equal(drift?.unattestedCount, 1500n);
    assert.equal(drift?.repairedCount, 1500n);
    assert.equal(drift?.items.length, 1000);
    assert.equal(drift?.itemsTruncated, true);
    const owners = drift?.items.map((i) => i.owner) ?? [];
    assert.deepEqual(owners, [...owners].sort(), "items by owner");
    // now() is a transaction's start: the unlink events grouped by it are the repair transactions.
    const txns = await t.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM media_events WHERE reason LIKE $1 GROUP BY create_time`,
      [`attestation ${id}: %`],
    );
    assert.equal(
      txns.rows.reduce((sum, r) => sum + r.n, 0),
      1500,
    );
    assert.ok(txns.rows.length >= 2 && txns.rows.every((r) => r.n <= 1000), JSON.stringify(txns.rows));
    assert.equal(await pairsLeft(id), 0);
  });

  test("ListAttestations pages newest first with keyset tokens", async () => {
    const made: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      made.push((await t.media.startAttestation({ ownerPrefix: "paged/" })).attestation?.id ?? 0n);
    }
    const first = await t.admin.listAttestations({ ownerPrefix: "paged/", pageSize: 2 });
    assert.deepEqual(
      first.attestations.map((a) => a.id),
      [made[2], made[1]],
    );
    const second = await t.admin.listAttestations({
      ownerPrefix: "paged/",
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    assert.deepEqual(
      second.attestations.map((a) => a.id),
      [made[0]],
    );
    assert.equal(second.nextPageToken, "");
    const all = await t.admin.listAttestations({});
    assert.ok(all.attestations.length > 3);
    await expectCode(t.admin.listAttestations({ pageToken: "bogus" }), Code.InvalidArgument);
  });
});
