import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { createSignal } from "solid-js";
import { reportFailure, reportReachable, setProbe } from "./connection";

// The API token lives in sessionStorage: one sign-in per tab, gone when the tab closes, never
// sent by the browser on its own (as a cookie would be). Every call carries it as a bearer token.

const TOKEN_KEY = "media-lifecycle.admin-token";

function readStoredToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled: the token then lives in memory only
  }
}

function storeToken(token: string | undefined): void {
  try {
    if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage disabled: keep the token in memory only
  }
}

const [token, setToken] = createSignal<string | undefined>(readStoredToken());
/** Why the user is on the sign-in screen: a token the server stopped accepting, or none yet. */
const [signOutReason, setSignOutReason] = createSignal<"expired" | undefined>();

export const signedIn = () => token() !== undefined;
export { signOutReason };

/** Keeps a token that verifyToken accepted for the rest of the browser session. */
export function signIn(secret: string): void {
  storeToken(secret);
  setSignOutReason(undefined);
  setToken(secret);
}

export function signOut(): void {
  storeToken(undefined);
  setSignOutReason(undefined);
  setToken(undefined);
}

/** The server no longer accepts `sent`: drop it, unless another token has replaced it meanwhile. */
function tokenRejected(sent: string): void {
  if (token() !== sent) return;
  storeToken(undefined);
  setSignOutReason("expired");
  setToken(undefined);
}

const bearer = (secret: string) => `Bearer ${secret}`;

/** Adds the stored token to calls that carry none; an Unauthenticated answer to it signs the user out. */
const authenticate: Interceptor = (next) => async (req) => {
  const current = token();
  if (current !== undefined && !req.header.has("authorization")) req.header.set("authorization", bearer(current));
  try {
    return await next(req);
  } catch (err) {
    if (
      current !== undefined &&
      req.header.get("authorization") === bearer(current) &&
      ConnectError.from(err).code === Code.Unauthenticated
    ) {
      tokenRejected(current);
    }
    throw err;
  }
};

/** Feeds every call's outcome to the connection state (connection.ts): one place knows whether the service answers. */
const trackConnection: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    reportReachable();
    return res;
  } catch (err) {
    reportFailure(err);
    throw err;
  }
};

// The server serves the dashboard and the Connect API on one origin (Vite proxies it in dev).
const transport = createConnectTransport({
  baseUrl: window.location.origin,
  useBinaryFormat: true,
  interceptors: [trackConnection, authenticate],
});

export const adminClient = createClient(AdminService, transport);
export const mediaClient = createClient(MediaService, transport);

// While the service is out of reach, the backoff probes with the cheapest admin call.
setProbe(() => adminClient.getDeletionStatus({}), signedIn);

/**
 * Checks a token with a cheap admin call before it is kept: undefined when it may use the
 * dashboard, else the message to show.
 */
export async function verifyToken(secret: string): Promise<string | undefined> {
  try {
    await adminClient.getDeletionStatus({}, { headers: { authorization: bearer(secret) } });
    return undefined;
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code === Code.Unauthenticated) return "That token was not accepted. Check it and try again.";
    if (e.code === Code.PermissionDenied) {
      return "That token is not an admin token. The dashboard needs a token with the admin scope.";
    }
    return `The token could not be checked: ${e.rawMessage || Code[e.code]}`;
  }
}

/**
 * The bytes of GET /preview/<id>, which needs the token in a header (an <img src> cannot send
 * one). Rejects when there is no image to show; a 401 signs the user out like an RPC would.
 */
export async function fetchPreview(id: bigint, signal: AbortSignal): Promise<Blob> {
  const current = token();
  const res = await fetch(`/preview/${id}`, {
    headers: current === undefined ? {} : { authorization: bearer(current) },
    signal,
  }).catch((err: unknown) => {
    reportFailure(err);
    throw err;
  });
  if (res.status === 401 && current !== undefined) tokenRejected(current);
  if (!res.ok) throw new Error(`preview of media ${id}: HTTP ${res.status}`);
  const blob = await res.blob();
  if (!blob.type.startsWith("image/")) throw new Error(`preview of media ${id} is not an image`);
  return blob;
}
