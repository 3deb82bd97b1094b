import { parentPort } from "node:worker_threads";
import { listFiles } from "./disk-listing.ts";
import { dropTrashFiles, locateFiles, placeFiles, trashFiles } from "./disk-trash.ts";
import { type DiskRoot, deleteFiles, noteFiles, openFile } from "./disk-tree.ts";
import type { MediaObject } from "./object-store.ts";
import type { Instant } from "./window.ts";

// The disk thread: runs a disk store's file operations (disk-tree.ts, and
// its trash's, disk-trash.ts) with
// synchronous calls, off the event loop that serves the API and the jobs.
// Synchronous calls here cost a fraction of what a promise per call costs on
// the main thread, and a slow disk stalls this thread, not the process.

export type DiskRequest =
  | { readonly id: number; readonly op: "note"; readonly root: DiskRoot; readonly keys: readonly string[] }
  | {
      readonly id: number;
      readonly op: "delete";
      readonly root: DiskRoot;
      readonly keys: readonly string[];
      readonly closes: Instant;
      readonly noted: ReadonlyMap<string, string>;
    }
  | { readonly id: number; readonly op: "open"; readonly root: DiskRoot; readonly key: string }
  | {
      readonly id: number;
      readonly op: "trash";
      readonly root: DiskRoot;
      readonly objects: readonly MediaObject[];
      readonly closes: Instant;
      readonly noted: ReadonlyMap<string, string>;
    }
  | {
      readonly id: number;
      readonly op: "place";
      readonly root: DiskRoot;
      readonly objects: readonly MediaObject[];
      readonly closes: Instant;
    }
  | {
      readonly id: number;
      readonly op: "drop";
      readonly root: DiskRoot;
      readonly ids: readonly string[];
      readonly closes: Instant;
    }
  | { readonly id: number; readonly op: "locate"; readonly root: DiskRoot; readonly objects: readonly MediaObject[] }
  | {
      readonly id: number;
      readonly op: "list";
      readonly root: DiskRoot;
      readonly prefix: string;
      readonly after: string;
      readonly limit: number;
    };

export type DiskReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly name: string; readonly message: string };

function run(request: DiskRequest): unknown {
  switch (request.op) {
    case "note":
      return noteFiles(request.root, request.keys);
    case "delete":
      return deleteFiles(request.root, request.keys, request.closes, request.noted);
    case "open":
      return openFile(request.root, request.key);
    case "trash":
      return trashFiles(request.root, request.objects, request.closes, request.noted);
    case "place":
      return placeFiles(request.root, request.objects, request.closes);
    case "drop":
      return dropTrashFiles(request.root, request.ids, request.closes);
    case "locate":
      return locateFiles(request.root, request.objects);
    case "list":
      return listFiles(request.root, request.prefix, request.after, request.limit);
    default: {
      const unhandled: never = request;
      throw new Error(`unknown disk operation ${JSON.stringify(unhandled)}`);
    }
  }
}

parentPort?.on("message", (request: DiskRequest) => {
  let reply: DiskReply;
  try {
    reply = { id: request.id, ok: true, value: run(request) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    reply = { id: request.id, ok: false, name: e.name, message: e.message };
  }
  parentPort?.postMessage(reply);
});
