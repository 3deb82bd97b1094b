// deploy/kubernetes: `kubectl kustomize` renders the base and the production overlay (Debian's
// kubernetes-client, kubectl 1.20, or any later kubectl: `KUBECTL` names another binary), every
// object is checked against the Kubernetes schemas (the `kubernetes-models` package), and the
// rules of docs/operations.md's "Kubernetes" section are checked on what was rendered: secrets
// only from Secrets, probes on the ports that serve them, the non-root read-only security context,
// shutdown timing, the network policy, and settings that the service's own loadConfig accepts.
// Then docker-compose.yml's hardening as `docker-compose config` resolves it, and
// DATABASE_PASSWORD_FILE, which its database password relies on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../src/config.ts";

const root = path.resolve(import.meta.dirname, "../..");
const KUBECTL = process.env.KUBECTL ?? "kubectl";
const OVERLAYS = { base: "deploy/kubernetes/base", production: "deploy/kubernetes/overlays/production" } as const;
type Overlay = keyof typeof OVERLAYS;

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects, checked field by field below
type K8sObject = any;

function render(overlay: Overlay): K8sObject[] {
  const result = spawnSync(KUBECTL, ["kustomize", OVERLAYS[overlay]], { cwd: root, encoding: "utf8" });
  if (result.error) {
    assert.fail(
      `cannot run ${KUBECTL} (${(result.error as NodeJS.ErrnoException).code}): install Debian's kubernetes-client (apt-get install kubernetes-client), or set KUBECTL`,
    );
  }
  assert.equal(result.status, 0, `${KUBECTL} kustomize ${OVERLAYS[overlay]} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS())
    .filter((doc) => doc != null);
}

const rendered: Record<Overlay, K8sObject[]> = { base: render("base"), production: render("production") };

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(found, `no ${kind} ${name} in the rendered manifests`);
  return found;
}

const deployments = ["media-api", "media-worker"] as const;

/** The container's settings as the process sees them: its ConfigMap envFrom plus its env. */
function containerEnv(objects: K8sObject[], container: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    assert.ok(source.configMapRef, "envFrom takes ConfigMaps only (secrets come one key at a time)");
    Object.assign(env, find(objects, "ConfigMap", source.configMapRef.name).data);
  }
  for (const entry of container.env ?? []) if (entry.value !== undefined) env[entry.name] = entry.value;
  return env;
}

/** Where a named or numbered container port points. */
function portNumber(container: K8sObject, port: string | number): number {
  if (typeof port === "number") return port;
  const found = container.ports?.find((p: K8sObject) => p.name === port);
  assert.ok(found, `container ${container.name} has no port named ${port}`);
  return found.containerPort;
}

const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
const scratch = mkdtempSync(path.join(tmpdir(), "media-deploy-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

for (const overlay of Object.keys(OVERLAYS) as Overlay[]) {
  describe(`deploy/kubernetes ${overlay}`, () => {
    const objects = rendered[overlay];

    test("every object matches the Kubernetes schema (kubernetes-models)", async () => {
      for (const object of objects) {
        const [group, version] = object.apiVersion.includes("/")
          ? object.apiVersion.split("/")
          : [null, object.apiVersion];
        const specifier = `kubernetes-models/${group ? `${group}/` : ""}${version}/${object.kind}`;
        const module = (await import(specifier)) as Record<string, new (data: unknown) => { validate(): void }>;
        const Model = module[object.kind];
        assert.ok(Model, `${specifier} exports no ${object.kind}`);
        assert.doesNotThrow(
          () => new Model(object).validate(),
          `${object.kind} ${object.metadata.name} does not match the schema`,
        );
      }
    });

    test("the objects the deployment needs are there, and no Secret", () => {
      for (const name of deployments) {
        find(objects, "Deployment", name);
        find(objects, "Service", name);
        find(objects, "PodDisruptionBudget", name);
        find(objects, "NetworkPolicy", name);
      }
      assert.deepEqual(
        objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name),
        [],
        "secrets are created beside the manifests, never in them",
      );
    });

    test("the API runs `npm run server`'s command and the worker `npm run worker`'s", () => {
      const command = (name: string) =>
        find(objects, "Deployment", name).spec.template.spec.containers[0].command.join(" ");
      assert.equal(command("media-api"), pkg.scripts.server);
      assert.equal(command("media-worker"), pkg.scripts.worker);
    });

    for (const name of deployments) {
      describe(name, () => {
        const deployment = find(objects, "Deployment", name);
        const pod = deployment.spec.template.spec;
        const [container] = pod.containers;
        const env = containerEnv(objects, container);

        test("DATABASE_URL comes from a Secret key and the tokens from a mounted Secret", () => {
          const plain = (container.env ?? []).filter(
            (e: K8sObject) => e.value !== undefined && /DATABASE_URL|AUTH_TOKENS$|PASSWORD|SECRET|TOKEN$/.test(e.name),
          );
          assert.deepEqual(plain, [], "secrets in plain env");
          for (const source of container.envFrom ?? []) {
            const data = find(objects, "ConfigMap", source.configMapRef.name).data ?? {};
            assert.ok(!("DATABASE_URL" in data) && !("AUTH_TOKENS" in data), "secrets in a ConfigMap");
          }
          const url = container.env.find((e: K8sObject) => e.name === "DATABASE_URL");
          assert.ok(
            url?.valueFrom?.secretKeyRef?.name && url.valueFrom.secretKeyRef.key,
            "DATABASE_URL needs a secretKeyRef",
          );
          const tokensFile = env.AUTH_TOKENS_FILE;
          assert.ok(tokensFile, "AUTH_TOKENS_FILE is not set");
          const mount = container.volumeMounts.find((m: K8sObject) => tokensFile.startsWith(`${m.mountPath}/`));
          assert.ok(mount, `nothing is mounted where AUTH_TOKENS_FILE=${tokensFile} lies`);
          const volume = pod.volumes.find((v: K8sObject) => v.name === mount.name);
          assert.ok(volume?.secret?.secretName, `AUTH_TOKENS_FILE's volume ${mount.name} is not a Secret`);
          assert.equal(mount.readOnly, true);
          // Readable by the process: group 1000 (fsGroup) may read it, nobody else.
          assert.equal((volume.secret.defaultMode ?? 0o644) & 0o047, 0o040, "the tokens file should be mode 0440");
        });

        test("non-root, read-only, no privileges, RuntimeDefault seccomp", () => {
          assert.equal(pod.securityContext.runAsNonRoot, true);
          // The Dockerfile's `USER node`: uid 1000 in the node images.
          assert.match(readFileSync(path.join(root, "Dockerfile"), "utf8"), /^USER node$/m);
          assert.equal(pod.securityContext.runAsUser, 1000);
          assert.equal(pod.securityContext.seccompProfile?.type, "RuntimeDefault");
          assert.equal(pod.automountServiceAccountToken, false);
          for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
            assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
            assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
            assert.deepEqual(c.securityContext.capabilities?.drop, ["ALL"], c.name);
            assert.equal(c.securityContext.capabilities?.add, undefined, c.name);
            assert.notEqual(c.securityContext.privileged, true, c.name);
          }
          // What the process writes (DATA_DIR, temporary files) is a volume, not the root file system.
          for (const dir of [env.DATA_DIR ?? "/data", "/tmp"]) {
            const mount = container.volumeMounts.find((m: K8sObject) => m.mountPath === dir);
            assert.ok(mount && !mount.readOnly, `${dir} must be a writable volume`);
            assert.ok(
              pod.volumes.some((v: K8sObject) => v.name === mount.name),
              `${mount.name} has no volume`,
            );
          }
        });

        test("liveness on /healthz, readiness on /readyz, on the port that serves them", () => {
          // An API process serves its probes on HTTP_PORT; a worker alone on METRICS_PORT.
          const servedOn = name === "media-api" ? Number(env.HTTP_PORT ?? 8080) : Number(env.METRICS_PORT ?? 9464);
          assert.ok(servedOn > 0, "the probes' port is turned off");
          for (const [probe, want] of [
            ["livenessProbe", "/healthz"],
            ["readinessProbe", "/readyz"],
            ["startupProbe", "/healthz"],
          ] as const) {
            const httpGet = container[probe]?.httpGet;
            assert.ok(httpGet, `${probe} is missing`);
            assert.equal(httpGet.path, want, probe);
            assert.equal(portNumber(container, httpGet.port), servedOn, `${probe}'s port`);
          }
          if (name === "media-api") {
            assert.deepEqual(
              container.ports.map((p: K8sObject) => p.containerPort).sort(),
              [Number(env.GRPC_PORT ?? 50051), servedOn].sort(),
            );
          } else {
            assert.deepEqual(
              container.ports.map((p: K8sObject) => p.containerPort),
              [servedOn],
            );
          }
        });

        test("requests and limits for CPU and memory", () => {
          for (const kind of ["requests", "limits"]) {
            for (const resource of ["cpu", "memory"]) {
              assert.ok(container.resources?.[kind]?.[resource], `resources.${kind}.${resource} is missing`);
            }
          }
        });

        /** loadConfig on the container's settings, with stand-ins for what the Secrets hold. */
        const configOf = () => {
          const tokens = path.join(scratch, `${overlay}-${name}-tokens`);
          writeFileSync(tokens, `ops:admin:${"x".repeat(32)}\n`);
          return loadConfig(
            { ...env, AUTH_TOKENS_FILE: tokens, DATABASE_URL: "postgres://media:secret@postgres:5432/media" },
            "/app",
          );
        };

        test("its settings pass the service's own loadConfig", () => {
          assert.ok(configOf().tokens.length > 0);
        });

        test("the grace period outlasts SHUTDOWN_DELAY and SHUTDOWN_TIMEOUT", () => {
          const { delaySeconds: delay, timeoutSeconds: timeout } = configOf().shutdown;
          if (name === "media-api") assert.ok(delay >= 5, "behind a load balancer SHUTDOWN_DELAY should be 5s or more");
          assert.ok(
            pod.terminationGracePeriodSeconds > delay + timeout,
            `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} <= SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT`,
          );
        });

        test("the Service, PodDisruptionBudget and NetworkPolicy select its pods", () => {
          const labels = deployment.spec.template.metadata.labels;
          const matches = (selector: Record<string, string>) =>
            Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
          const service = find(objects, "Service", name);
          assert.ok(matches(service.spec.selector), "the Service selects other pods");
          for (const port of service.spec.ports) portNumber(container, port.targetPort);
          assert.ok(matches(find(objects, "PodDisruptionBudget", name).spec.selector.matchLabels));
          const policy = find(objects, "NetworkPolicy", name);
          assert.ok(matches(policy.spec.podSelector.matchLabels));
          assert.deepEqual([...policy.spec.policyTypes].sort(), ["Egress", "Ingress"]);
          // Ingress: exactly the container's ports (a worker: its probe and metrics port only).
          const ingress = policy.spec.ingress.flatMap((rule: K8sObject) => rule.ports.map((p: K8sObject) => p.port));
          assert.deepEqual(ingress.sort(), container.ports.map((p: K8sObject) => p.containerPort).sort());
          const egress = policy.spec.egress.flatMap((rule: K8sObject) => rule.ports.map((p: K8sObject) => p.port));
          for (const port of [53, 5432, 443]) assert.ok(egress.includes(port), `no egress to port ${port}`);
        });
      });
    }
  });
}

