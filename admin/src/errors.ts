import { Code, ConnectError } from "@connectrpc/connect";

/** The message to show a user: the server's own words, without the "[code]" prefix. */
export function errorMessage(err: unknown): string {
  const e = ConnectError.from(err);
  return e.rawMessage || Code[e.code];
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.NotFound;
}
