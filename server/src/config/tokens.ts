// The API token grammar: NAME:SCOPE:SECRET entries from AUTH_TOKENS (comma-separated) and
// AUTH_TOKENS_FILE (one per line, # comments), checked for unique names and secrets; and the
// limits of service tokens from AUTH_TOKEN_LIMITS (JSON: token name to owner prefixes and stores).
import type { ApiToken, TokenLimits, TokenScope } from "../config.ts";
import { ConfigError, type Env, readSettingFile } from "./values.ts";

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_SCOPES: readonly TokenScope[] = ["service", "admin", "metrics"];
const MIN_SECRET_LENGTH = 24;

/**
 * One NAME:SCOPE:SECRET entry. Messages quote nothing from a malformed
 * entry (a secret pasted alone, or a missing scope, would land in a field
 * that looks harmless): they name its position instead.
 */
function parseToken(source: string, entry: string): ApiToken {
  const [name = "", scope = "", ...rest] = entry.split(":");
  const secret = rest.join(":");
  if (rest.length === 0 || !TOKEN_NAME.test(name) || !(TOKEN_SCOPES as readonly string[]).includes(scope)) {
    throw new ConfigError(
      `${source} is not NAME:SCOPE:SECRET (NAME letters, digits, ., _ or -; SCOPE service, admin or metrics)`,
    );
  }
  if (secret.length < MIN_SECRET_LENGTH || /\s/.test(secret)) {
    throw new ConfigError(
      `${source}: the secret needs at least ${MIN_SECRET_LENGTH} characters without spaces (try: openssl rand -hex 32)`,
    );
  }
  return Object.freeze({ name, scope: scope as TokenScope, secret });
}

const LIMITS_FORM =
  'AUTH_TOKEN_LIMITS is a JSON object from service token names to their limits, for example {"blog": {"owners": ["blog/"], "stores": ["default"]}}';

/** A list of 1-100 non-empty strings, or undefined when absent. */
function stringList(name: string, field: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > 100) {
    throw new ConfigError(`AUTH_TOKEN_LIMITS: "${name}".${field} must be a list of 1 to 100 strings. ${LIMITS_FORM}`);
  }
  for (const item of value) {
    if (typeof item !== "string" || item === "" || item.length > 512) {
      throw new ConfigError(
        `AUTH_TOKEN_LIMITS: "${name}".${field} holds an entry that is not a string of 1-512 characters`,
      );
    }
  }
  return value as string[];
}

/** AUTH_TOKEN_LIMITS, by token name: only service tokens, only configured stores. */
function parseLimits(
  raw: string | undefined,
  tokens: readonly ApiToken[],
  storeNames: ReadonlySet<string>,
): Map<string, TokenLimits> {
  const limits = new Map<string, TokenLimits>();
  if (raw === undefined || raw.trim() === "") return limits;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`AUTH_TOKEN_LIMITS is not valid JSON. ${LIMITS_FORM}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`AUTH_TOKEN_LIMITS must be a JSON object. ${LIMITS_FORM}`);
  }
  for (const [name, entry] of Object.entries(parsed)) {
    const token = tokens.find((t) => t.name === name);
    if (token === undefined) throw new ConfigError(`AUTH_TOKEN_LIMITS names "${name}", which is no configured token`);
    if (token.scope !== "service") {
      throw new ConfigError(`AUTH_TOKEN_LIMITS: "${name}" is a ${token.scope} token; only service tokens take limits`);
    }
    const { owners, stores, ...rest } = (entry ?? {}) as { owners?: unknown; stores?: unknown };
    const unknown = Object.keys(rest);
    if (typeof entry !== "object" || entry === null || unknown.length > 0) {
      throw new ConfigError(`AUTH_TOKEN_LIMITS: "${name}" may have only "owners" and "stores". ${LIMITS_FORM}`);
    }
    const storeList = stringList(name, "stores", stores);
    for (const store of storeList ?? []) {
      if (!storeNames.has(store))
        throw new ConfigError(`AUTH_TOKEN_LIMITS: "${name}" names store "${store}", which is not in STORES`);
    }
    limits.set(name, {
      ownerPrefixes: stringList(name, "owners", owners),
      stores: storeList === undefined ? undefined : new Set(storeList),
    });
  }
  return limits;
}

/** AUTH_TOKENS (comma-separated) and AUTH_TOKENS_FILE (one per line, # comments), together, with AUTH_TOKEN_LIMITS. */
export function parseTokens(env: Env, cwd: string, storeNames: ReadonlySet<string>): readonly ApiToken[] {
  const tokens: ApiToken[] = [];
  (env.AUTH_TOKENS ?? "").split(",").forEach((entry, index) => {
    if (entry.trim() !== "") tokens.push(parseToken(`AUTH_TOKENS entry ${index + 1}`, entry.trim()));
  });
  if (env.AUTH_TOKENS_FILE !== undefined) {
    const before = tokens.length;
    const lines = readSettingFile("AUTH_TOKENS_FILE", env.AUTH_TOKENS_FILE, cwd).split("\n");
    lines.forEach((line, index) => {
      const entry = line.replace(/#.*/, "").trim();
      if (entry !== "") tokens.push(parseToken(`AUTH_TOKENS_FILE line ${index + 1}`, entry));
    });
    if (tokens.length === before) {
      throw new ConfigError(`AUTH_TOKENS_FILE="${env.AUTH_TOKENS_FILE}" holds no token; add NAME:SCOPE:SECRET lines`);
    }
  }
  for (const [i, token] of tokens.entries()) {
    const earlier = tokens.slice(0, i);
    if (earlier.some((t) => t.name === token.name)) throw new ConfigError(`token name "${token.name}" is used twice`);
    if (earlier.some((t) => t.secret === token.secret)) {
      throw new ConfigError(
        `tokens "${earlier.find((t) => t.secret === token.secret)?.name}" and "${token.name}" share a secret`,
      );
    }
  }
  const limits = parseLimits(env.AUTH_TOKEN_LIMITS, tokens, storeNames);
  return Object.freeze(tokens.map((token) => Object.freeze({ ...token, limits: limits.get(token.name) })));
}
