# syntax=docker/dockerfile:1
# One image for every HighGoPress service; the command picks the service:
#   node dist/services/<gateway|counter|analytics|autoscaler>/main.js
# Stages: build (TypeScript compiled once) -> prod-deps (production
# node_modules only) -> runtime (non-root, works with a read-only root
# filesystem) and dev (runtime whose dist/ is writable, for Tilt live update).
# Node 24 LTS, the line the project is built and tested with (.node-version).
# NODE_IMAGE is any image with node and npm on PATH: scripts/k8s/images.sh
# passes its locally built Debian + Node image, since no registry is
# reachable on the machines the project is developed on.
ARG NODE_IMAGE=node:24-alpine

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY services ./services
# buf generate (protobuf -> services/lib/gen) then tsc; tests are not copied,
# so only services/ is compiled.
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS app
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/services ./dist/services
# Server reflection reads the .proto files at start-up.
COPY proto ./proto
EXPOSE 8080 9001 9002 9101 9102 9103
CMD ["node", "dist/services/gateway/main.js"]

# Tilt live update syncs compiled JavaScript into dist/, so there it must be
# writable by the app user (used with the chart's devMode only).
FROM app AS dev
RUN chown -R 10001:10001 /app/dist
USER 10001:10001

# Default target (last stage). Numeric user so Kubernetes can verify
# runAsNonRoot; nothing in the image is writable by it, so it runs with a
# read-only root filesystem (/tmp is an emptyDir in the chart).
FROM app AS runtime
USER 10001:10001
