// `npm run compose:check [-- --profile prod|dev]`: what docker-compose.yml needs on disk before
// `docker-compose --profile ... up`, each missing piece named with the command that makes it.
// Compose cannot run this itself, and on a missing secret file it fails only at `up`, with a bind
// mount error that names no setting. Exit code 1 when something is missing or unusable.
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, parseTokens } from "@media/server/config";

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "prod" },
    // The checkout to check (default: this one); the tests point it at a scratch copy.
    root: { type: "string", default: path.resolve(import.meta.dirname, "..") },
  },
});
const root = values.root;
const profile = values.profile;
if (profile !== "prod" && profile !== "dev") {
  process.stderr.write(`--profile must be prod or dev, not "${profile}"\n`);
  process.exit(2);
}

const problems: string[] = [];
const SERVICE_UID = 1000; // the image's user `node`
const POSTGRES_UID = 999; // the postgres image's user `postgres`
const DEV_UID = 0; // the dev profile's containers: root, but without capabilities, so file modes apply
const READER: Record<number, string> = {
  [SERVICE_UID]: "the service",
  [POSTGRES_UID]: "PostgreSQL",
  [DEV_UID]: "the dev containers",
};

/** Whether a process of this uid (its group the same number, as in both images) may read the file. */
function readableBy(mode: number, owner: number, group: number, uid: number): boolean {
  if (owner === uid) return (mode & 0o400) !== 0;
  if (group === uid) return (mode & 0o040) !== 0;
  return (mode & 0o004) !== 0;
}

function check(file: string, what: string, create: string, readers: number[]): string | undefined {
  const full = path.join(root, file);
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(full);
  } catch {
    problems.push(`${file} is missing (${what}). Create it:\n    ${create}`);
    return undefined;
  }
  // Compose bind-mounts the file as it is: its owner and mode on this host are what the container sees.
  for (const uid of readers) {
    if (!readableBy(stats.mode, stats.uid, stats.gid, uid)) {
      problems.push(
        `${file} is not readable by uid ${uid} (${READER[uid]}) inside the containers: ` +
          (readers.length > 1 ? `chmod 644 ${file}` : `chown ${uid} ${file} && chmod 600 ${file}`),
      );
    }
  }
  return readFileSync(full, "utf8");
}

if (profile === "prod") {
  const tokens = check(
    "deploy/tokens",
    "the API tokens, AUTH_TOKENS_FILE",
    "cp deploy/tokens.example deploy/tokens  # then a secret from `openssl rand -hex 32` in each entry\n" +
      "    chown 1000 deploy/tokens && chmod 600 deploy/tokens",
    [SERVICE_UID],
  );
  if (tokens !== undefined) {
    try {
      parseTokens({ AUTH_TOKENS_FILE: path.join(root, "deploy/tokens") }, root, new Set());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(`deploy/tokens: ${error.message} (see deploy/tokens.example)`);
    }
  }
}

// Read by PostgreSQL (POSTGRES_PASSWORD_FILE) and by the service (DATABASE_PASSWORD_FILE).
const password = check(
  "deploy/postgres-password",
  "the database password, POSTGRES_PASSWORD_FILE and DATABASE_PASSWORD_FILE",
  "openssl rand -hex 32 > deploy/postgres-password && chmod 644 deploy/postgres-password",
  profile === "prod" ? [POSTGRES_UID, SERVICE_UID] : [POSTGRES_UID, DEV_UID],
);
if (password !== undefined && password.replace(/\r?\n$/, "") === "") problems.push("deploy/postgres-password is empty");

if (problems.length > 0) {
  process.stderr.write(
    `docker-compose --profile ${profile} cannot start yet:\n${problems.map((p) => `- ${p}`).join("\n")}\n`,
  );
  process.exit(1);
}
process.stdout.write(`ready: docker-compose --profile ${profile} up${profile === "prod" ? " -d" : ""} --build\n`);
