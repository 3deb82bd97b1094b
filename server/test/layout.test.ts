// docs/architecture.md's layout table is the newcomer's map of the code: every
// source file of the server and the worker is named in its folder's row, and
// every file a row names exists.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const root = path.resolve(import.meta.dirname, "../..");
const MAPPED = ["server/src", "server/testing", "worker/src", "worker/testing"];

/** The table's rows: path cell (without backticks) → job cell. */
function layoutRows(): Map<string, string> {
  const doc = readFileSync(path.join(root, "docs/architecture.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Layout"));
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const cells = /^\| `([^`]+)` +\| (.*) \|$/.exec(line);
    if (cells !== null) rows.set(cells[1] as string, cells[2] as string);
    else if (rows.size > 0 && !line.startsWith("|")) break;
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));
}

/** The row a file belongs to: the longest row path that is the file or a folder holding it. */
function rowFor(rows: Map<string, string>, file: string): string | undefined {
  const candidates = [...rows.keys()].filter((p) => p === file || (p.endsWith("/") && file.startsWith(p)));
  return candidates.sort((a, b) => b.length - a.length)[0];
}

test("every source file is named in its folder's row of the layout table", () => {
  const rows = layoutRows();
  assert.ok(rows.size > 10, "the layout table was not found in docs/architecture.md");
  const unnamed: string[] = [];
  for (const file of MAPPED.flatMap(sourceFiles)) {
    const row = rowFor(rows, file);
    if (row === undefined) {
      unnamed.push(`${file} (no row covers it)`);
      continue;
    }
    if (row === file) continue;
    const inside = file.slice(row.length);
    const [first = ""] = inside.split("/");
    const job = rows.get(row) as string;
    // A file directly in the folder is named; a subfolder's files may be covered by naming the subfolder.
    const named = job.includes(`\`${path.basename(file)}\``) || (inside.includes("/") && job.includes(`\`${first}/\``));
    if (!named) unnamed.push(`${file} (row ${row})`);
  }
  assert.deepEqual(unnamed, [], "name these files in docs/architecture.md's layout table");
});

test("every file and folder the layout table names exists", () => {
  const missing: string[] = [];
  for (const [row, job] of layoutRows()) {
    if (!existsSync(path.join(root, row))) missing.push(row);
    if (!row.endsWith("/") || !MAPPED.some((dir) => row.startsWith(dir))) continue;
    const files = sourceFiles(row).map((file) => path.basename(file));
    for (const [, name] of job.matchAll(/`([\w.-]+\.ts)`/g)) {
      if (!files.includes(name as string)) missing.push(`${row}${name}`);
    }
  }
  assert.deepEqual(missing, [], "docs/architecture.md's layout table names files that do not exist");
});
