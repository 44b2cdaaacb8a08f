from alpine:3.20 as base
onbuild run --mount=type=cache,target=/c make
ONBUILD COPY . /src
ENV A=1 B="two words" \
    C=3
ENV OLD style value
LABEL org.opencontainers.image.title="repro" version=1
ARG VERSION=1.0 OTHER
EXPOSE 80 443/tcp
USER app:app
STOPSIGNAL SIGTERM
MAINTAINER someone@example.com
HEALTHCHECK NONE
UNKNOWN instruction is kept
