#!/bin/sh
# Prints a line that records where and when the image's RUN step ran.
echo "built in container $(hostname) on $(date -u +%Y-%m-%dT%H:%M:%SZ) by $(id -un)"
