// A small GraphQL client for the selfrag examples: `request` for queries and mutations over
// POST /graphql, and `GraphqlWs` for subscriptions over graphql-ws. No dependencies, so the
// pages work offline and without a build step.

/** Same-origin endpoints: the server that serves these pages also serves the API. */
export const HTTP_URL = "/graphql";
export function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/graphql/ws`;
}

/** A GraphQL error (or a transport failure) with the server's `extensions.code`. */
export class GraphqlError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "GraphqlError";
    this.code = code;
    Object.assign(this, extra);
  }

  /** "CODE: message", plus the wait the server asks for when rate limited. */
  describe() {
    const wait = this.retryAfter != null ? ` (retry in ${this.retryAfter} s)` : "";
    return `${this.code}: ${this.message}${wait}`;
  }
}

/**
 * Sends one operation. Resolves to `{ data, extensions, responseTimeMs }`; rejects with a
 * GraphqlError carrying the first error's code when the server reports any.
 *
 * `application/json` matters: it is what the server's CSRF check accepts without extra headers.
 */
export async function request(query, variables = {}, { headers = {}, signal } = {}) {
  return post(
    {
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    },
    signal,
  );
}

/**
 * Sends one operation with files, by the GraphQL multipart request spec: `files` go to
 * `variables[fileVariable]` (a list). Multipart is a content type a form on another site could
 * send, so the server's CSRF check wants the `apollo-require-preflight` header with it.
 */
export async function upload(query, variables, files, { fileVariable = "files", signal } = {}) {
  const operations = { query, variables: { ...variables, [fileVariable]: files.map(() => null) } };
  const map = Object.fromEntries(files.map((_, i) => [String(i), [`variables.${fileVariable}.${i}`]]));
  const body = new FormData();
  body.append("operations", JSON.stringify(operations));
  body.append("map", JSON.stringify(map));
  files.forEach((file, i) => body.append(String(i), file, file.name));
  return post({ headers: { "apollo-require-preflight": "true" }, body }, signal);
}

/** POSTs to the endpoint and reads the GraphQL response (see `request`). */
async function post({ headers, body }, signal) {
  let response;
  try {
    response = await fetch(HTTP_URL, {
      method: "POST",
      headers: { accept: "application/json", ...headers },
      body,
      signal,
    });
  } catch (cause) {
    if (cause.name === "AbortError") throw cause;
    throw new GraphqlError("NETWORK", `the server did not answer (${cause.message})`);
  }
  // Same origin, so the header is readable; the server also exposes it for CORS callers.
  const responseTimeMs = parseFloat(response.headers.get("x-response-time") ?? "") || null;
  let result;
  try {
    result = await response.json();
  } catch {
    throw new GraphqlError(`HTTP_${response.status}`, `unexpected ${response.status} response`);
  }
  const first = result.errors?.[0];
  if (first) {
    const ext = first.extensions ?? {};
    throw new GraphqlError(ext.code ?? `HTTP_${response.status}`, first.message, {
      retryAfter: ext.retryAfter,
      path: first.path,
      errors: result.errors,
    });
  }
  return { data: result.data, extensions: result.extensions ?? {}, responseTimeMs };
}

/**
 * A minimal graphql-ws ("graphql-transport-ws") client: connection_init → connection_ack,
 * then subscribe / next / error / complete per operation id, answering the server's pings.
 * It does not reconnect by itself: `onClose` tells the page, which decides what to do
 * (the dashboard falls back to polling).
 */
export class GraphqlWs {
  constructor({ url = wsUrl(), connectionParams = {}, ackTimeoutMs = 5000, onClose } = {}) {
    this.url = url;
    this.connectionParams = connectionParams;
    this.ackTimeoutMs = ackTimeoutMs;
    this.onClose = onClose;
    this.sinks = new Map();
    this.nextId = 1;
    this.ready = null;
    this.socket = null;
  }

  /** Opens the socket and waits for connection_ack. Idempotent. */
  connect() {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, "graphql-transport-ws");
      this.socket = socket;
      let acked = false;
      // A server that accepts the socket but never acks would otherwise hang the page.
      const timer = setTimeout(() => socket.close(4408, "connection_ack timeout"), this.ackTimeoutMs);

      socket.onopen = () => this.#send({ type: "connection_init", payload: this.connectionParams });
      socket.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          socket.close(4400, "invalid message");
          return;
        }
        switch (message.type) {
          case "connection_ack":
            acked = true;
            clearTimeout(timer);
            resolve(this);
            break;
          case "ping":
            this.#send({ type: "pong", payload: message.payload });
            break;
          case "next":
            this.sinks.get(message.id)?.next?.(message.payload);
            break;
          case "error": {
            // The payload is a list of GraphQL errors; the subscription is over.
            const sink = this.sinks.get(message.id);
            this.sinks.delete(message.id);
            const first = Array.isArray(message.payload) ? message.payload[0] : message.payload;
            sink?.error?.(
              new GraphqlError(first?.extensions?.code ?? "SUBSCRIPTION_ERROR", first?.message ?? "subscription failed"),
            );
            break;
          }
          case "complete": {
            const sink = this.sinks.get(message.id);
            this.sinks.delete(message.id);
            sink?.complete?.();
            break;
          }
        }
      };
      socket.onclose = (event) => {
        clearTimeout(timer);
        const error = new GraphqlError("WS_CLOSED", `WebSocket closed (${event.code}${event.reason ? ` ${event.reason}` : ""})`);
        if (!acked) reject(error);
        for (const sink of this.sinks.values()) sink.error?.(error);
        this.sinks.clear();
        this.ready = null;
        this.onClose?.(error);
      };
      // `onerror` carries no detail in browsers; `onclose` follows it and does the work.
      socket.onerror = () => {};
    });
    return this.ready;
  }

  /**
   * Starts a subscription. `sink` gets next(payload) with `{data, errors}`, error(GraphqlError)
   * and complete(). Returns a function that stops it.
   */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.sinks.set(id, sink);
    this.connect()
      .then(() => {
        if (this.sinks.has(id)) this.#send({ id, type: "subscribe", payload: { query, variables } });
      })
      .catch((error) => {
        if (this.sinks.delete(id)) sink.error?.(error);
      });
    return () => {
      if (this.sinks.delete(id) && this.socket?.readyState === WebSocket.OPEN) {
        this.#send({ id, type: "complete" });
      }
    };
  }

  close() {
    this.onClose = null;
    this.socket?.close(1000, "bye");
  }

  #send(message) {
    this.socket.send(JSON.stringify(message));
  }
}
