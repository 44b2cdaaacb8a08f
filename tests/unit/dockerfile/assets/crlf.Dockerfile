FROM debian:bookworm-slim AS base
RUN apt-get update \
    && apt-get install -y curl

FROM scratch
COPY --from=base /etc/os-release /tmp/
