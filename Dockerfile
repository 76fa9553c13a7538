# Micro-credentials LTI 1.3 tool.
#
# Build:  docker build -t microcred-lti .
# Run (embedded database kept in the named volume "microcred-data"):
#
#   docker run -d --name microcred \
#     -p 127.0.0.1:3000:3000 \
#     -e PUBLIC_URL=https://tool.example.ac.jp \
#     -v microcred-data:/data \
#     --stop-timeout 30 \
#     --restart unless-stopped \
#     microcred-lti
#
# Put an HTTPS reverse proxy in front: PUBLIC_URL must be the https URL the LMS and browsers use.
#
# Why --stop-timeout 30: on SIGTERM the tool waits up to 10 s for open requests, then up to 10 s for
# a running background course sync, then up to 10 s for the embedded database to close. Docker's
# default 10 s grace period can cut that short.
#
# Registration CLI inside the running container (tsx is a dev dependency and is not installed):
#   docker exec -it microcred node dist/src/cli.js platform list
# With the embedded database the CLI connects to the running tool's database socket in /data/run,
# so it works from "docker exec" or from a second container sharing the /data volume.

# ---- Stage 1: compile TypeScript -------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app

COPY package.json package-lock.json ./
# --ignore-scripts: nothing needed here has an install script. The only packages with one are
# esbuild and @parcel/watcher (dev tools that tsc does not use) and keytar (an optional native
# module pulled in by ltijs-sequelize -> tedious that the tool never loads; building it would
# need python and a compiler, which the slim image does not have).
RUN npm ci --ignore-scripts

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsconfig.build.json also lists test/emulator and test/demo.ts; they are not copied, so the
# image holds only the compiled application (dist/src).
RUN npm run build

# ---- Stage 2: runtime ------------------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data

# The app resolves views/ and config/locales/ relative to the working directory.
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY views ./views
COPY config ./config

# The embedded database (PGlite), its lock file and the generated LTI encryption key live in
# DATA_DIR. Create it owned by the unprivileged "node" user (uid 1000) before declaring the volume,
# so a new named volume inherits that ownership. A bind-mounted host directory must be writable by
# uid 1000.
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
VOLUME ["/data"]

USER node
EXPOSE 3000

# V8's heap limit, as `npm start` sets it: a 10,000-learner course sync then stays under 320 MiB of rss
# (README.md, from `npm run bench`).
# Raise it with -e NODE_OPTIONS=--max-old-space-size=<MiB> for a larger container.
ENV NODE_OPTIONS="--max-old-space-size=320"

# The slim image has no curl: use Node's built-in fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "--enable-source-maps", "dist/src/server.js"]
