"""The official Algorithmia Python client (PyPI algorithmia 2.0.5) against algo-server.

Run by crates/algo-server/tests/official_clients.rs, which starts the server (with
--data-page-size 2, so listings take several pages) and sets ALGORITHMIA_API, KEY_ALICE,
KEY_BOB and FIXTURES. Every call the client can make to a self-hosted server is here.
"""
import base64
import os
import time
import unittest

import Algorithmia
from Algorithmia.acl import ReadAcl, AclType
from Algorithmia.algorithm import OutputType
from Algorithmia.errors import AlgorithmException, ApiError, DataApiError

API = os.environ["ALGORITHMIA_API"]
alice = Algorithmia.client(os.environ["KEY_ALICE"], API)
bob = Algorithmia.client("Simple " + os.environ["KEY_BOB"], API)
COLL = "py%d" % int(time.time() * 1000)


def fixture(name):
    with open(os.path.join(os.environ["FIXTURES"], "images", name), "rb") as f:
        return f.read()


class Pipe(unittest.TestCase):
    def test_every_input_kind(self):
        echo = alice.algo("blueprints/Echo")
        self.assertEqual(echo.pipe({"a": [1, 2]}).result, {"a": [1, 2]})
        self.assertEqual(echo.pipe("héllo").result, "héllo")
        self.assertEqual(echo.pipe(b"\x00\x01\xff").result, b"\x00\x01\xff")
        self.assertEqual(echo.pipe(bytearray(b"ab")).metadata.content_type, "binary")
        self.assertIsNone(echo.pipe(None).result)
        self.assertEqual(alice.algo("algo://blueprints/Echo/1.0").pipe(1).result, 1)

    def test_options(self):
        echo = alice.algo("blueprints/Echo/1.0.*")
        out = echo.set_options(timeout=10, stdout=True).pipe("x")
        self.assertEqual(out.metadata.stdout, "echo: text input\n")
        self.assertRegex(out.metadata.full_metadata["request_id"], "^[0-9a-f]{32}$")
        quiet = alice.algo("blueprints/Echo").set_options(stdout=False).pipe("x")
        self.assertIsNone(quiet.metadata.stdout)
        raw = alice.algo("blueprints/Echo").set_options(output=OutputType.raw).pipe({"a": 1})
        self.assertEqual(raw, '{"a":1}')
        void = alice.algo("blueprints/Sleep").set_options(output=OutputType.void).pipe(0)
        self.assertEqual(void.async_protocol, "void")
        self.assertRegex(void.request_id, "^[0-9a-f]{32}$")
        with self.assertRaises(AlgorithmException) as caught:
            alice.algo("blueprints/Sleep").set_options(timeout=1).pipe(5)
        self.assertEqual(caught.exception.error_type, "TimeoutError")

    def test_errors(self):
        with self.assertRaises(AlgorithmException) as caught:
            alice.algo("blueprints/Crash").pipe("x")
        self.assertEqual(caught.exception.error_type, "AlgorithmError")
        self.assertIn("blueprints/Crash/1.0.0", caught.exception.stack_trace)
        with self.assertRaises(AlgorithmException) as caught:
            alice.algo("blueprints/SmartThumbnail").pipe({"image": "nope", "width": 1, "height": 1})
        self.assertEqual(caught.exception.error_type, "InputError")
        # Raw errors are HTTP 400; 2.0.5 raises a plain Exception naming the status for any
        # non-2xx reply before its own 400 check is reached.
        with self.assertRaises(Exception) as caught:
            alice.algo("blueprints/Crash").set_options(output=OutputType.raw).pipe("x")
        self.assertIn("400", str(caught.exception))
        # Non-2xx replies: 2.0.5 raises a plain Exception naming the status.
        with self.assertRaises(Exception) as caught:
            alice.algo("nobody/Nothing").pipe(1)
        self.assertIn("404", str(caught.exception))
        with self.assertRaises(Exception) as caught:
            Algorithmia.client("wrong", API).algo("blueprints/Echo").pipe(1)
        self.assertIn("401", str(caught.exception))

    def test_real_algorithms(self):
        faces = alice.algo("blueprints/FaceDetection").pipe(fixture("astronaut.jpg")).result
        self.assertGreaterEqual(len(faces["faces"]), 1)
        thumb = alice.algo("opencv/SmartThumbnail/2.1.3").pipe(
            {"image": base64.b64encode(fixture("astronaut.jpg")).decode(), "width": 20, "height": 20})
        self.assertEqual(thumb.result[1:4], b"PNG")


