# Puts Node.js 24 LTS first on PATH, for machines that have an older Node.js
# and reach only the npm registry: the registry carries the official binaries as
# the package node-linux-<arch>. Downloaded once into NODE24_HOME
# (default ~/.cache/media-lifecycle/node-24), then reused.
#
#   source scripts/node24.sh    # in a shell: this shell gets Node 24
#
# npm itself stays the machine's (npm 11 is needed; it runs on whichever node is
# first on PATH). A Node.js already at 24 or later is left alone.

node24_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node24_major)" -lt 24 ]; then
  NODE24_HOME="${NODE24_HOME:-$HOME/.cache/media-lifecycle/node-24}"
  if [ ! -x "$NODE24_HOME/bin/node" ]; then
    case "$(uname -m)" in
      x86_64) node24_arch=x64 ;;
      aarch64 | arm64) node24_arch=arm64 ;;
      *) echo "node24.sh: no Node.js package for $(uname -m); install Node.js 24 yourself" >&2; return 1 2>/dev/null || exit 1 ;;
    esac
    echo "== installing Node.js 24 from the npm registry (node-linux-$node24_arch@24) into $NODE24_HOME"
    node24_tmp="$(mktemp -d)"
    (cd "$node24_tmp" && npm pack --silent "node-linux-$node24_arch@24" >/dev/null) &&
      mkdir -p "$NODE24_HOME" &&
      tar -xzf "$node24_tmp"/node-linux-*.tgz -C "$NODE24_HOME" --strip-components=1
    node24_status=$?
    rm -rf "$node24_tmp"
    if [ "$node24_status" -ne 0 ]; then
      echo "node24.sh: could not install node-linux-$node24_arch@24 from the npm registry" >&2
      return 1 2>/dev/null || exit 1
    fi
  fi
  export PATH="$NODE24_HOME/bin:$PATH"
fi
