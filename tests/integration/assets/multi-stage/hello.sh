#!/bin/sh
echo "hello from Debian @VERSION@"
