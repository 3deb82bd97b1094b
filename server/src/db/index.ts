// The database as other workspaces (the worker) see it: connection, schema types, migrations.
export { connectDatabase, type DatabaseHandle, SESSION_OPTIONS } from "./connect.ts";
export { type EmbeddedDatabase, startEmbeddedPostgres } from "./embedded.ts";
export { migrateToLatest } from "./migrate.ts";
export type * from "./schema.ts";
