import { type ServiceProcess, spawnServiceProcess } from "@media/server/testing";

/** A worker-only process. */
export type WorkerProcess = ServiceProcess;

/** Starts `npm run worker`'s entry point and waits for its banner. */
export const spawnWorker = (env: Record<string, string>) =>
  spawnServiceProcess(["worker/src/main.ts", "--worker-only"], env);
