// Strata's Lambda runtime for Node.js: the Runtime API loop of AWS's own
// Node runtime in one file with no dependencies, so a function written for
// Lambda runs locally unchanged.
//
// Started by Strata as `node bootstrap.js` with the documented Lambda
// environment (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, ...).
"use strict";

const http = require("http");
const path = require("path");
const fs = require("fs");
const { pathToFileURL } = require("url");

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";

function request(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, method, path: BASE + urlPath, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
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
