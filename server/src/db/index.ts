// The database as other workspaces (the worker) see it: connection, schema types, migrations.
export { connectDatabase, type DatabaseHandle, SESSION_OPTIONS } from "./connect.js";
export { type EmbeddedDatabase, startEmbeddedPostgres } from "./embedded.js";
export { migrateToLatest } from "./migrate.js";
export type * from "./schema.js";
