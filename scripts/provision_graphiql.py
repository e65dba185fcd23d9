#!/usr/bin/env python3
"""Provision GraphiQL's browser files from the npm registry, so the playground at
`GET /graphql` works on machines without internet (nothing is loaded from a CDN).

    python3 scripts/provision_graphiql.py DEST [--verify] [--force]

DEST (setup.sh passes .selfrag/graphiql) receives, each under its package's name and version:

    graphiql@4.1.2/graphiql.min.js, graphiql@4.1.2/graphiql.min.css   (graphql-ws is inside)
    react@18.3.1/react.production.min.js, react-dom@18.3.1/react-dom.production.min.js
    manifest.json      the scripts and styles, in load order, for the page selfrag serves
    .complete-v1       written last: the pins' fingerprint, then every file's sha256 and size

Each package's tarball is pinned by the registry's own `dist.integrity` (sha512; compare with
`npm view graphiql@4.1.2 dist.integrity`) and checked before anything is unpacked. Tarballs
are kept in DEST/../cache/npm. The registry is $SELFRAG_NPM_REGISTRY, else $npm_config_registry,
else npm's configured one (`npm config get registry`, when npm is installed), else
https://registry.npmjs.org/ — a private mirror works the same way.

GraphiQL 4 is the newest major that ships a browser (UMD) build; GraphiQL 5 is ESM only and
needs a bundler. React 18 is the newest React with UMD builds.
"""

import base64
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request

# (package, version, registry integrity, {file in the tarball: file name in DEST/package@version})
PACKAGES = [
    (
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        {"umd/react.production.min.js": "react.production.min.js", "LICENSE": "LICENSE"},
    ),
    (
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        {"umd/react-dom.production.min.js": "react-dom.production.min.js", "LICENSE": "LICENSE"},
    ),
    (
        "graphiql",
        "4.1.2",
        "sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg==",
        {
            "graphiql.min.js": "graphiql.min.js",
            "graphiql.min.css": "graphiql.min.css",
            "LICENSE": "LICENSE",
        },
    ),
]
SCRIPTS = [
    "react@18.3.1/react.production.min.js",
    "react-dom@18.3.1/react-dom.production.min.js",
    "graphiql@4.1.2/graphiql.min.js",
]
STYLES = ["graphiql@4.1.2/graphiql.min.css"]
MARKER = ".complete-v1"
DOWNLOAD_TIMEOUT_S = 60


def log(message):
    print(f"setup: graphiql: {message}", file=sys.stderr)


def fail(message):
    log(f"ERROR: {message}")
    sys.exit(1)


def spec():
    """Fingerprint of the pins: a changed pin makes an existing marker stale."""
    text = json.dumps([PACKAGES, SCRIPTS, STYLES], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_complete(dest, verify):
    try:
        with open(os.path.join(dest, MARKER)) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    if not lines or lines[0] != f"spec {spec()}":
        return False
    for line in lines[1:]:
        sha, size, name = line.split(" ", 2)
        path = os.path.join(dest, name)
        if not os.path.isfile(path) or os.path.getsize(path) != int(size):
            return False
        if verify and sha256_of(path) != sha:
            log(f"checksum mismatch: {path}")
            return False
    return True


def registry():
    for var in ("SELFRAG_NPM_REGISTRY", "npm_config_registry"):
        if os.environ.get(var):
            return os.environ[var]
    if shutil.which("npm"):
        try:
            configured = subprocess.run(
                ["npm", "config", "get", "registry"],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout.strip()
            if configured.startswith("http"):
                return configured
        except (subprocess.SubprocessError, OSError):
            pass
    return "https://registry.npmjs.org/"


def integrity_of(data):
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball(cache, name, version, integrity):
    """The package's tarball, from the cache when it is there and intact, else downloaded."""
    path = os.path.join(cache, f"{name}-{version}.tgz")
    if os.path.isfile(path):
        with open(path, "rb") as f:
            data = f.read()
        if integrity_of(data) == integrity:
            return data
    url = f"{registry().rstrip('/')}/{name}/-/{name}-{version}.tgz"
    log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except OSError as err:
        fail(
            f"cannot download {url}: {err}. Set SELFRAG_NPM_REGISTRY to an npm registry "
            "(or mirror) this machine can reach, or put the tarball at "
            f"{path} (`npm pack {name}@{version}`)"
        )
    got = integrity_of(data)
    if got != integrity:
        fail(f"{url}: integrity {got} is not the pinned {integrity}; nothing was installed")
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return data


def main():
    args = sys.argv[1:]
    verify, force = "--verify" in args, "--force" in args
    positional = [a for a in args if not a.startswith("--")]
    if len(positional) != 1:
        fail("usage: provision_graphiql.py DEST [--verify] [--force]")
    dest = os.path.abspath(positional[0])
    if not force and is_complete(dest, verify):
        return
    cache = os.path.join(os.path.dirname(dest), "cache", "npm")
    os.makedirs(cache, exist_ok=True)
    # One provisioning at a time (two set-ups would share the staging directory); a run that
    # waited may find the work done.
    lock = open(dest + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not force and is_complete(dest, verify):
        return
    staging = dest + ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    for name, version, integrity, wanted in PACKAGES:
        data = tarball(cache, name, version, integrity)
        folder = os.path.join(staging, f"{name}@{version}")
        os.makedirs(folder)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for inside, outside in wanted.items():
                try:
                    member = archive.extractfile(f"package/{inside}")
                except KeyError:
                    member = None
                if member is None:
                    fail(f"{name}@{version} has no {inside}")
                with open(os.path.join(folder, outside), "wb") as f:
                    shutil.copyfileobj(member, f)
    with open(os.path.join(staging, "manifest.json"), "w") as f:
        json.dump({"scripts": SCRIPTS, "styles": STYLES}, f, indent=2)
    files = sorted(
        os.path.relpath(os.path.join(root, name), staging)
        for root, _, names in os.walk(staging)
        for name in names
    )
    with open(os.path.join(staging, MARKER), "w") as f:
        f.write(f"spec {spec()}\n")
        for rel in files:
            path = os.path.join(staging, rel)
            f.write(f"{sha256_of(path)} {os.path.getsize(path)} {rel}\n")
    # Swap in whole: a page never sees half an install.
    old = dest + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(dest):
        os.rename(dest, old)
    os.rename(staging, dest)
    shutil.rmtree(old, ignore_errors=True)
    log(f"installed GraphiQL's files in {dest}")


if __name__ == "__main__":
    main()
