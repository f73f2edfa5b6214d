#!/usr/bin/env python3
"""TAP: META.json against the PGXN Meta Spec 1.0 (test/meta/pgxn-meta-1.0.schema.json,
through python3-jsonschema), plus what a schema cannot see: the versions agree
with leadkpi.control (and debian/changelog's), the files it names exist, the license is LICENSE's, the
PostgreSQL minimum is the install script's.  Also proves that the schema
rejects documents that break the spec (so a schema that accepts anything fails)."""
import copy
import json
import os
import re
import sys

import jsonschema

top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
here = os.path.join(top, "test", "meta")
results = []


def check(desc, ok, detail=()):
    results.append((desc, ok, list(detail)))


with open(os.path.join(here, "pgxn-meta-1.0.schema.json")) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)


def errors(doc):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(top)", e.message)
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))]


with open(os.path.join(top, "META.json")) as f:
    meta = json.load(f)
errs = errors(meta)
check("META.json validates against the PGXN Meta Spec 1.0 schema", not errs, errs)

control = open(os.path.join(top, "leadkpi.control")).read()
version = re.search(r"^default_version = '([^']+)'", control, re.M).group(1)
comment = re.search(r"^comment = '([^']+)'", control, re.M).group(1)
ext = meta.get("provides", {}).get("leadkpi", {})
check("META.json version, provides.leadkpi.version and the control file's default_version agree (%s)" % version,
      meta.get("version") == version == ext.get("version"),
      ["META.json version %s, provides.leadkpi.version %s, leadkpi.control %s"
       % (meta.get("version"), ext.get("version"), version)])
check("name and abstract are the extension's and its control file's comment",
      meta.get("name") == "leadkpi" and meta.get("abstract") == comment == ext.get("abstract"),
      ["name %r, abstract %r, control comment %r" % (meta.get("name"), meta.get("abstract"), comment)])
first = open(os.path.join(top, "debian", "changelog")).readline()
deb = re.match(r"leadkpi \(([^)-]+)-[^)]+\)", first)
check("debian/changelog's upstream version is the control file's (%s)" % version,
      bool(deb) and deb.group(1) == version, ["debian/changelog: %s" % first.strip()])
missing = [p for p in (ext.get("file"), ext.get("docfile")) if p and not os.path.isfile(os.path.join(top, p))]
check("the files META.json names exist", not missing, ["missing: %s" % p for p in missing])
lic = open(os.path.join(top, "LICENSE")).read()
check("the license is PostgreSQL's, as LICENSE says", meta.get("license") == "postgresql"
      and lic.startswith("PostgreSQL License") and "leadkpi developers" in lic)
script = open(os.path.join(top, "sql", "kpi.sql")).read()
m = re.search(r"server_version_num'\)::int < (\d+)(\d\d)(\d\d)", script)
want = "%d.%d.%d" % (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
got = meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL")
check("the PostgreSQL prerequisite (%s) is the install script's minimum (%s)" % (got, want), got == want)

# the schema must reject what the spec forbids
bad = []
nbroken = 0
def broken(desc, change):
    global nbroken
    nbroken += 1
    doc = copy.deepcopy(meta)
    change(doc)
    if not errors(doc):
        bad.append(desc)
broken("no provides", lambda d: d.pop("provides"))
broken("no maintainer", lambda d: d.pop("maintainer"))
broken("a version that is not SemVer (0.2)", lambda d: d.update(version="0.2"))
broken("an extension version that is not SemVer", lambda d: d["provides"]["leadkpi"].update(version="v1"))
broken("an unknown license shortcut", lambda d: d.update(license="postgres"))
broken("an unknown top-level key", lambda d: d.update(homepage="https://example.org"))
broken("a custom key is fine, but not an empty name", lambda d: d.update(name="", x_custom=1))
broken("meta-spec 2.0.0", lambda d: d["meta-spec"].update(version="2.0.0"))
broken("a prerequisite range that is not a version", lambda d: d["prereqs"]["runtime"]["requires"].update(PostgreSQL="fifteen"))
broken("a release_status outside stable/testing/unstable", lambda d: d.update(release_status="beta"))
broken("an absolute path", lambda d: d["provides"]["leadkpi"].update(file="/leadkpi.control"))
broken("a tag with a slash", lambda d: d.update(tags=["a/b"]))
check("the schema rejects documents that break the spec (%d kinds)" % nbroken, not bad, ["accepted: %s" % b for b in bad])

print("1..%d" % len(results))
for i, (desc, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, desc))
    if not ok:
        for line in detail:
            print("#   " + line)
sys.exit(0)
