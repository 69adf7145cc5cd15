# Sluice container image: multi-stage, Node.js 24, runs as a non-root user.
#   docker build -t sluice .
#   docker run -e DATABASE_URL=postgres://… -e SLUICE_SECRET_KEY=… -p 3000:3000 sluice
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The project's own `node` dev dependency is not needed in the image (it already runs Node 24).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY migrations ./migrations
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && date > dist/.build-stamp \
 && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 SLUICE_DATA_DIR=/data
WORKDIR /app
RUN groupadd --system sluice && useradd --system --gid sluice --home /app sluice \
 && mkdir -p /data && chown sluice:sluice /data
COPY --from=build --chown=sluice:sluice /app/node_modules ./node_modules
COPY --from=build --chown=sluice:sluice /app/dist ./dist
COPY --chown=sluice:sluice package.json ./
COPY --chown=sluice:sluice views ./views
COPY --chown=sluice:sluice public ./public
COPY --chown=sluice:sluice bin ./bin
USER sluice
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# In a container, set DATABASE_URL: the embedded PostgreSQL is for single-machine installs.
CMD ["node", "dist/src/main.js"]
