"""The "as direct as possible" floor for the Python handler: a stdlib HTTP/1.1
keep-alive server (one thread per connection) that imports the handler and
calls it in its own process for every request. No event, no Runtime API, no
worker process: what is left is one HTTP round trip plus the handler call.

    python3 baseline.py HANDLER_FILE FUNCTION [PORT]   (prints the port it bound)
"""

import http.server
import importlib.util
import sys

path, name = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
spec = importlib.util.spec_from_file_location("handler", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
handler = getattr(module, name)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY, Nagle and
    # delayed ACKs add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def do_GET(self):
        result = handler({}, None)
        body = result["body"].encode()
        self.send_response(result["statusCode"])
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a load generator resets its connections when it stops


server = Server(("127.0.0.1", port), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
