// Test support for every workspace's tests, exported as @media/server/testing:
// a real service on a fresh database, its processes, a TCP proxy for faults,
// s3rver with a fault-injecting proxy in front of it, and a reader of Prometheus text.
export * from "./prometheus.ts";
export * from "./s3-fault-proxy.ts";
export * from "./s3-server.ts";
export * from "./service-process.ts";
export * from "./support.ts";
export * from "./tcp-proxy.ts";
