// Prometheus metrics: the process's registry and series (metrics.ts), the
// lifecycle gauges read from the database at scrape time (lifecycle.ts), and
// the code label of the RPC series (rpc-code.ts).
export { type LifecycleGaugeOptions, registerLifecycleGauges } from "./lifecycle.ts";
export { readLifecycleSnapshot } from "./lifecycle-snapshot.ts";
export {
  createMetrics,
  type DeleteBatchObservation,
  type Metrics,
  type MetricsOptions,
  type SweepObservation,
} from "./metrics.ts";
export { rpcCodeName } from "./rpc-code.ts";
