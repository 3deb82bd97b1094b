// The API token grammar: NAME:SCOPE:SECRET entries from AUTH_TOKENS (comma-separated) and
// AUTH_TOKENS_FILE (one per line, # comments), checked for unique names and secrets.
import type { ApiToken, TokenScope } from "../config.ts";
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

/** AUTH_TOKENS (comma-separated) and AUTH_TOKENS_FILE (one per line, # comments), together. */
export function parseTokens(env: Env, cwd: string): readonly ApiToken[] {
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
  return Object.freeze(tokens);
}
