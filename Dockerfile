# Kediri ID: one image, run as many identical containers as needed in front of one PostgreSQL.
# The first stage installs every dependency and compiles the TypeScript (npm run build); the image
# takes from it the compiled code (dist/) and the production dependencies only.
FROM node:24-bookworm-slim AS build

WORKDIR /app

# The dependencies in a layer of their own, which a change to the code does not invalidate; their
# install scripts run (npm rebuild), the build waits for the code.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts && npm rebuild

COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
# The embedded database's template (dist/pglite-template) stays out: the image runs on PostgreSQL.
RUN npm run build && rm -rf dist/pglite-template && npm prune --omit=dev

FROM node:24-bookworm-slim

WORKDIR /app

# The code stays owned by root (read-only to the app); only the data directory is the app's.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY views ./views
COPY static ./static
COPY migrations ./migrations
RUN mkdir -p /app/data && chown node:node /app/data

USER node
# The heap limit keeps a busy process near 200 MB (docs/performance.md).
ENV NODE_ENV=production PORT=3000 DATA_DIR=/app/data NODE_OPTIONS=--max-old-space-size=192
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "bin/kediri-id.js", "serve"]
