// Strata's Lambda runtime for Node.js: the Runtime API loop of AWS's own
// Node runtime in one file with no dependencies, so a function written for
// Lambda runs locally unchanged.
//
// Started by Strata as `node bootstrap.js` with the documented Lambda
// environment (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, ...).
"use strict";

const net = require("net");
const path = require("path");
const fs = require("fs");
const { pathToFileURL } = require("url");

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const BASE = "/2018-06-01/runtime";

// The Runtime API is spoken over one kept-alive socket with a minimal
// HTTP/1.1 client: the loop sends one request at a time and the server is
// Strata's own, so this is all the protocol it needs. Node's `http` client
// cost more CPU per invocation than the rest of the round trip together.
let socket = null;
let buffered = Buffer.alloc(0);
let waiting = null;

function connect() {
  socket = net.connect({ host, port: Number(port) });
  socket.setNoDelay(true);
  socket.on("data", (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    parse();
  });
  const fail = (err) => {
    socket = null;
    buffered = Buffer.alloc(0);
    if (waiting) {
      const { reject } = waiting;
      waiting = null;
      reject(err || new Error("the Runtime API closed the connection"));
    }
  };
  socket.on("error", fail);
  socket.on("close", () => fail());
}

// Completes the pending request once its whole response has arrived.
function parse() {
  if (!waiting) return;
  const end = buffered.indexOf("\r\n\r\n");
  if (end < 0) return;
  const lines = buffered.toString("latin1", 0, end).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body;
  let rest;
  if (headers["transfer-encoding"] === "chunked") {
    const parts = [];
    let at = end + 4;
    for (;;) {
      const eol = buffered.indexOf("\r\n", at);
      if (eol < 0) return;
      const size = parseInt(buffered.toString("latin1", at, eol), 16);
      if (buffered.length < eol + 2 + size + 2) return;
      if (size === 0) {
        rest = eol + 4;
        break;
      }
      parts.push(buffered.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(headers["content-length"] || 0);
    if (buffered.length < end + 4 + length) return;
    body = Buffer.from(buffered.subarray(end + 4, end + 4 + length));
    rest = end + 4 + length;
  }
  buffered = buffered.subarray(rest);
  const { resolve } = waiting;
  waiting = null;
  resolve({ status, headers, body });
}

function request(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    if (!socket) connect();
    waiting = { resolve, reject };
    let head = `${method} ${BASE}${urlPath} HTTP/1.1\r\nHost: ${host}:${port}\r\n`;
    for (const [name, value] of Object.entries(headers || {})) head += `${name}: ${value}\r\n`;
    const payload = body === undefined ? null : body;
    head += `Content-Length: ${payload ? payload.length : 0}\r\n\r\n`;
    socket.write(payload ? Buffer.concat([Buffer.from(head, "latin1"), payload]) : head);
  });
}

function post(urlPath, payload, headers) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  return request("POST", urlPath, body, { "Content-Type": "application/json", ...headers });
}

function errorPayload(err, errorType) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: errorType || e.name || "Error",
    errorMessage: e.message,
    trace: (e.stack || "").split("\n"),
  };
}

class HandlerError extends Error {
  constructor(errorType, message) {
    super(message);
    this.name = errorType;
  }
}

async function loadHandler() {
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) throw new HandlerError("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
  const modulePath = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const base = path.resolve(root, modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw new HandlerError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'`);
  }
  let mod;
  try {
    if (file.endsWith(".mjs")) {
      mod = await import(pathToFileURL(file).href);
    } else {
      try {
        mod = require(file);
      } catch (err) {
        if (err && err.code === "ERR_REQUIRE_ESM") mod = await import(pathToFileURL(file).href);
        else throw err;
      }
    }
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new HandlerError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`);
    }
    throw new HandlerError("Runtime.ImportModuleError", `${err && err.stack ? err.stack : err}`);
  }
  const handler = mod[exportName] || (mod.default && mod.default[exportName]);
  if (typeof handler !== "function") {
    throw new HandlerError("Runtime.HandlerNotFound", `${modulePath}.${exportName} is undefined or not exported`);
  }
  return handler;
}

function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(result);
    };
    try {
      const out = handler(event, context, callback);
      if (out && typeof out.then === "function") {
        out.then((r) => callback(null, r), (e) => callback(e || new Error("handler rejected")));
      } else if (handler.length < 3) {
        callback(null, out);
      }
    } catch (err) {
      callback(err);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    const payload = errorPayload(err, err.name);
    console.error(`${payload.errorType}: ${payload.errorMessage}`);
    await post("/init/error", payload, { "Lambda-Runtime-Function-Error-Type": payload.errorType });
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    const deadline = Number(next.headers["lambda-runtime-deadline-ms"] || 0);
    if (next.headers["lambda-runtime-trace-id"]) {
      process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
    }
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    try {
      const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
      const result = await invoke(handler, event, context);
      const body = result === undefined ? "null" : JSON.stringify(result);
      await post(`/invocation/${requestId}/response`, Buffer.from(body));
    } catch (err) {
      const payload = errorPayload(err);
      console.error(`${requestId}\tERROR\t${payload.errorType}: ${payload.errorMessage}`);
      await post(`/invocation/${requestId}/error`, payload, {
        "Lambda-Runtime-Function-Error-Type": "Unhandled",
      });
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
