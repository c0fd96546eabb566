"""meshrpc for Python: the standard library only, one file to copy.

Offer functions to the tailnet through the `meshrpc serve` running on this
machine; the node checks each caller's tailnet identity against its rules
before the call reaches you:

    import meshrpc
    def greet(name):
        return "hello " + name
    meshrpc.provide(greet)

Call any node's procedures, through the `meshrpc serve` on this machine or,
where there is none, by plain HTTP (the Tailscale app or tailscaled must then
be running here):

    home = meshrpc.connect("home")
    home.greet("ann")                    # a procedure named greet
    home.call("kv.inc", key="visits")    # names with dots, params by name

The protocol is in docs/protocol.md, "Programs on the node's machine".
"""

import concurrent.futures
import inspect
import itertools
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.request

PROTOCOL = "program/1"


class Error(Exception):
    """A JSON-RPC error: code (see docs/protocol.md), message, data."""

    def __init__(self, code, message, data=None):
        super().__init__(f"{message} (code {code})")
        self.code, self.message, self.data = code, message, data


def socket_path():
    """The local socket of the node whose state directory is
    $MESHRPC_STATE_DIR, else the default one, as for the meshrpc CLI."""
    state = os.environ.get("MESHRPC_STATE_DIR")
    if not state:
        if sys.platform == "darwin":
            config = os.path.expanduser("~/Library/Application Support")
        else:
            config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        state = os.path.join(config, "meshrpc", "default")
    return os.path.join(state, "meshrpc.sock")


def _program_name():
    name = os.path.splitext(os.path.basename(sys.argv[0] or "python"))[0]
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)[:64].lstrip("._-") or "python"


class _Connection:
    """A connection to the node on this machine: a hello line and the
    node's answer, then one JSON-RPC message per line, both ways."""

    def __init__(self, name, provide=()):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(socket_path())
            self.file = self.sock.makefile("rwb")
            self.send({"meshrpc": PROTOCOL, "name": name, "provide": list(provide)})
            welcome = self.receive()
            if "error" in welcome:
                raise Error(**welcome["error"])
        except BaseException:
            self.sock.close()
            raise
        self.node = welcome["node"]

    def send(self, message):
        self.file.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        self.file.flush()

    def receive(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("the node closed the connection")
        return json.loads(line)


_SCHEMAS = {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}, list: {"type": "array"}, dict: {"type": "object"}}


def _declare(function, key=None):
    """A function as a procedure: its name, the first line of its
    docstring, its parameters (those with defaults are optional), and the
    one that names a key, if any."""
    params = [{"name": p.name, "required": p.default is p.empty, "schema": _SCHEMAS.get(p.annotation, {})}
              for p in inspect.signature(function).parameters.values() if p.name != "caller"]
    summary = (inspect.getdoc(function) or "").split("\n")[0]
    declared = {"name": function.__name__, "summary": summary, "params": params}
    if key:
        declared["key_param"] = key
    return declared


def _answer(function, call):
    """Runs one call and returns the line that answers it."""
    params = dict(call.get("params") or {})
    if "caller" in inspect.signature(function).parameters:
        params["caller"] = call.get("caller")  # {"node": ..., "login": ..., "tags": [...]}
    reply = {"jsonrpc": "2.0", "id": call["id"]}
    try:
        inspect.signature(function).bind(**params)
    except TypeError as e:
        reply["error"] = {"code": -32602, "message": f"invalid params for {call['method']}: {e}"}
        return reply
    try:
        reply["result"] = function(**params)
        json.dumps(reply["result"])
    except Error as e:
        reply.pop("result", None)
        reply["error"] = {"code": e.code, "message": e.message}
    except Exception as e:  # the caller gets -32603 with the reason; we keep serving
        reply.pop("result", None)
        reply["error"] = {"code": -32603, "message": f"{call['method']}: {type(e).__name__}: {e}"}
    return reply


def provide(*functions, name=None, keys=None, threads=1):
    """Serves functions as procedures of the node on this machine, under
    their own names, for as long as the program runs: when the node
    restarts, it connects again and provides them again. Calls run one at a
    time, in the order they come (as with BaseManager), so a function needs
    no lock; with threads > 1, that many at once, answered as they finish.
    A function with a parameter named caller receives the caller's
    identity in it. keys maps a function's name to its parameter that names
    a key, so that the node's key-scoped rules ("notes.*@shared/*") apply.
    A refusal (a name another program holds, say) raises meshrpc.Error."""
    table = {f.__name__: f for f in functions}
    keys = keys or {}
    declared = [_declare(f, keys.get(f.__name__)) for f in functions]
    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    conn = _Connection(name or _program_name(), declared)
    while True:
        print(f"meshrpc: {conn.node} provides {', '.join(table)}", file=sys.stderr)
        try:
            _serve(conn, table, pool)
        except (ConnectionError, OSError) as e:
            print(f"meshrpc: the node went away ({e}); connecting again", file=sys.stderr)
        conn = _reconnect(name or _program_name(), declared)


def _serve(conn, table, pool):
    """Answers the node's calls until the connection ends."""
    lock = threading.Lock()  # one line at a time on the connection

    def serve(message):
        function = table.get(message["method"])
        reply = _answer(function, message) if function else {"jsonrpc": "2.0", "id": message["id"],
                                                             "error": {"code": -32601, "message": f"no function {message['method']} here"}}
        with lock:
            conn.send(reply)

    while True:
        message = conn.receive()
        if "method" not in message:  # the node telling us about a line of ours
            print("meshrpc:", message.get("error"), file=sys.stderr)
        elif pool:
            pool.submit(serve, message)
        else:
            serve(message)


def _reconnect(name, declared):
    """Connects again, once a second, until the node is back."""
    while True:
        time.sleep(1)
        try:
            return _Connection(name, declared)
        except (ConnectionError, OSError):
            continue


class connect:
    """A node of the tailnet by name ("home"), or this machine's node with
    no name. Call its procedures as methods, home.get("a"), or with call
    for any name, home.call("kv.get", key="a"): positional arguments go
    by position, keyword arguments by name. Errors raise meshrpc.Error."""

    def __init__(self, node=None, timeout=30.0):
        self._node, self._timeout = node, timeout
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        try:
            self._conn = _Connection(_program_name())
        except (FileNotFoundError, ConnectionRefusedError):
            if node is None:
                raise
            self._conn = None  # no meshrpc serve here: plain HTTP over the Tailscale app

    def call(self, method, *args, **kwargs):
        if args and kwargs:
            raise TypeError("give params by position or by name, not both")
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": kwargs or list(args)}
        reply = self._by_socket(request) if self._conn else self._by_http(request)
        if "error" in reply:
            raise Error(**reply["error"])
        return reply["result"]

    def _by_socket(self, request):
        request["timeout_ms"] = int(self._timeout * 1000)
        if self._node:
            request["node"] = self._node
        with self._lock:
            self._conn.send(request)
            while True:
                reply = self._conn.receive()
                if reply.get("id") == request["id"]:
                    return reply
                print("meshrpc:", reply.get("error"), file=sys.stderr)  # a notice, id null

    def _by_http(self, request):
        host = self._node if ":" in self._node else self._node + ":4343"
        http = urllib.request.Request(
            f"http://{host}/rpc", json.dumps(request).encode(),
            {"Content-Type": "application/json", "Meshrpc-Timeout-Ms": str(int(self._timeout * 1000))})
        with urllib.request.urlopen(http, timeout=self._timeout) as response:
            return json.load(response)

    def close(self):
        if self._conn:
            self._conn.sock.close()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)
