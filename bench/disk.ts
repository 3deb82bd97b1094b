// `npm run bench disk`: what the disk store's safe resolver costs per file.
// BENCH_DISK_FILES (100,000) files are deleted three ways, in one run:
//   - the floor: unlinkSync(path) per file, nothing checked (what a naive
//     store does, and what lets a swapped folder redirect it);
//   - the store as the worker uses it: note every file, then delete in
//     requests of 1000 keys, each file resolved from the root without following
//     symlinks, compared with what was noted, and unlinked through its folder;
// in two layouts: 100 files per folder, and the deletion bench's (each batch of
// 1000 keys spread over 1000 folders).
import { mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createDiskStore, fixedWindow, resolveDiskRoot } from "@media/server/storage";
import { fmt, log } from "./shared.ts";

const FILES = Number(process.env.BENCH_DISK_FILES ?? 100_000);

interface Layout {
  readonly name: string;
  keyOf(i: number): string;
}

const LAYOUTS: Layout[] = [
  { name: "100 files per folder", keyOf: (i) => `d${Math.floor(i / 100)}/f${i}.bin` },
  { name: "1000 folders per batch", keyOf: (i) => `d${i % 1000}/f${i}.bin` },
];

function makeFiles(root: string, keys: readonly string[]): void {
  for (const key of keys) {
    const file = path.join(root, key);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, "x");
  }
}

async function timeStore(root: string, keys: readonly string[]): Promise<number> {
  const store = createDiskStore("bench", resolveDiskRoot(root));
  await store.note(keys.slice(0, 1)); // the disk thread is started outside the timing
  const started = performance.now();
  for (let i = 0; i < keys.length; i += store.keysPerRequest) {
    const chunk = keys.slice(i, i + store.keysPerRequest);
    const result = await store.deleteMany(chunk, fixedWindow(60), await store.note(chunk));
    if (result.failed.size + result.notAttempted.length > 0) throw new Error(`${result.failed.size} files failed`);
  }
  return performance.now() - started;
}

function timeFloor(root: string, keys: readonly string[]): number {
  const started = performance.now();
  for (const key of keys) unlinkSync(path.join(root, key));
  return performance.now() - started;
}

log(`disk bench: ${fmt(FILES)} files, deleted by plain unlink and by the disk store`);
const rows: string[] = [];
for (const layout of LAYOUTS) {
  const dir = await mkdtemp(path.join(tmpdir(), "disk-bench-"));
  try {
    const keys = Array.from({ length: FILES }, (_, i) => layout.keyOf(i));
    makeFiles(path.join(dir, "floor"), keys);
    makeFiles(path.join(dir, "store"), keys);
    const floor = timeFloor(path.join(dir, "floor"), keys);
    const store = await timeStore(path.join(dir, "store"), keys);
    const perFile = (ms: number) => ((ms * 1000) / FILES).toFixed(1);
    rows.push(
      `| ${layout.name} | ${perFile(floor)} | ${perFile(store)} | ${(store / floor).toFixed(1)}x | ${fmt((FILES / store) * 1000)} |`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
log(
  [
    "",
    "| layout | plain unlink, µs/file | disk store (note + checked unlink), µs/file | ratio | store files/s |",
    "|---|---:|---:|---:|---:|",
    ...rows,
  ].join("\n"),
);
