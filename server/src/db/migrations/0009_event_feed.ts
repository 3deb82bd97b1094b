import type { Kysely } from "kysely";

// Frozen once released. (Being written: see the open issue "Reference truth".)

export async function up(_db: Kysely<unknown>): Promise<void> {}