describe("deploy/kubernetes production overlay", () => {
  const spec = (overlay: Overlay, name: string) => find(rendered[overlay], "Deployment", name).spec;
  const bytes = (quantity: string) => {
    const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(quantity);
    assert.ok(m, `unexpected quantity ${quantity}`);
    const unit = { m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as "m" | "Ki" | "Mi" | "Gi"] ?? 1;
    return Number(m[1]) * unit;
  };

  test("more replicas and larger resources than the base", () => {
    for (const name of deployments) {
      assert.ok(spec("production", name).replicas > spec("base", name).replicas, `${name} replicas`);
      const [base, production] = [spec("base", name), spec("production", name)].map(
        (s) => s.template.spec.containers[0].resources,
      );
      for (const kind of ["requests", "limits"]) {
        for (const resource of ["cpu", "memory"]) {
          assert.ok(bytes(production[kind][resource]) > bytes(base[kind][resource]), `${name} ${kind}.${resource}`);
        }
      }
    }
  });

  test("its files live in S3", () => {
    const container = spec("production", "media-api").template.spec.containers[0];
    const env = containerEnv(rendered.production, container);
    const config = loadConfig(
      {
        ...env,
        AUTH_TOKENS_FILE: undefined,
        AUTH_TOKENS: `ops:admin:${"x".repeat(32)}`,
        DATABASE_URL: "postgres://m:s@db:5432/m",
      },
      "/app",
    );
    assert.ok(config.stores.size > 0);
    for (const [name, store] of config.stores) assert.equal(store.kind, "s3", `store ${name}`);
  });
});

