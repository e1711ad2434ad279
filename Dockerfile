FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY core core
COPY src src
COPY connectors connectors
COPY plugs plugs
COPY queues queues
COPY migrations migrations
COPY docker docker
COPY bench bench
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
# The data volume mounts here: made now, the node user's own and no one else's, so that Docker's new volume takes
# this owner and mode (a mount point the image lacks is created root's, and the gateway could not write it).
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
USER node
