#!/usr/bin/env bash
# make screenshots' producer for the dashboard: doc/img/dashboard.png, taken
# by the browser test (test.mjs) after its checks pass.  Usage: screenshots.sh DIR
exec bash "$(dirname "$0")/run.sh" screenshot "${1:?output directory}"
