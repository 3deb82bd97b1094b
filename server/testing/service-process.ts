import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { TEST_TOKENS_ENV } from "./support.ts";

const root = path.resolve(import.meta.dirname, "../..");

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

const running = new Set<ServiceProcess>();

/**
 * Starts an entry point of the service as a real child process (with the test
 * tokens, no worker metrics port unless asked) and waits for its banner.
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
  const started = { child, exited, output: () => output };
  running.add(started);
  void exited.then(() => running.delete(started));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("is up")) resolve();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then((code) => reject(new Error(`${args.join(" ")} exited (${code}) before it was up:\n${output}`)));
  });
  return started;
}

/** Kills every child still running, so a failed test never leaves one behind (or hangs the run). */
export async function killAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => killProcess(p)));
}

export async function killProcess(service: ServiceProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill(signal);
  await service.exited;
}
