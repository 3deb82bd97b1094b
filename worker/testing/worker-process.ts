import { type ServiceProcess, spawnServiceProcess, workerOnlyArgs } from "@media/server/testing";

/** A worker-only process. */
export type WorkerProcess = ServiceProcess;

/** Starts `npm run worker`'s command and waits for its banner. */
export const spawnWorker = (env: Record<string, string>) => spawnServiceProcess(workerOnlyArgs(), env);
