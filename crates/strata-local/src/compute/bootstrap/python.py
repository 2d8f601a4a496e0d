"""Strata's Lambda runtime for Python: the Runtime API loop that AWS's own
python runtime runs, in one file with no dependencies, so a function written
for Lambda runs locally unchanged.

Started by Strata as `python3 -u bootstrap.py` with the documented Lambda
environment (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, ...)."""

import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"


class Connection:
    """One kept-alive socket to the Runtime API, reopened on error, with just
    the HTTP/1.1 the loop needs: one request at a time to Strata's own
    server. http.client cost more per invocation than the rest of the round
    trip (it parses every response's headers with the email package)."""

    def __init__(self):
        self.sock = None
        self.buf = bytearray()

    def request(self, method, path, body=None, headers=None):
        """The response's headers (names in lower case) and body."""
        for attempt in (0, 1):
            if self.sock is None:
                host, port = API.rsplit(":", 1)
                self.sock = socket.create_connection((host, int(port)))
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buf = bytearray()
            try:
                return self._exchange(method, path, body or b"", headers or {})
            except OSError:
                self.sock.close()
                self.sock = None
                if attempt:
                    raise

    def _exchange(self, method, path, body, headers):
        head = f"{method} {path} HTTP/1.1\r\nHost: {API}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        end = self.buf.find(b"\r\n\r\n")
        while end < 0:
            self._fill()
            end = self.buf.find(b"\r\n\r\n")
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        received = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            received[name.strip().lower()] = value.strip()
        if received.get("transfer-encoding", "").lower() == "chunked":
            return received, self._chunked()
        return received, self._take(int(received.get("content-length") or 0))

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _chunked(self):
        parts = []
        while True:
            eol = self.buf.find(b"\r\n")
            while eol < 0:
                self._fill()
                eol = self.buf.find(b"\r\n")
            size = int(bytes(self.buf[:eol]).split(b";")[0], 16)
            del self.buf[: eol + 2]
            parts.append(self._take(size))
            self._take(2)
            if size == 0:
                return b"".join(parts)


API_CONN = Connection()


def post(path, payload, headers=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    API_CONN.request("POST", BASE + path, body, all_headers)


def error_payload(exc, error_type=None):
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = CURRENT.get("request_id", "")
        return True


CURRENT = {}


def setup_logging():
    """The root logger as Lambda's Python runtime sets it up, so
    `logging.basicConfig` in user code is the same no-op it is on AWS."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class Context:
    def __init__(self, request_id, deadline_ms, arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler():
    spec = os.environ["_HANDLER"]
    module_path, _, function_name = spec.rpartition(".")
    if not module_path or not function_name:
        raise HandlerError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        )
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise HandlerError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        ) from exc
    except ImportError as exc:
        raise HandlerError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise HandlerError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


class HandlerError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    setup_logging()
    try:
        handler = load_handler()
    except Exception as exc:  # anything raised at import time is an init error
        error_type = getattr(exc, "error_type", "Runtime.ImportModuleError")
        payload = error_payload(exc, error_type)
        print(f"[ERROR] {error_type}: {exc}", file=sys.stderr, flush=True)
        traceback.print_exc(file=sys.stderr)
        post("/init/error", payload, {"Lambda-Runtime-Function-Error-Type": error_type})
        sys.exit(1)

    while True:
        headers, body = API_CONN.request("GET", BASE + "/invocation/next")
        request_id = headers.get("lambda-runtime-aws-request-id")
        deadline = int(headers.get("lambda-runtime-deadline-ms") or "0")
        arn = headers.get("lambda-runtime-invoked-function-arn") or ""
        trace = headers.get("lambda-runtime-trace-id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        CURRENT["request_id"] = request_id
        try:
            event = json.loads(body) if body else {}
            result = handler(event, Context(request_id, deadline, arn))
            try:
                payload = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                raise HandlerError(
                    "Runtime.MarshalError", f"Unable to marshal response: {exc}"
                ) from exc
            post(f"/invocation/{request_id}/response", payload)
        except Exception as exc:
            error_type = getattr(exc, "error_type", None)
            payload = error_payload(exc, error_type)
            payload["requestId"] = request_id
            print(
                f"[ERROR] {payload['errorType']}: {exc}\n"
                + "".join(traceback.format_exception(exc)),
                file=sys.stderr,
                flush=True,
            )
            post(
                f"/invocation/{request_id}/error",
                payload,
                {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
            )
        finally:
            CURRENT.pop("request_id", None)
            sys.stdout.flush()
            sys.stderr.flush()


if __name__ == "__main__":
    main()