// docker-compose.yml, as `docker-compose config` resolves it (anchors, merges, ${...} defaults).
function composeConfig(profile: "dev" | "prod"): K8sObject {
  const result = spawnSync("docker-compose", ["-f", "docker-compose.yml", "--profile", profile, "config"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, PUBLISH_ADDRESS: "" },
  });
  if (result.error) assert.fail(`cannot run docker-compose: install Debian's docker-compose (${result.error.message})`);
  assert.equal(result.status, 0, result.stderr);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS())[0];
}

for (const profile of ["dev", "prod"] as const) {
  describe(`docker-compose.yml --profile ${profile}`, () => {
    const config = composeConfig(profile);
    for (const [name, service] of Object.entries<K8sObject>(config.services)) {
      test(`${name}: read-only, no capabilities but PostgreSQL's five, no-new-privileges, limits`, () => {
        assert.equal(service.read_only, true);
        assert.ok(service.tmpfs?.includes("/tmp"), "no tmpfs for /tmp");
        assert.deepEqual(service.cap_drop, ["ALL"]);
        if (name === "postgres")
          assert.deepEqual(service.cap_add, ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]);
        else assert.equal(service.cap_add, undefined);
        assert.ok(service.security_opt?.includes("no-new-privileges:true"));
        assert.ok(service.cpus && service.mem_limit && service.pids_limit, "cpus, mem_limit and pids_limit");
      });

      test(`${name}: ports on 127.0.0.1 by default, no database password in the environment`, () => {
        for (const port of service.ports ?? []) assert.match(String(port), /^127\.0\.0\.1:/);
        const environment: Record<string, string | null> = service.environment ?? {};
        assert.ok(!("POSTGRES_PASSWORD" in environment), "POSTGRES_PASSWORD: use POSTGRES_PASSWORD_FILE");
        const url = environment.DATABASE_URL;
        if (url) {
          assert.equal(new URL(url).password, "", "DATABASE_URL holds a password");
          assert.equal(environment.DATABASE_PASSWORD_FILE, "/run/secrets/postgres-password");
          assert.ok(service.secrets.some((s: K8sObject) => s.source === "postgres-password"));
        }
      });
    }
  });
}

