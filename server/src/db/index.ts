// The database as other workspaces (the worker) see it: connection, schema types, migrations.
export { type ConnectOptions, connectDatabase, type DatabaseHandle, type SessionLimits } from "./connect.ts";
export { type EmbeddedDatabase, startEmbeddedPostgres } from "./embedded.ts";
export { dropExpiredEvents, eventsDroppedBefore, prepareEventPartitions } from "./event-partitions.ts";
export { migrateDatabase, migrateToLatest } from "./migrate.ts";
export type * from "./schema.ts";
export { MEDIA_STATES } from "./schema.ts";
export { codeOf as sqlStateOf, isDatabaseUnavailable, isDataFault } from "./sql-errors.ts";
export { withTransaction } from "./transaction.ts";
