# One image for every Bastion process; docker-compose.yml picks the entry point (api, projector, worker, cli).

FROM node:20-bookworm-slim AS build
WORKDIR /app
# The lockfile alone decides the dependency layer, so a source change does not reinstall node_modules.
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# swc resolves the @bastion/* path aliases at build time (.swcrc), so dist/ runs on plain node.
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Listen on every interface inside the container (the default, 127.0.0.1, is for a developer machine).
ENV HOST=0.0.0.0
WORKDIR /app
# package.json marks the project root that the CLI finds migrations/ from.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/bin ./bin
USER node
EXPOSE 3000
CMD ["node", "dist/apps/api/src/main.js"]
