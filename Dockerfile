# The service image for docker-compose.yml: built with the lockfile, run as node:20 without dev tools.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
WORKDIR /app
# package.json is read at run time for the version shown in the OpenAPI document.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The tools' launcher: `npm run verify`, `replay`, `rebuild`, `projector` run the compiled tools here.
COPY bin ./bin
# The read side's versioned schema, applied by the service at start (node-pg-migrate).
COPY migrations ./migrations
# The console's page, scripts and styles, served at /console (Chart.js comes from node_modules).
COPY console ./console
USER node
EXPOSE 3000
# /health is readiness: it answers 503 until the projections have caught up, which on a first start
# (or a projection version bump) is a rebuild of the whole log, ~2 minutes at 1,000,000 events here.
# Failures within the start period do not count, and a first success ends it early.
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
