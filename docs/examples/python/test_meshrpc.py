"""Tests of meshrpc.py against a running `meshrpc serve` (the state directory
in $MESHRPC_STATE_DIR); docs/examples/examples_test.go starts one and runs
them: python3 -m unittest -v test_meshrpc"""

import http.server
import json
import os
import threading
import time
import unittest

import meshrpc


def greet(name, caller=None):
    """Greets name, saying who asked."""
    return f"hello {name}, from {caller['node']}"


def add(a: int, b: int = 1):
    return a + b


def fail():
    raise ValueError("no")


def refuse():
    raise meshrpc.Error(-32002, "nothing here")


class ProvideAndCall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        threading.Thread(target=meshrpc.provide, args=(greet, add, fail, refuse), kwargs={"name": "pytest"}, daemon=True).start()
        cls.node = meshrpc.connect()  # this machine's node
        for _ in range(200):
            try:
                cls.node.add(1)
                return
            except meshrpc.Error as e:
                if e.code != -32601:  # not provided yet
                    raise
                time.sleep(0.05)
        raise AssertionError("add was never provided")

    def test_params_by_position_and_by_name(self):
        self.assertEqual(self.node.add(2, 3), 5)
        self.assertEqual(self.node.add(a=2), 3)
        self.assertEqual(self.node.call("add", a=2, b=5), 7)

    def test_the_caller_comes_with_the_call(self):
        self.assertRegex(self.node.greet("ann"), r"^hello ann, from \S+$")

    def test_errors_carry_their_code(self):
        for call, code, text in [
            (lambda: self.node.fail(), -32603, "ValueError: no"),
            (lambda: self.node.refuse(), -32002, "nothing here"),
            (lambda: self.node.add(c=1), -32602, 'unknown param "c"'),
            (lambda: self.node.add(), -32602, 'missing required param "a"'),
            (lambda: self.node.call("no.such"), -32601, "no procedure"),
            (lambda: meshrpc.connect("nas").call("sys.ping"), -32002, "nas"),
        ]:
            with self.assertRaises(meshrpc.Error) as raised:
                call()
            self.assertEqual(raised.exception.code, code, raised.exception)
            self.assertIn(text, raised.exception.message)
        self.assertEqual(self.node.add(1), 2)  # the provider goes on serving

    def test_builtins_and_the_store(self):
        self.assertEqual(self.node.call("sys.ping"), "pong")
        before = self.node.call("kv.get", key="py/visits") or 0
        self.assertEqual(self.node.call("kv.inc", key="py/visits"), before + 1)

    def test_a_name_taken_is_refused(self):
        with self.assertRaises(meshrpc.Error) as raised:
            meshrpc._Connection("again", [meshrpc._declare(add)])
        self.assertIn('"add" is taken: provided by program pytest', raised.exception.message)

    def test_declarations(self):
        self.assertEqual(meshrpc._declare(greet), {"name": "greet", "summary": "Greets name, saying who asked.",
                                                   "params": [{"name": "name", "required": True, "schema": {}}]})
        self.assertEqual(meshrpc._declare(greet, key="name")["key_param"], "name")
        self.assertEqual(meshrpc._declare(add)["params"], [{"name": "a", "required": True, "schema": {"type": "integer"}},
                                                            {"name": "b", "required": False, "schema": {"type": "integer"}}])


class Concurrent(unittest.TestCase):
    """With threads, calls run at once and are answered as they finish."""

    def test_answers_out_of_order(self):
        gate = threading.Event()

        def wait_for_gate():
            gate.wait(10)
            return "through"

        def open_gate():
            gate.set()
            return "opened"

        threading.Thread(target=meshrpc.provide, args=(wait_for_gate, open_gate), kwargs={"name": "gates", "threads": 4}, daemon=True).start()
        node = meshrpc.connect()
        for _ in range(200):
            try:
                node.open_gate()
                break
            except meshrpc.Error as e:
                if e.code != -32601:
                    raise
                time.sleep(0.05)
        gate.clear()
        results = {}
        waiter = threading.Thread(target=lambda: results.setdefault("wait", meshrpc.connect().wait_for_gate()))
        waiter.start()
        self.assertEqual(node.open_gate(), "opened")  # answered while wait_for_gate still runs
        waiter.join(10)
        self.assertEqual(results.get("wait"), "through")


class PlainHTTP(unittest.TestCase):
    """With no meshrpc serve on the machine, calls go by plain HTTP POST (as
    through the Tailscale app): here to a stand-in server on loopback."""

    def test_post(self):
        seen = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen["type"] = self.headers["Content-Type"]
                body = json.dumps({"jsonrpc": "2.0", "id": seen["body"]["id"], "result": "pong"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        saved = os.environ.get("MESHRPC_STATE_DIR")
        os.environ["MESHRPC_STATE_DIR"] = "/nonexistent"
        try:
            node = meshrpc.connect(f"127.0.0.1:{server.server_port}")
            self.assertEqual(node.call("sys.ping"), "pong")
        finally:
            os.environ["MESHRPC_STATE_DIR"] = saved
            server.shutdown()
            server.server_close()
        self.assertEqual(seen["type"], "application/json")
        self.assertEqual(seen["body"]["method"], "sys.ping")


if __name__ == "__main__":
    unittest.main()
