# syntax=docker/dockerfile:1
# tickpipe: multi-stage build. The build stage has the compiler toolchain better-sqlite3 needs;
# the runtime stage is slim Node 22 with production dependencies only.

FROM node:22-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY machines ./machines
COPY src ./src
COPY test ./test
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim AS runtime
# MALLOC_MMAP_THRESHOLD_: glibc serves buffers of 128 KiB and more (line-protocol batches, spool
# rows read back) with mmap and returns them on free, instead of raising its threshold and keeping
# their peak in the heap; package.json's start script sets the same (README "Performance").
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=131072 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=3000 \
    SPOOL_PATH=/data/spool.db
WORKDIR /app
# The spool lives on a volume owned by the unprivileged `node` user of the official image.
RUN mkdir -p /data && chown node:node /data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/machines ./dist/machines
COPY proto ./proto
COPY inspector ./inspector
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, node itself as PID 1's program: SIGTERM reaches the service (npm would not pass it
# on) and the graceful shutdown flushes every point to InfluxDB or the spool.
# --v8-pool-size=1: one V8 helper thread instead of four. The heaps are small (~8 MB in the storage
# worker, ~20 MB in main) and collected a few times a second; spreading each collection over four
# threads cost more CPU than it saved (README "Development", GC tuning). No other V8 flag: a larger
# young generation saves no CPU with the storage worker and costs RSS. The start script in
# package.json runs node the same way (a test keeps them equal).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--v8-pool-size=1"]
CMD ["dist/src/main.js"]
