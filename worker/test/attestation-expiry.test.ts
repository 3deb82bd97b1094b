import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { AttestationState } from "@media/proto/media/v1/media_pb";
import { expectCode } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness } from "../testing/harness.ts";

// The sweep's part in reference attestation: an OPEN attestation an hour past
// its last page becomes EXPIRED and its pairs are dropped; a closed one's
// leftover pairs (a finish that stopped before dropping them) go too; one still
// in time is left alone. Even while deletions are paused: no file is touched.

let h: DeletionHarness;
before(async () => {
  h = await startDeletionHarness({ SWEEP_SCHEDULE: "0 0 1 1 *" });
});
after(() => h.stop());

async function pairsOf(id: bigint): Promise<number> {
  const { rows } = await h.t.sql.query("SELECT count(*)::int AS n FROM attestation_pairs WHERE attestation_id = $1", [
    String(id),
  ]);
  return rows[0].n;
}

async function attestation(prefix: string): Promise<bigint> {
  const id = (await h.t.media.startAttestation({ ownerPrefix: prefix })).attestation?.id ?? 0n;
  await h.t.media.attestReferences({
    attestationId: id,
    references: [1n, 2n, 3n].map((mediaId) => ({ owner: `${prefix}x`, mediaId })),
  });
  return id;
}

test("the sweep expires attestations past their time and drops their pairs, paused or not", async () => {
  const stale = await attestation("stale/");
  const live = await attestation("live/");
  const finished = await attestation("done/");
  await h.t.media.finishAttestation({ attestationId: finished });
  // A finish that stopped before dropping its pairs.
  await h.t.sql.query(
    "INSERT INTO attestation_pairs (attestation_id, owner, media_id) VALUES ($1, 'done/y', 7), ($1, 'done/z', 8)",
    [String(finished)],
  );
  await h.t.sql.query("UPDATE attestations SET clear_time = NULL WHERE id = $1", [String(finished)]);
  await h.t.sql.query("UPDATE attestations SET expire_time = now() - interval '1 minute' WHERE id = $1", [
    String(stale),
  ]);
  await h.t.admin.pauseDeletions({ reason: "attestation expiry test" });
  await h.sweep();

  const { attestations } = await h.t.admin.listAttestations({});
  const stateOf = (id: bigint) => attestations.find((a) => a.id === id)?.state;
  assert.equal(stateOf(stale), AttestationState.EXPIRED);
  assert.equal(stateOf(live), AttestationState.OPEN);
  assert.equal(stateOf(finished), AttestationState.FINISHED);
  assert.deepEqual([await pairsOf(stale), await pairsOf(live), await pairsOf(finished)], [0, 3, 0]);
  await expectCode(
    h.t.media.attestReferences({ attestationId: stale, references: [{ owner: "stale/x", mediaId: 4n }] }),
    Code.FailedPrecondition,
    "expired",
  );
});
