import type { ApiToken } from "../config.ts";

// What a limited service token (AUTH_TOKEN_LIMITS) may change: owners under
// its prefixes, media in its stores. A token without limits (every admin
// token, and service tokens not named there) may change anything. MediaService
// refuses a write outside a token's owners or stores with PERMISSION_DENIED,
// and shows a token only the media of its stores: to it, the others do not exist.

/** True when the token may act for this owner. */
export function ownerInReach(token: ApiToken | undefined, owner: string): boolean {
  const prefixes = token?.limits?.ownerPrefixes;
  return prefixes === undefined || prefixes.some((prefix) => owner.startsWith(prefix));
}

/** True when the token may see and act on media of this store. */
export function storeInReach(token: ApiToken | undefined, store: string): boolean {
  const stores = token?.limits?.stores;
  return stores === undefined || stores.has(store);
}
