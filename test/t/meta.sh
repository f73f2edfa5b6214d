#!/usr/bin/env bash
# TAP: META.json is a valid PGXN Meta Spec 1.0 document that agrees with the
# control file (test/meta/check_meta.py).  Debian's python3 and
# python3-jsonschema (lk_packages installs them), not another python3 that
# may come first in PATH.
exec /usr/bin/python3 "$(dirname "$0")/../meta/check_meta.py"
