import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import type { ServiceDeps } from "./context.ts";

type AttestationHandlers = Pick<
  ServiceImpl<typeof MediaService>,
  "startAttestation" | "attestReferences" | "finishAttestation"
>;
type AttestationAdminHandlers = Pick<ServiceImpl<typeof AdminService>, "listAttestations">;

const notYet = () => new ConnectError("attestations are not implemented yet", Code.Unimplemented);

/** MediaService's reference attestation: StartAttestation, AttestReferences, FinishAttestation. */
export function createAttestationHandlers(_deps: ServiceDeps): AttestationHandlers {
  return {
    async startAttestation() {
      throw notYet();
    },
    async attestReferences() {
      throw notYet();
    },
    async finishAttestation() {
      throw notYet();
    },
  };
}

/** AdminService.ListAttestations: the drift reports, for the dashboard. */
export function createAttestationAdminHandlers(_deps: ServiceDeps): AttestationAdminHandlers {
  return {
    async listAttestations() {
      throw notYet();
    },
  };
}
