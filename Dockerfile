# Kediri ID: one image, run as many identical containers as needed in front of one PostgreSQL.
# No build step: bin/kediri-id.js runs the TypeScript sources through tsx (a runtime dependency).
FROM node:24-bookworm-slim

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# The code stays owned by root (read-only to the app); only the data directory is the app's.
COPY bin ./bin
COPY src ./src
COPY views ./views
COPY static ./static
COPY migrations ./migrations
COPY tsconfig.json ./
RUN mkdir -p /app/data && chown node:node /app/data

USER node
# The heap limit keeps a busy process near 200 MB (docs/performance.md).
ENV NODE_ENV=production PORT=3000 DATA_DIR=/app/data NODE_OPTIONS=--max-old-space-size=192
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "bin/kediri-id.js", "serve"]
