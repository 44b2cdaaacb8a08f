FROM golang:1.22 AS build
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,from=ghcr.io/acme/src:v1,source=/src,target=/src \
    go build ./...
FROM alpine:3.20
RUN --mount="type=bind,from=busybox:1.36,target=/bb" /bb/bin/true
RUN --mount=type=bind,FROM=Build,target=/b \
    --mount=type=cache,target=/c,from=scratch ls /b
RUN --mount=type=bind,"from=localhost:5000/x:1",target=/x true
