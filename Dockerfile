# One image for the API (with the built dashboard) and the deletion worker.
#   docker build -t media-lifecycle .
#   docker run -p 8080:8080 -p 50051:50051 -v media-data:/data media-lifecycle
# The default command is `npm start` (API + a worker; embedded PostgreSQL when DATABASE_URL is
# unset); docker-compose.yml runs the API and workers as separate services. Settings:
# docs/operations.md, "Configuration".

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: the install CI runs (.ci/run), then the dashboard (admin/dist) -----------------------
FROM ${NODE_IMAGE} AS build
# Node 24 ships npm 11, which runs install scripts only for package.json's allowScripts, as in CI.
WORKDIR /app
# Manifests first, so that a source change reuses the installed dependencies.
COPY package.json package-lock.json .npmrc ./
COPY proto/package.json proto/
COPY server/package.json server/
COPY worker/package.json worker/
COPY admin/package.json admin/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime dependencies only (Node 24 runs the TypeScript itself: no loader, no build step) -----
FROM build AS prune
RUN npm prune --omit=dev --no-audit --no-fund

# --- runtime --------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# Owned by root, so the service cannot change its own code.
COPY --from=prune /app /app
# The image's non-root user owns DATA_DIR: the default disk store, DATA_DIR/admin-token, and the
# embedded PostgreSQL when DATABASE_URL is unset.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
ENV HOST=0.0.0.0 \
    DATA_DIR=/data \
    DASHBOARD_DIR=/app/admin/dist
# The git commit media_build_info and the start-up log line name (the service never runs git):
#   docker build --build-arg MEDIA_BUILD_COMMIT=$(git rev-parse HEAD) -t media-lifecycle .
# Last, so that a new commit rebuilds nothing above.
ARG MEDIA_BUILD_COMMIT=""
ENV MEDIA_BUILD_COMMIT=${MEDIA_BUILD_COMMIT}
USER node
# HTTP (dashboard, Connect, /healthz, /readyz, /metrics), gRPC, a worker-only process's METRICS_PORT.
EXPOSE 8080 50051 9464
# No curl in the slim image; node has fetch. A worker-only container checks METRICS_PORT instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# package.json's "start" (its prestart build step is done above); `npm run worker` adds --worker-only.
CMD ["node", "worker/src/main.ts"]
