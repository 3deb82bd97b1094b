// Test support for tests that need a worker, exported as @media/worker/testing:
// the deletion harness (a service and a worker in one process) and worker-only processes.
export * from "./harness.ts";
export * from "./worker-process.ts";
