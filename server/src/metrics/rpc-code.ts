import { Code } from "@connectrpc/connect";

/**
 * The code label of media_rpc_requests_total: "ok" for success (undefined),
 * otherwise the Connect code name in snake case, as the Connect protocol
 * writes it: "canceled", "invalid_argument", "not_found", "already_exists",
 * "permission_denied", "resource_exhausted", "failed_precondition",
 * "unimplemented", "internal", "unavailable", "unauthenticated", ...
 * (gRPC's CANCELLED is "canceled" here.)
 */
export function rpcCodeName(code: Code | undefined): string {
  if (code === undefined) return "ok";
  const name = Code[code];
  if (typeof name !== "string") return String(code);
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`));
}
