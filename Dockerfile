# n1lens serve in a container: built in one stage (native better-sqlite3, TypeScript), run as a
# non-root user from a slim image. The store (SQLite file) and the spool live on the /data volume;
# with N1LENS_DATABASE_URL=postgres://… only the spool does.
#   docker build -t n1lens .
#   docker run -p 4317:4317 -p 4318:4318 -v n1lens:/data -e N1LENS_AUTH_TOKEN=… n1lens
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json rolldown.config.mjs ./
COPY src ./src
COPY proto ./proto
COPY bin ./bin
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# serve sizes its own V8 heap for sustained intake (README, "Settings and the counters that show when they bite").
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/proto ./proto
COPY package.json ./
RUN mkdir /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 4317 4318
# /healthz needs no token, even when N1LENS_AUTH_TOKEN is set. The probe tries HTTP, then HTTPS (for
# --tls-cert); with another --http-port set N1LENS_HEALTHCHECK_PORT, with --tls-client-ca
# N1LENS_HEALTHCHECK_CERT and N1LENS_HEALTHCHECK_KEY (a client certificate and key), see bin/healthcheck.js.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["node", "bin/healthcheck.js"]
ENTRYPOINT ["node", "bin/n1lens.js"]
# Listening beyond loopback needs N1LENS_AUTH_TOKEN (or --insecure-public on a private network).
CMD ["serve", "--host", "0.0.0.0", "--db", "/data/n1lens.db", "--spool", "/data/spool"]
