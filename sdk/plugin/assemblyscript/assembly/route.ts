// The route-handler kit (wit/ABI.md §5): the JSON documents RouteRequest
// and RouteResponse, and the handle export. A handler registers its
// function and re-exports handle from its entry file:
//
//   import { Route, RouteRequest, RouteResponse } from "mesh-plugin/route";
//   export { handle } from "mesh-plugin/route";
//   Route.register(hello);

import { JSONReader, JSONWriter } from "./json";
import { fail, input, run } from "./extism";
export { config, configOr, fail, log, Level } from "./extism";

/** The actions of a RouteResponse. */
export const ACTION_RESPOND = "respond";
export const ACTION_FORWARD = "forward";
export const ACTION_NEXT = "next";

/** RouteRequest is the input of handle (host/plugin/wire.go). */
export class RouteRequest {
  /** The HTTP method. */
  method: string = "";
  /** The URL path, or the x-ptp-uri of an invoke. */
  path: string = "";
  /** The raw query, without '?'. */
  query: string = "";
  /** The request headers: lower-case names, first value. */
  headers: Map<string, string> = new Map<string, string>();
  /** The request body. */
  body: Uint8Array = new Uint8Array(0);
  /** The caller's IP address. */
  remoteAddr: string = "";
  /** The partner node id proven by its client certificate; empty for containers. */
  tlsIdentity: string = "";

  /** header returns the value of header name (lower case), or "". */
  header(name: string): string {
    return this.headers.has(name) ? this.headers.get(name) : "";
  }

  /** parse reads a RouteRequest from JSON; unknown fields are skipped. It sets r.error on bad input. */
  static parse(r: JSONReader): RouteRequest {
    const q = new RouteRequest();
    if (!r.beginObject()) return q;
    for (let k = r.nextKey(); k !== null; k = r.nextKey()) {
      if (k == "method") q.method = r.readString();
      else if (k == "path") q.path = r.readString();
      else if (k == "query") q.query = r.readString();
      else if (k == "headers") q.headers = r.readStringMap();
      else if (k == "body") q.body = r.readBase64();
      else if (k == "remote_addr") q.remoteAddr = r.readString();
      else if (k == "tls_identity") q.tlsIdentity = r.readString();
      else r.skip();
    }
    r.end();
    return q;
  }
}

/** RouteResponse is the output of handle. */
export class RouteResponse {
  /** ACTION_RESPOND, ACTION_FORWARD or ACTION_NEXT. */
  action: string = ACTION_NEXT;
  /** respond: the HTTP status; 0 means 200 (omitted when 0). */
  status: i32 = 0;
  /** respond: the reply headers; forward: headers set on the forwarded request (omitted when empty). */
  headers: Map<string, string> = new Map<string, string>();
  /** respond: the reply body (omitted when empty). */
  body: Uint8Array = new Uint8Array(0);
  /** forward: "http://host:port" of an upstream, or "node:<id>" of a partner (omitted when empty). */
  target: string = "";

  /** respond answers the request with status and body (a string, sent as UTF-8). */
  static respond(status: i32, body: string): RouteResponse {
    return RouteResponse.respondBytes(status, Uint8Array.wrap(String.UTF8.encode(body)));
  }

  /** respondBytes answers the request with status and body. */
  static respondBytes(status: i32, body: Uint8Array): RouteResponse {
    const r = new RouteResponse();
    r.action = ACTION_RESPOND;
    r.status = status;
    r.body = body;
    return r;
  }

  /** forward passes the request on to target. */
  static forward(target: string): RouteResponse {
    const r = new RouteResponse();
    r.action = ACTION_FORWARD;
    r.target = target;
    return r;
  }

  /** next hands the request back to the node: not this handler's. */
  static next(): RouteResponse {
    return new RouteResponse();
  }

  /** toJSON encodes the response, leaving out empty fields as wit/ABI.md §5.2 says. */
  toJSON(): Uint8Array {
    const w = new JSONWriter();
    w.string("action", this.action);
    if (this.status != 0) w.int("status", this.status);
    if (this.headers.size > 0) w.map("headers", this.headers);
    if (this.body.length > 0) w.base64("body", this.body);
    if (this.target.length > 0) w.string("target", this.target);
    return w.finish();
  }
}

/** Handler answers one request; to fail instead (the node answers a system error), call fail and return any response. */
export type Handler = (r: RouteRequest) => RouteResponse;

let handler: Handler | null = null;

/** Route holds the registered handler. */
export class Route {
  /** register makes h the handler handle calls. */
  static register(h: Handler): void {
    handler = h;
  }
}

/** serve reads the input, runs the handler and encodes its response. */
function serve(): Uint8Array | null {
  const h = handler;
  if (h === null) {
    fail("route: no handler registered: call Route.register in the plugin's entry file");
    return null;
  }
  const r = new JSONReader(input());
  const req = RouteRequest.parse(r);
  const e = r.error;
  if (e !== null) {
    fail("route: bad input: " + e);
    return null;
  }
  return h(req).toJSON();
}

/** handle is the route-handler export (ABI: handle() -> i32). */
export function handle(): i32 {
  return run(serve, "handle");
}
