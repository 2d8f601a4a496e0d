// The "as direct as possible" floor for the Node handler: a bare node:http
// server that calls the handler in its own process for every request and
// writes its statusCode and body back. No event, no Runtime API, no worker:
// what is left is one HTTP round trip plus the handler call, which is what
// the gateway's p50 is compared with.
//
//   node baseline.js HANDLER_FILE EXPORT [PORT]   (prints the port it bound)
'use strict';
const http = require('node:http');
const path = require('node:path');

const [file, name, port = '0'] = process.argv.slice(2);
const handler = require(path.resolve(file))[name];
const server = http.createServer(async (req, res) => {
  const result = await handler({}, {});
  res.writeHead(result.statusCode, { 'content-type': 'text/plain' });
  res.end(result.body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => {
  console.log(server.address().port);
});