describe("DATABASE_PASSWORD_FILE", () => {
  const tokens = { AUTH_TOKENS: `ops:admin:${"x".repeat(32)}` };
  const file = path.join(scratch, "postgres-password");

  test("puts the file's password, less one trailing newline, into DATABASE_URL", () => {
    writeFileSync(file, "p@ss:w/rd%41 é\n");
    const { databaseUrl } = loadConfig(
      { ...tokens, DATABASE_URL: "postgres://media@postgres:5432/media?sslmode=disable", DATABASE_PASSWORD_FILE: file },
      root,
    );
    const url = new URL(databaseUrl ?? "");
    assert.equal(decodeURIComponent(url.password), "p@ss:w/rd%41 é");
    assert.equal(url.username, "media");
    assert.equal(`${url.host}${url.pathname}${url.search}`, "postgres:5432/media?sslmode=disable");
  });

  test("refuses a URL with a password or no user, no URL, and an empty or missing file", () => {
    writeFileSync(file, "secret\n");
    const fails = (env: Record<string, string>, message: RegExp) =>
      assert.throws(() => loadConfig({ ...tokens, ...env }, root), message);
    fails({ DATABASE_URL: "postgres://a:b@h/d", DATABASE_PASSWORD_FILE: file }, /holds a password/);
    fails({ DATABASE_URL: "postgres://h/d", DATABASE_PASSWORD_FILE: file }, /names no user/);
    fails({ DATABASE_PASSWORD_FILE: file }, /needs DATABASE_URL/);
    fails({ DATABASE_URL: "postgres://a@h/d", DATABASE_PASSWORD_FILE: `${file}-missing` }, /cannot be read/);
    writeFileSync(file, "\n");
    fails({ DATABASE_URL: "postgres://a@h/d", DATABASE_PASSWORD_FILE: file }, /is empty/);
  });
});

describe("npm run compose:check", () => {
  const check = (dir: string) =>
    spawnSync(process.execPath, ["scripts/compose-check.ts", "--profile", "prod", "--root", dir], {
      cwd: root,
      encoding: "utf8",
    });

  test("names each missing file with the command that makes it, and passes once they are there", () => {
    const dir = mkdtempSync(path.join(scratch, "compose-"));
    mkdirSync(path.join(dir, "deploy"));
    const missing = check(dir);
    assert.equal(missing.status, 1, missing.stderr);
    const said = missing.stdout + missing.stderr;
    assert.match(said, /deploy\/tokens is missing/);
    assert.match(said, /cp deploy\/tokens.example deploy\/tokens/);
    assert.match(said, /deploy\/postgres-password is missing/);

    const secret = "c".repeat(64);
    writeFileSync(path.join(dir, "deploy/tokens"), `blog:service:${secret}\nops:admin:${"d".repeat(64)}\n`, {
      mode: 0o644,
    });
    writeFileSync(path.join(dir, "deploy/postgres-password"), `${"e".repeat(64)}\n`, { mode: 0o644 });
    const ready = check(dir);
    assert.equal(ready.status, 0, ready.stdout + ready.stderr);
    assert.doesNotMatch(ready.stdout + ready.stderr, new RegExp(secret), "no secret is quoted");
  });
});
