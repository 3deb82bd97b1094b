// `npm run dev`: the service (API + worker, embedded defaults) and the
// dashboard on Vite's dev server with hot reload, which forwards API calls and
// previews to the service. Ctrl-C stops both. The service's HTTP port is read
// as the service reads it (the environment over ./.env, its default 8080).
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { loadConfigOrExit } from "@media/server/process";

const root = path.resolve(import.meta.dirname, "..");
// .env is read from the working directory, as the service started below does.
process.chdir(root);
const { httpPort } = loadConfigOrExit();

const children: ChildProcess[] = [
  spawn(process.execPath, ["worker/src/main.ts"], { cwd: root, stdio: "inherit" }),
  spawn("npm", ["run", "dev", "-w", "admin"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, MEDIA_API_URL: process.env.MEDIA_API_URL ?? `http://localhost:${httpPort}` },
  }),
];

let stopping = false;
function stopAll(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill(signal);
}
process.on("SIGINT", () => stopAll("SIGINT"));
process.on("SIGTERM", () => stopAll("SIGTERM"));
// When one of the two exits, the other has no purpose: stop it too.
for (const child of children) {
  child.on("exit", (code) => {
    stopAll("SIGTERM");
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(code ?? 0);
  });
}
