#!/usr/bin/env python3
"""Keeps the shared cache's cargo build directories within a size.

cargo never removes what it built: every change of a dependency gives this repository's own
crates new file hashes (a test binary of the extension is about 300 MB, its incremental state
up to 1 GB), and the old ones stay behind. On the 2-core machine one CI checkout's directory
grew to 21 GB in three landings and filled the disk mid-run.

    prune_build_dir.py BUILD_DIR ROOT [--max-gb N] [--idle-days D] [--dry-run]

(N defaults to $AI_ARCHITECT_BUILD_CACHE_GB, else 20: a full `make test-all` uses about 13 GB.)

BUILD_DIR  this checkout's directory under cargo-build/ (CARGO_BUILD_BUILD_DIR)
ROOT       the checkout, to know the names of its own crates

1. Marks BUILD_DIR as used now (.last-used) and removes every sibling directory of it (another
   checkout path's) not used for D days (default 7).
2. When BUILD_DIR holds more than N GB (default 20): removes this repository's own build
   units (a lib, a test binary, a build script's output, an incremental state: each with its
   fingerprint), least recently written first, until it holds at most three quarters of N.
   Third-party crates are kept: they are built once per dependency version and their files
   are old precisely because they are reused. If the directory is still too big, it is
   emptied.

Only cargo's output is removed, never a source: whatever is missing is rebuilt by cargo's own
fingerprint checks, so an empty directory is always a valid one. Prints one line of what it
did. A directory that cargo is building in (its lock held) is left alone.
"""
import argparse
import fcntl
import os
import re
import shutil
import sys
import time

GB = 1 << 30
STAMP = ".last-used"
# cargo's per-unit files: NAME-HASH, with lib and an extension for libraries
UNIT = re.compile(r"^(?:lib)?(?P<name>[A-Za-z0-9_-]+?)-(?P<hash>[0-9a-z]{13,16})(?:\..*)?$")
PROFILES = ("debug", "release")
PARTS = ("deps", ".fingerprint", "build", "incremental")


def usage(path):
    """Bytes on disk under path (symlinks not followed)."""
    total = 0
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    total += st.st_blocks * 512
    if os.path.isdir(path) and not os.path.islink(path):
        for base, dirs, files in os.walk(path):
            for n in dirs + files:
                try:
                    total += os.lstat(os.path.join(base, n)).st_blocks * 512
                except FileNotFoundError:
                    pass
    return total


def newest(path):
    """The newest mtime of the files under path (a directory's own, when it holds none)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_mtime
    times = []
    for base, _, files in os.walk(path):
        for n in files:
            try:
                times.append(os.lstat(os.path.join(base, n)).st_mtime)
            except FileNotFoundError:
                pass
    return max(times) if times else os.lstat(path).st_mtime


def own_crates(root):
    """The names cargo gives this repository's own units (lib, bins, tests, build scripts)."""
    names = {"ai_architect", "ai_architect_mcp", "ai_architect_integration", "build_script_build"}
    for d in ("tests/integration/tests", "mcp/tests", "tests", "src/bin", "mcp/src/bin"):
        p = os.path.join(root, d)
        if os.path.isdir(p):
            names.update(f[:-3] for f in os.listdir(p) if f.endswith(".rs"))
    return {n.replace("-", "_") for n in names}


def units(build_dir, names):
    """This repository's units in build_dir: {(profile, part-kind, name, hash): [paths]}."""
    found = {}
    for profile in PROFILES:
        for part in PARTS:
            d = os.path.join(build_dir, profile, part)
            if not os.path.isdir(d):
                continue
            for entry in os.listdir(d):
                m = UNIT.match(entry)
                if not m or m["name"].replace("-", "_") not in names:
                    continue
                # an incremental directory's id is not the unit's hash: a group of its own
                kind = "incremental" if part == "incremental" else "unit"
                key = (profile, kind, m["name"], m["hash"])
                found.setdefault(key, []).append(os.path.join(d, entry))
    return found


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def busy(build_dir):
    """True when cargo holds the lock of one of build_dir's profiles."""
    for profile in PROFILES:
        lock = os.path.join(build_dir, profile, ".cargo-lock")
        if not os.path.exists(lock):
            continue
        with open(lock, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    return False


def last_used(d):
    try:
        return os.stat(os.path.join(d, STAMP)).st_mtime
    except FileNotFoundError:
        return os.stat(d).st_mtime


def prune(build_dir, root, max_bytes, idle_days, dry_run=False, now=None):
    """Returns the list of what was (or, dry, would be) removed, and the sizes before/after."""
    now = time.time() if now is None else now
    removed = []
    os.makedirs(build_dir, exist_ok=True)
    if not dry_run:
        with open(os.path.join(build_dir, STAMP), "w") as f:
            f.write("%d\n" % now)
        os.utime(os.path.join(build_dir, STAMP), (now, now))
    parent = os.path.dirname(os.path.abspath(build_dir))
    for sib in sorted(os.listdir(parent)):
        p = os.path.join(parent, sib)
        if os.path.abspath(p) == os.path.abspath(build_dir) or not os.path.isdir(p):
            continue
        if now - last_used(p) > idle_days * 86400 and not busy(p):
            removed.append(p)
            if not dry_run:
                shutil.rmtree(p, ignore_errors=True)
    before = usage(build_dir)
    size = before
    if size <= max_bytes or busy(build_dir):
        return removed, before, size
    goal = max_bytes * 3 // 4
    groups = []
    for key, paths in units(build_dir, own_crates(root)).items():
        groups.append((max(newest(p) for p in paths), sum(usage(p) for p in paths), key, paths))
    for _, bytes_, _, paths in sorted(groups):
        if size <= goal:
            break
        removed.extend(paths)
        if not dry_run:
            for p in paths:
                remove(p)
        size -= bytes_
    if size > max_bytes:
        # third-party builds alone exceed the limit (many dependency versions): start afresh
        for profile in PROFILES:
            p = os.path.join(build_dir, profile)
            if os.path.isdir(p):
                removed.append(p)
                if not dry_run:
                    shutil.rmtree(p, ignore_errors=True)
        size = usage(build_dir) if not dry_run else 0
    return removed, before, size


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("root")
    ap.add_argument("--max-gb", type=float, default=float(os.environ.get("AI_ARCHITECT_BUILD_CACHE_GB", 20)))
    ap.add_argument("--idle-days", type=float, default=7)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    removed, before, after = prune(a.build_dir, a.root, int(a.max_gb * GB), a.idle_days, a.dry_run)
    verb = "would remove" if a.dry_run else "removed"
    print("build cache %s: %.1f GB -> %.1f GB (limit %.0f GB); %s %d entries"
          % (a.build_dir, before / GB, after / GB, a.max_gb, verb, len(removed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
