"""Tests of prune_build_dir.py on a made-up build directory (python3 -m unittest)."""
import fcntl
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prune_build_dir as pb  # noqa: E402

KB = 1024
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def put(path, size, mtime):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    os.utime(path, (mtime, mtime))


class Prune(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.cache = os.path.join(self.tmp.name, "cargo-build")
        self.dir = os.path.join(self.cache, "0123456789abcdef")
        self.now = time.time()

    def tearDown(self):
        self.tmp.cleanup()

    def unit(self, name, h, size, age_h, lib=False):
        """One build unit: its file in deps/, its fingerprint, written age_h hours ago."""
        t = self.now - age_h * 3600
        d = os.path.join(self.dir, "debug")
        put(os.path.join(d, "deps", ("lib%s-%s.rlib" if lib else "%s-%s") % (name, h)), size, t)
        put(os.path.join(d, ".fingerprint", "%s-%s" % (name, h), "lib-%s" % name), 64, t)
        return os.path.join(d, "deps", ("lib%s-%s.rlib" if lib else "%s-%s") % (name, h))

    def exists(self, p):
        return os.path.exists(p)

    def test_under_the_limit_nothing_goes_and_the_directory_is_marked(self):
        a = self.unit("ai_architect", "00000000000000a1", 200 * KB, 48)
        removed, _, _ = pb.prune(self.dir, ROOT, 10_000 * KB, 7, now=self.now)
        self.assertEqual(removed, [])
        self.assertTrue(self.exists(a))
        self.assertAlmostEqual(os.stat(os.path.join(self.dir, pb.STAMP)).st_mtime, self.now, delta=1)

    def test_own_units_go_oldest_first_and_third_party_crates_stay(self):
        old = self.unit("ai_architect", "00000000000000a1", 400 * KB, 30)
        older = self.unit("embed", "00000000000000b2", 400 * KB, 40)
        new = self.unit("ai_architect", "00000000000000c3", 400 * KB, 1)
        dep = self.unit("serde", "00000000000000d4", 400 * KB, 500, lib=True)
        inc = os.path.join(self.dir, "debug", "incremental", "ai_architect-0hugq5j7p7hfa", "s-1", "x.o")
        put(inc, 400 * KB, self.now - 20 * 3600)
        # about 2,050 KB and a limit of 1,800: down to three quarters (1,350) takes the two
        # oldest own units, the 40 h one and the 30 h one, each with its fingerprint
        removed, before, after = pb.prune(self.dir, ROOT, 1800 * KB, 7, now=self.now)
        self.assertFalse(self.exists(older))
        self.assertFalse(self.exists(old))
        self.assertFalse(self.exists(os.path.join(self.dir, "debug", ".fingerprint", "ai_architect-00000000000000a1")))
        self.assertTrue(self.exists(new))
        self.assertTrue(self.exists(dep), "a third-party crate is never taken for stale")
        self.assertTrue(self.exists(inc), "the goal was reached before the newer incremental state")
        self.assertGreater(before, 1800 * KB)
        self.assertLessEqual(after, 1350 * KB)

    def test_a_dry_run_removes_nothing(self):
        a = self.unit("ai_architect", "00000000000000a1", 400 * KB, 30)
        self.unit("ai_architect", "00000000000000c3", 400 * KB, 1)
        removed, _, _ = pb.prune(self.dir, ROOT, 500 * KB, 7, dry_run=True, now=self.now)
        self.assertIn(a, removed)
        self.assertTrue(self.exists(a))

    def test_third_party_crates_alone_over_the_limit_empty_the_directory(self):
        dep = self.unit("serde", "00000000000000d4", 800 * KB, 500, lib=True)
        removed, _, after = pb.prune(self.dir, ROOT, 500 * KB, 7, now=self.now)
        self.assertFalse(self.exists(dep))
        self.assertFalse(self.exists(os.path.join(self.dir, "debug")))
        self.assertLess(after, 500 * KB)

    def test_a_directory_cargo_builds_in_is_left_alone(self):
        a = self.unit("ai_architect", "00000000000000a1", 800 * KB, 30)
        lock = os.path.join(self.dir, "debug", ".cargo-lock")
        with open(lock, "wb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            removed, _, _ = pb.prune(self.dir, ROOT, 100 * KB, 7, now=self.now)
        self.assertEqual(removed, [])
        self.assertTrue(self.exists(a))

    def test_another_checkouts_directory_goes_after_idle_days(self):
        idle = os.path.join(self.cache, "idle000000000000")
        recent = os.path.join(self.cache, "recent0000000000")
        for d, days in ((idle, 8), (recent, 2)):
            put(os.path.join(d, "debug", "deps", "x"), KB, self.now - days * 86400)
            put(os.path.join(d, pb.STAMP), 8, self.now - days * 86400)
        removed, _, _ = pb.prune(self.dir, ROOT, 10_000 * KB, 7, now=self.now)
        self.assertEqual(removed, [idle])
        self.assertFalse(self.exists(idle))
        self.assertTrue(self.exists(recent))

    def test_the_repositorys_own_crate_names(self):
        names = pb.own_crates(ROOT)
        for n in ("ai_architect", "ai_architect_mcp", "ai_architect_integration", "hostile", "embed"):
            self.assertIn(n, names)
        self.assertNotIn("serde", names)


if __name__ == "__main__":
    unittest.main()
