// The settings the code reads, the ones .env.example and docs/operations.md list, and the
// commands the container image runs must not drift apart. (docker-compose.yml itself is
// validated by `docker-compose config` in .ci/run.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { parseEnv } from "node:util";
import { loadConfig } from "../src/config.ts";

const root = path.resolve(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");

/** Every variable loadConfig reads, found by handing it an environment that records each read. */
function variablesLoadConfigReads(): Set<string> {
  const names = new Set<string>();
  let enumerated = false;
  const record = (name: string | symbol) => {
    if (typeof name === "string") names.add(name);
  };
  const env = new Proxy<Record<string, string | undefined>>(
    {},
    {
      get(_, name) {
        record(name);
        return undefined;
      },
      has(_, name) {
        record(name);
        return false;
      },
      getOwnPropertyDescriptor(_, name) {
        record(name);
        return undefined;
      },
      ownKeys() {
        enumerated = true;
        return [];
      },
    },
  );
  loadConfig(env, "/tmp");
  assert.ok(!enumerated, "loadConfig enumerates its environment: this test can no longer list what it reads");
  return names;
}

const readByCode = variablesLoadConfigReads();

/** Fails naming what one list lacks and what it has that loadConfig does not read. */
function assertSameVariables(listed: Iterable<string>, where: string): void {
  const have = new Set(listed);
  const missing = [...readByCode].filter((name) => !have.has(name)).sort();
  const extra = [...have].filter((name) => !readByCode.has(name)).sort();
  assert.ok(
    missing.length === 0 && extra.length === 0,
    `${where} is out of step with loadConfig (server/src/config.ts):` +
      (missing.length > 0 ? `\n  missing: ${missing.join(", ")}` : "") +
      (extra.length > 0 ? `\n  not read by loadConfig: ${extra.join(", ")}` : ""),
  );
}

/** NAME of every `NAME=...` and `# NAME=...` line, each once. */
function envExampleVariables(text: string): string[] {
  const names = [...text.matchAll(/^[ \t]*(?:#[ \t]*)?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
  const twice = names.filter((name, i) => names.indexOf(name) !== i);
  assert.deepEqual(twice, [], `.env.example lists these more than once: ${twice.join(", ")}`);
  return names;
}

/** The variables in the first column of the table(s) in docs/operations.md's "## Configuration". */
function documentedVariables(markdown: string): string[] {
  const start = markdown.indexOf("\n## Configuration\n");
  assert.ok(start >= 0, 'docs/operations.md has no "## Configuration" section');
  const end = markdown.indexOf("\n## ", start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)].map((m) => m[1]!);
}

describe("settings", () => {
  test("loadConfig's variables are found", () => {
    for (const name of ["HOST", "DATABASE_URL", "AUTH_TOKENS", "SWEEP_SCHEDULE"]) {
      assert.ok(readByCode.has(name), `${name} was not seen; the discovery is broken`);
    }
  });

  test(".env.example lists every variable, and only those", () => {
    assertSameVariables(envExampleVariables(read(".env.example")), ".env.example");
  });

  test("docs/operations.md's configuration table lists every variable, and only those", () => {
    const documented = documentedVariables(read("docs/operations.md"));
    const twice = documented.filter((name, i) => documented.indexOf(name) !== i);
    assert.deepEqual(twice, [], `the configuration table has these more than once: ${twice.join(", ")}`);
    assertSameVariables(documented, "docs/operations.md's configuration table");
  });

  test(".env.example, copied to .env, gives exactly the defaults", () => {
    const settings = parseEnv(read(".env.example"));
    assert.deepEqual(loadConfig(settings, root), loadConfig({}, root));
  });

  test("docker-compose.yml sets only variables the service reads (or PostgreSQL's and AWS's)", () => {
    const others = new Set([
      "POSTGRES_USER",
      "POSTGRES_PASSWORD",
      "POSTGRES_PASSWORD_FILE",
      // Where the published ports listen (compose's own interpolation; 127.0.0.1 by default).
      "PUBLISH_ADDRESS",
      "POSTGRES_DB",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "MEDIA_API_URL",
      // The image's build argument: build info (server/src/build-info.ts), not a setting loadConfig reads.
      "MEDIA_BUILD_COMMIT",
    ]);
    const compose = read("docker-compose.yml").replace(/#.*$/gm, "");
    const used = [
      ...[...compose.matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!),
      ...[...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!),
    ];
    const unknown = [...new Set(used.filter((name) => !readByCode.has(name) && !others.has(name)))];
    assert.deepEqual(unknown, [], `docker-compose.yml sets variables nothing reads: ${unknown.join(", ")}`);
  });

  test("the image runs the commands CI and package.json run", () => {
    const dockerfile = read("Dockerfile");
    const pkg = JSON.parse(read("package.json")) as {
      scripts: Record<string, string>;
      engines: { node: string };
      allowScripts?: object;
    };
    const runs = [...dockerfile.matchAll(/^RUN (.+)$/gm)].map((m) => m[1]!.trim());

    const ciInstall = /^\s*(npm ci\b.*)$/m.exec(read(".ci/run"))?.[1]?.trim();
    assert.ok(ciInstall, ".ci/run has no `npm ci` line");
    assert.ok(runs.includes(ciInstall), `the Dockerfile should install with CI's \`${ciInstall}\``);
    assert.ok(pkg.scripts.build, "package.json has no build script");
    assert.ok(runs.includes("npm run build"), "the Dockerfile should build the dashboard with `npm run build`");

    const cmd = [...dockerfile.matchAll(/^CMD (\[.*\])$/gm)].at(-1)?.[1];
    assert.ok(cmd, "the Dockerfile has no CMD in exec form");
    assert.equal((JSON.parse(cmd) as string[]).join(" "), pkg.scripts.start, "CMD should be package.json's start");

    const commands = [...read("docker-compose.yml").matchAll(/^\s+command: (\[.*\])$/gm)].map((m) =>
      (JSON.parse(m[1]!) as string[]).join(" "),
    );
    assert.ok(
      commands.includes(pkg.scripts.worker!),
      `docker-compose.yml's worker should run package.json's worker script (${pkg.scripts.worker})`,
    );

    const nodeMajor = /^ARG NODE_IMAGE=node:(\d+)-bookworm-slim$/m.exec(dockerfile)?.[1];
    assert.equal(nodeMajor, /\d+/.exec(pkg.engines.node)?.[0], "the image's Node major should be engines.node's");
    if (pkg.allowScripts !== undefined) {
      // Node 24 ships npm 11, which runs install scripts only for allowScripts; older images must upgrade npm.
      const npmMajor = Number(/npm install -g npm@(\d+)/.exec(dockerfile)?.[1] ?? (Number(nodeMajor) >= 24 ? 11 : 0));
      assert.ok(npmMajor >= 11, "package.json's allowScripts needs npm 11 in the image, as in CI");
    }

    const ignored = read(".dockerignore").split("\n");
    for (const entry of ["node_modules", ".env", ".data", ".git"]) {
      assert.ok(ignored.includes(entry), `.dockerignore should leave out ${entry}`);
    }
  });
});
