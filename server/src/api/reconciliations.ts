import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import type { ServiceDeps } from "./context.ts";

type ReconciliationHandlers = Pick<
  ServiceImpl<typeof AdminService>,
  | "startReconciliation"
  | "getReconciliation"
  | "listReconciliations"
  | "listReconciliationFindings"
  | "applyReconciliation"
>;

const notYet = () => new ConnectError("reconciliations are not implemented yet", Code.Unimplemented);

/** AdminService's storage reconciliation RPCs: validate, call the repository, map. */
export function createReconciliationHandlers(_deps: ServiceDeps): ReconciliationHandlers {
  return {
    async startReconciliation() {
      throw notYet();
    },
    async getReconciliation() {
      throw notYet();
    },
    async listReconciliations() {
      throw notYet();
    },
    async listReconciliationFindings() {
      throw notYet();
    },
    async applyReconciliation() {
      throw notYet();
    },
  };
}