class Info(unittest.TestCase):
    def test_info_versions_exists(self):
        algo = alice.algo("opencv/SmartThumbnail")
        self.assertEqual(algo.info()["results"][0]["version_info"]["semantic_version"], "2.1.3")
        self.assertEqual(algo.info("0.1.14")["version_info"]["semantic_version"], "0.1.14")
        versions = algo.versions(limit=2, published=True, callable=True)["results"]
        self.assertEqual([v["version_info"]["semantic_version"] for v in versions], ["2.1.3", "2.1.2"])
        self.assertTrue(algo.exists())
        self.assertFalse(alice.algo("nobody/Nothing").exists())
        with self.assertRaises(AlgorithmException):
            alice.algo("nobody/Nothing").versions()


class Data(unittest.TestCase):
    def test_files(self):
        f = alice.file("data://.my/%s/x.txt" % COLL)
        self.assertFalse(f.exists())
        f.put("hello")
        self.assertTrue(f.exists())
        self.assertEqual(f.getString(), "hello")
        self.assertEqual(f.getBytes(), b"hello")
        alice.file("data://.my/%s/j.json" % COLL).putJson({"a": [1]})
        self.assertEqual(alice.file("data://.my/%s/j.json" % COLL).getJson(), {"a": [1]})
        alice.file("data://.my/%s/b.bin" % COLL).put(b"\x00\xff")
        self.assertEqual(alice.file("data://.my/%s/b.bin" % COLL).getBytes(), b"\x00\xff")
        with open(alice.file("data://.my/%s/x.txt" % COLL).getFile(as_path=True)) as local:
            self.assertEqual(local.read(), "hello")
        self.assertTrue(alice.file("data://.my/%s/j.json" % COLL).delete())
        with self.assertRaises(DataApiError):
            alice.file("data://.my/%s/j.json" % COLL).getString()
        with self.assertRaises(DataApiError):
            alice.file("data://.my/%s/j.json" % COLL).delete()
        # Bob's .my is his own, and Alice's private space refuses him.
        self.assertFalse(bob.file("data://.my/%s/x.txt" % COLL).exists())
        with self.assertRaises(DataApiError) as caught:
            bob.file("data://alice/%s/x.txt" % COLL).getString()
        self.assertIn("another user", str(caught.exception))
        # A refused PUT (403) surfaces as 2.0.5's plain Exception naming the status.
        with self.assertRaises(Exception) as caught:
            bob.file("data://alice/%s/x.txt" % COLL).put("overwrite")
        self.assertIn("403", str(caught.exception))
        self.assertEqual(f.getString(), "hello")

    def test_directories_pages_and_acls(self):
        d = alice.dir("data://.my/%sd" % COLL)
        self.assertFalse(d.exists())
        d.create(ReadAcl.public)
        self.assertTrue(d.exists())
        self.assertEqual(d.get_permissions().read_acl, AclType.public)
        for name in ["a", "b", "c", "d", "e"]:
            d.file(name + ".txt").put(name)
        d.dir("sub1").create()
        d.dir("sub2").create()
        files = [f.getName() for f in d.files()]
        self.assertEqual(files, ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"])
        self.assertTrue(all(f.size == 1 and f.last_modified for f in d.files()))
        self.assertEqual([x.getName() for x in d.dirs()], ["sub1", "sub2"])
        self.assertEqual(len(list(d.list())), 7)
        # Public: Bob may read, not write.
        self.assertEqual(bob.file("data://alice/%sd/a.txt" % COLL).getString(), "a")
        self.assertTrue(d.update_permissions(ReadAcl.private))
        self.assertEqual(d.get_permissions().read_acl, AclType.private)
        with self.assertRaises(DataApiError):
            bob.file("data://alice/%sd/a.txt" % COLL).getString()
        with self.assertRaises(DataApiError):
            d.delete()
        self.assertTrue(d.delete(force=True))
        self.assertFalse(d.exists())

    def test_data_uris_in_algorithms(self):
        alice.file("data://.my/%sp/a.jpg" % COLL).put(fixture("astronaut.jpg"))
        faces = alice.algo("blueprints/FaceDetection").pipe({"image": "data://.my/%sp/a.jpg" % COLL}).result
        self.assertGreaterEqual(len(faces["faces"]), 1)
        out = alice.algo("blueprints/SmartThumbnail").pipe({
            "image": "data://.my/%sp/a.jpg" % COLL, "width": 30, "height": 30, "format": "png",
            "output": "data://.algo/py/thumb.png"}).result
        self.assertEqual(out, "data://.algo/py/thumb.png")
        self.assertEqual(alice.file("data://.algo/py/thumb.png").getBytes()[1:4], b"PNG")
        self.assertIsNone(alice.dir("data://.algo/py").get_permissions())
        with self.assertRaises(AlgorithmException) as caught:
            bob.algo("blueprints/FaceDetection").pipe("data://alice/%sp/a.jpg" % COLL)
        self.assertEqual(caught.exception.error_type, "InputError")


if __name__ == "__main__":
    unittest.main(verbosity=2)
