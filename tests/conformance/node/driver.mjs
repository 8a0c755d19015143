// Drives Zoom's own Node SDK, @zoom/rivet (pinned in package.json / package-lock.json), against the
// simulator for tests/conformance/test_rivet.py. Unpatched: the clients get the simulator's API base URL
// through Rivet's own `baseUrl` option. Rivet hard-codes its OAuth host (OAUTH_BASE_URL =
// "https://zoom.us" in meetings.cjs / users.cjs, no option), so one axios request interceptor rewrites
// exactly `https://zoom.us/oauth/token` to the simulator's `/oauth/token`: a URL rewrite, the Node
// counterpart of a mounted requests adapter. It refuses every other URL that is not the simulator's, so
// nothing can reach the real Zoom. A second, observing-only response interceptor records the status
// and headers of each answer, because Rivet does not expose the headers of an error response
// (`ApiResponseError` carries only `[status/code]: "message"`).
//
// Input (stdin, JSON): {"sim": URL, "clientId", "clientSecret", "accountId", "steps": [...]}
// Steps, run in order, each with an optional "name" that later steps can refer to as "${name.path}":
//   {"op": "call", "client": "meetings"|"users", "endpoint": "meetings.getMeeting", "args": {...}}
//   {"op": "token", "client": ...}                 Rivet's own token (auth.getToken(): cached or minted)
//   {"op": "clients", "clientSecret": "..."}       new Rivet clients (e.g. after a rotation)
//   {"op": "sim", "method", "path", "body"}        the test changes the simulated world (/_sim admin API,
//                                                  plain fetch, not through Rivet)
// Output (stdout, JSON): {"<name or index>": result}, where a result is
//   {"ok": true, "statusCode", "data", "trackingId", "wire": {status, headers}} or
//   {"ok": false, "name", "message", "oauth": {status, data} (token endpoint refusals), "wire": {...}}.

import axios from "axios";
import { MeetingsS2SAuthClient } from "@zoom/rivet/meetings";
import { UsersS2SAuthClient } from "@zoom/rivet/users";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text));
}));
const sim = input.sim.replace(/\/+$/, "");
const HARD_CODED_TOKEN_URL = "https://zoom.us/oauth/token";

function fullUrl(config) {
  const url = config.url ?? "";
  if (/^https?:\/\//.test(url) || !config.baseURL) return url;
  return config.baseURL.replace(/\/+$/, "") + "/" + url.replace(/^\/+/, "");
}

axios.interceptors.request.use((config) => {
  const url = fullUrl(config);
  if (url === HARD_CODED_TOKEN_URL) {
    config.baseURL = undefined;
    config.url = `${sim}/oauth/token`;
    return config;
  }
  if (!url.startsWith(`${sim}/`)) throw new Error(`conformance: refusing a request off the simulator: ${url}`);
  return config;
});

let lastWire = null;
function record(response) {
  if (response) lastWire = { status: response.status, headers: { ...response.headers } };
}
axios.interceptors.response.use(
  (response) => { record(response); return response; },
  (error) => { record(error.response); return Promise.reject(error); },
);

function makeClients(clientSecret) {
  const options = {
    clientId: input.clientId,
    clientSecret,
    accountId: input.accountId,
    baseUrl: `${sim}/v2`,
    disableReceiver: true,
  };
  return { meetings: new MeetingsS2SAuthClient(options), users: new UsersS2SAuthClient(options) };
}

const results = {};
function lookup(path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), results);
}
function resolve(value) {
  if (typeof value === "string") {
    const whole = value.match(/^\$\{([^}]+)\}$/);
    if (whole) return lookup(whole[1]);
    return value.replace(/\$\{([^}]+)\}/g, (_, path) => String(lookup(path)));
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  }
  return value;
}

function failure(error) {
  const result = { ok: false, name: error?.name ?? "Error", message: String(error?.message ?? error) };
  if (error?.isAxiosError && error.response) {
    result.oauth = { status: error.response.status, data: error.response.data };
  }
  return result;
}

let clients = makeClients(input.clientSecret);
for (const [index, rawStep] of input.steps.entries()) {
  const step = resolve(rawStep);
  const key = step.name ?? String(index);
  lastWire = null;
  let result;
  try {
    if (step.op === "clients") {
      clients = makeClients(step.clientSecret);
      result = { ok: true };
    } else if (step.op === "sim") {
      const response = await fetch(`${sim}${step.path}`, {
        method: step.method,
        headers: { "Content-Type": "application/json" },
        body: step.body === undefined ? undefined : JSON.stringify(step.body),
      });
      result = { ok: response.ok, statusCode: response.status, data: await response.json() };
    } else if (step.op === "token") {
      result = { ok: true, data: await clients[step.client].auth.getToken() };
    } else if (step.op === "call") {
      const [group, method] = step.endpoint.split(".");
      const response = await clients[step.client].endpoints[group][method](step.args ?? {});
      result = { ok: true, statusCode: response.statusCode, data: response.data, trackingId: response.trackingId };
    } else {
      result = { ok: false, name: "DriverError", message: `unknown op ${step.op}` };
    }
  } catch (error) {
    result = failure(error);
  }
  if (lastWire && step.op !== "sim") result.wire = lastWire;
  results[key] = result;
}
process.stdout.write(JSON.stringify(results));
