// Runs before `npm start`, `npm test` and the other entry points, in plain
// JavaScript so that an older Node.js can run it: the service runs its
// TypeScript with Node's own type stripping, which needs Node.js 24 LTS.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 24 || (major === 24 && minor < 11)) {
  process.stderr.write(
    [
      "",
      `The media lifecycle service needs Node.js 24 LTS (24.11 or later); this is Node.js ${process.version}.`,
      "Install Node.js 24 from https://nodejs.org/en/download (or with nvm: nvm install 24),",
      "or, where only the npm registry is reachable: source scripts/node24.sh",
      "",
    ].join("\n"),
  );
  process.exit(1);
}
