#!/bin/sh
# hello: prints a greeting and the image's provenance labels, then exits.
set -eu
name="${1:-world}"
printf 'hello, %s\n' "$name"
if [ -r /etc/os-release ]; then
  . /etc/os-release
  printf 'running on %s\n' "$PRETTY_NAME"
fi
