import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { STARTUP_MESSAGE } from "../src/process.ts";
import { TEST_TOKENS_ENV } from "./support.ts";

const root = path.resolve(import.meta.dirname, "../..");

/** A process's start-up log line (server/src/process.ts startupFields): what it serves, where. */
export interface StartupLine {
  readonly msg: string;
  readonly ports: { readonly grpc?: number; readonly http?: number; readonly probes?: number };
  readonly [field: string]: unknown;
}

/** The start-up log line, when this line of output is it. */
export function parseStartupLine(line: string): StartupLine | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown };
    return record.msg === STARTUP_MESSAGE ? (record as StartupLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fed a process's stdout chunk by chunk, returns its start-up log line once a
 * chunk completes it (undefined until then): how scripts and tests know the
 * process is up.
 */
export function startupLineWatcher(): (chunk: string) => StartupLine | undefined {
  let partial = "";
  return (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const found = parseStartupLine(line);
      if (found !== undefined) return found;
    }
    return undefined;
  };
}

/**
 * `npm run worker`'s command (package.json's, which docker-compose.yml and the
 * Kubernetes worker repeat, as their tests check) as node's arguments: its V8
 * heap flags, the entry point and --worker-only. Tests and benchmarks start
 * worker-only processes with it, so they run the worker as it is deployed.
 */
export function workerOnlyArgs(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: { worker: string } };
  const [node, ...args] = pkg.scripts.worker.split(" ");
  if (node !== "node") throw new Error(`package.json's worker script should start with node: ${pkg.scripts.worker}`);
  return args;
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Its start-up log line: its ports are in ports. */
  readonly startup: StartupLine;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

const running = new Set<Pick<ServiceProcess, "child" | "exited">>();

/**
 * Starts an entry point of the service as a real child process (with the test
 * tokens, no worker metrics port unless asked) and waits for its start-up log
 * line (written whatever LOG_LEVEL, unless silent).
 */
export async function spawnServiceProcess(
  args: string[],
  env: Record<string, string>,
  /** Starts it as the leader of a process group of its own, which a test can signal whole (as Ctrl-C does). */
  { ownGroup = false }: { ownGroup?: boolean } = {},
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...args], {
    cwd: root,
    detached: ownGroup,
    env: { ...process.env, LOG_LEVEL: "warn", METRICS_PORT: "0", ...TEST_TOKENS_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  let output = "";
  const handle = { child, exited, output: () => output };
  running.add(handle);
  void exited.then(() => running.delete(handle));
  const watch = startupLineWatcher();
  const startup = await new Promise<StartupLine>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      const found = watch(text);
      if (found !== undefined) resolve(found);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then((code) => reject(new Error(`${args.join(" ")} exited (${code}) before it was up:\n${output}`)));
  });
  return { ...handle, startup };
}

/** Kills every child still running, so a failed test never leaves one behind (or hangs the run). */
export async function killAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => killProcess(p)));
}

export async function killProcess(
  service: Pick<ServiceProcess, "child" | "exited">,
  signal: NodeJS.Signals = "SIGKILL",
): Promise<void> {
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill(signal);
  await service.exited;
}
