import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import { ownerInReach } from "../auth/limits.ts";
import * as attestations from "../media/attestations.ts";
import { attestationToProto } from "../media/mapping.ts";
import { callerOf, type ServiceDeps, tokenKey } from "./context.ts";
import { attestationClosed, attestationNotFound, invalidArgument, outOfReach } from "./errors.ts";
import { CREATE_MICROS_PART, decodePageToken, ID_PART, pageOf } from "./page-token.ts";
import { MAX_OWNER_LENGTH, optionalText, pageSize, requireId, requireOwner, requireText } from "./validation.ts";

type AttestationHandlers = Pick<
  ServiceImpl<typeof MediaService>,
  "startAttestation" | "attestReferences" | "finishAttestation"
>;
type AttestationAdminHandlers = Pick<ServiceImpl<typeof AdminService>, "listAttestations">;

function attestationId(value: bigint): string {
  if (value <= 0n) throw invalidArgument("attestation_id", "must be a positive attestation id");
  return value.toString();
}

function answer(id: string, outcome: attestations.AttestationOutcome) {
  switch (outcome.kind) {
    case "ok":
      return { attestation: attestationToProto(outcome.attestation) };
    case "not_found":
      throw attestationNotFound(id);
    case "closed":
      throw attestationClosed(id, outcome.state);
    default: {
      const unhandled: never = outcome;
      throw new Error(`unknown attestation outcome ${JSON.stringify(unhandled)}`);
    }
  }
}

/**
 * MediaService's reference attestation: StartAttestation, AttestReferences,
 * FinishAttestation (validate → media/attestations.ts → map). An attestation
 * belongs to the credential that started it; a limited token attests only
 * prefixes inside its owner prefixes and sees only media of its stores.
 */
export function createAttestationHandlers(deps: ServiceDeps): AttestationHandlers {
  const { pool } = deps;
  const tokenOf = (ctx: HandlerContext) => ctx.values.get(tokenKey);
  return {
    async startAttestation(req, ctx) {
      const prefix = requireText("owner_prefix", req.ownerPrefix, MAX_OWNER_LENGTH);
      const token = tokenOf(ctx);
      if (!ownerInReach(token, prefix)) throw outOfReach(token?.name ?? "", "owner", prefix);
      return { attestation: attestationToProto(await attestations.startAttestation(pool, prefix, callerOf(ctx))) };
    },

    async attestReferences(req, ctx) {
      const id = attestationId(req.attestationId);
      const count = req.references.length;
      if (count === 0 || count > attestations.MAX_ATTESTED_PER_PAGE) {
        throw invalidArgument(
          "references",
          `must list 1 to ${attestations.MAX_ATTESTED_PER_PAGE} pairs (got ${count})`,
        );
      }
      const pairs = req.references.map((ref, i) => ({
        owner: requireOwner(`references[${i}].owner`, ref.owner),
        mediaId: requireId(`references[${i}].media_id`, ref.mediaId),
      }));
      const row = await attestations.getAttestation(pool, id);
      if (row === undefined || row.actor !== callerOf(ctx)) throw attestationNotFound(id);
      const bad = pairs.findIndex((pair) => !pair.owner.startsWith(row.owner_prefix));
      if (bad >= 0) {
        throw invalidArgument(
          `references[${bad}].owner`,
          `pair ${bad} names an owner outside the attestation's prefix "${row.owner_prefix}"`,
        );
      }
      return answer(id, await attestations.attestPage(pool, id, callerOf(ctx), pairs));
    },

    async finishAttestation(req, ctx) {
      const id = attestationId(req.attestationId);
      const stores = tokenOf(ctx)?.limits?.stores;
      const outcome = await attestations.finishAttestation(pool, id, callerOf(ctx), {
        linkAttested: req.linkAttested,
        unlinkUnattested: req.unlinkUnattested,
        stores: stores === undefined ? undefined : [...stores],
        graceSeconds: deps.gracePeriodSeconds,
      });
      return answer(id, outcome);
    },
  };
}

/** AdminService.ListAttestations: the drift reports, newest first, for the dashboard. */
export function createAttestationAdminHandlers(deps: ServiceDeps): AttestationAdminHandlers {
  return {
    async listAttestations(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const prefix = optionalText("owner_prefix", req.ownerPrefix, MAX_OWNER_LENGTH);
      const parts = decodePageToken("page_token", "at", req.pageToken, [CREATE_MICROS_PART, ID_PART]);
      const after = parts === undefined ? undefined : { createMicros: parts[0] as string, id: parts[1] as string };
      const rows = await attestations.listAttestations(deps.pool, prefix === "" ? undefined : prefix, after, limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, "at", (last) => [last.create_key, last.id]);
      return { attestations: page.map(attestationToProto), nextPageToken };
    },
  };
}
