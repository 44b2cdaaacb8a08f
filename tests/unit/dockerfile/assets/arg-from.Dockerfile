ARG REGISTRY=ghcr.io/acme
ARG BASE="debian:bookworm-slim"
ARG GO_VERSION=1.22
ARG TOOL=${REGISTRY}/tool:v1
ARG NODEFAULT
FROM ${BASE} AS base
FROM $BASE AS base2
FROM ${REGISTRY}/builder:${GO_VERSION} AS builder
FROM ${TOOL} AS tool
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION:-1.21} AS cross
FROM ${NODEFAULT:-alpine:3.20} AS fallback
FROM $NODEFAULT AS unresolved
FROM alpine:${TARGETARCH} AS per-arch
FROM base
