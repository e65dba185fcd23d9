// A small GraphQL client for the selfrag examples: `request` for queries and mutations over
// POST /graphql, and `GraphqlWs` for subscriptions over graphql-ws. No runtime dependencies, so
// the built pages work offline. The operations' types come from shared/generated/graphql.ts
// (`npm run codegen`): call sites name them, e.g.
// `request<SearchQuery, SearchQueryVariables>(SEARCH, { query })`.

/** Variables of an operation: generated `…Variables` types fit this. */
export type Variables = Record<string, unknown>;

/** One entry of a response's `errors`, as the server sends it. */
export interface GraphqlErrorPayload {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; retryAfter?: number; [key: string]: unknown };
}

/** A GraphQL response body (`POST /graphql`, or the payload of a graphql-ws `next`). */
export interface GraphqlResponse<TData> {
  data?: TData | null;
  errors?: GraphqlErrorPayload[];
  extensions?: Record<string, unknown>;
}

/** What `request` and `upload` resolve to. */
export interface GraphqlResult<TData> {
  data: TData;
  extensions: Record<string, unknown>;
  /** The `X-Response-Time` header, in milliseconds; null when absent. */
  responseTimeMs: number | null;
}

/** Same-origin endpoints: the server that serves these pages also serves the API. */
export const HTTP_URL = "/graphql";
export function wsUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/graphql/ws`;
}

/** What a GraphqlError may carry besides its code and message. */
export interface GraphqlErrorExtra {
  /** Seconds to wait, when rate limited. */
  retryAfter?: number;
  path?: ReadonlyArray<string | number>;
  errors?: GraphqlErrorPayload[];
}

/** A GraphQL error (or a transport failure) with the server's `extensions.code`. */
export class GraphqlError extends Error {
  readonly code: string;
  retryAfter?: number;
  path?: ReadonlyArray<string | number>;
  errors?: GraphqlErrorPayload[];

  constructor(code: string, message: string, extra: GraphqlErrorExtra = {}) {
    super(message);
    this.name = "GraphqlError";
    this.code = code;
    Object.assign(this, extra);
  }

  /** "CODE: message", plus the wait the server asks for when rate limited. */
  describe(): string {
    const wait = this.retryAfter != null ? ` (retry in ${this.retryAfter} s)` : "";
    return `${this.code}: ${this.message}${wait}`;
  }
}

/** An error as a page shows it: `describe()` for a GraphqlError, else its string. */
export function describeError(error: unknown): string {
  return error instanceof GraphqlError ? error.describe() : String(error);
}

export interface RequestOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Sends one operation. Resolves to `{ data, extensions, responseTimeMs }`; rejects with a
 * GraphqlError carrying the first error's code when the server reports any.
 *
 * `application/json` matters: it is what the server's CSRF check accepts without extra headers.
 */
export async function request<TData, TVariables extends Variables>(
  query: string,
  variables: TVariables,
  { headers = {}, signal }: RequestOptions = {},
): Promise<GraphqlResult<TData>> {
  return post<TData>(
    {
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    },
    signal,
  );
}

export interface UploadOptions<K extends string> {
  /** The list variable the files go to (default `files`). */
  fileVariable?: K;
  signal?: AbortSignal;
}

/**
 * Sends one operation with files, by the GraphQL multipart request spec: `files` go to
 * `variables[fileVariable]` (a list), so `variables` holds the others. Multipart is a content
 * type a form on another site could send, so the server's CSRF check wants the
 * `apollo-require-preflight` header with it.
 */
export async function upload<TData, TVariables extends Variables, K extends string & keyof TVariables = "files">(
  query: string,
  variables: Omit<TVariables, K>,
  // The intersection makes `tsc` refuse a variable that does not take a list of files.
  files: File[] & TVariables[K],
  // Cast: "files" is K's default; a caller naming another variable passes it as `fileVariable`.
  { fileVariable = "files" as K, signal }: UploadOptions<K> = {},
): Promise<GraphqlResult<TData>> {
  const operations = { query, variables: { ...variables, [fileVariable]: files.map(() => null) } };
  const map = Object.fromEntries(files.map((_, i) => [String(i), [`variables.${fileVariable}.${i}`]]));
  const body = new FormData();
  body.append("operations", JSON.stringify(operations));
  body.append("map", JSON.stringify(map));
  files.forEach((file, i) => body.append(String(i), file, file.name));
  return post<TData>({ headers: { "apollo-require-preflight": "true" }, body }, signal);
}

/** POSTs to the endpoint and reads the GraphQL response (see `request`). */
async function post<TData>(
  { headers, body }: { headers: Record<string, string>; body: BodyInit },
  signal: AbortSignal | undefined,
): Promise<GraphqlResult<TData>> {
  let response: Response;
  try {
    response = await fetch(HTTP_URL, {
      method: "POST",
      headers: { accept: "application/json", ...headers },
      body,
      signal: signal ?? null,
    });
  } catch (cause) {
    if (cause instanceof Error && cause.name === "AbortError") throw cause;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new GraphqlError("NETWORK", `the server did not answer (${message})`);
  }
  // Same origin, so the header is readable; the server also exposes it for CORS callers.
  const responseTimeMs = parseFloat(response.headers.get("x-response-time") ?? "") || null;
  let result: GraphqlResponse<TData>;
  try {
    // Cast: the body is the server's GraphQL response, whose `data` matches the operation's
    // generated type (that is what the schema, and codegen, guarantee); it is not re-validated.
    result = (await response.json()) as GraphqlResponse<TData>;
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
  if (result.data == null) {
    // No errors and no data: not a GraphQL response (a proxy's page, say).
    throw new GraphqlError(`HTTP_${response.status}`, `unexpected ${response.status} response`);
  }
  return { data: result.data, extensions: result.extensions ?? {}, responseTimeMs };
}

/** Receives a subscription's events (see `GraphqlWs.subscribe`). */
export interface Sink<TData> {
  next?(payload: GraphqlResponse<TData>): void;
  error?(error: GraphqlError): void;
  complete?(): void;
}

export interface GraphqlWsOptions {
  url?: string;
  connectionParams?: Record<string, unknown>;
  ackTimeoutMs?: number;
  onClose?: ((error: GraphqlError) => void) | null;
}

/** The graphql-transport-ws messages this client sends. */
type ClientMessage =
  | { type: "connection_init"; payload: Record<string, unknown> }
  | { type: "pong"; payload?: unknown }
  | { id: string; type: "subscribe"; payload: { query: string; variables: Variables } }
  | { id: string; type: "complete" };

/** … and those it reads from the server. */
type ServerMessage =
  | { type: "connection_ack"; payload?: unknown }
  | { type: "ping"; payload?: unknown }
  | { type: "pong"; payload?: unknown }
  | { id: string; type: "next"; payload: GraphqlResponse<unknown> }
  | { id: string; type: "error"; payload: GraphqlErrorPayload[] | GraphqlErrorPayload }
  | { id: string; type: "complete" };

/**
 * A minimal graphql-ws ("graphql-transport-ws") client: connection_init → connection_ack,
 * then subscribe / next / error / complete per operation id, answering the server's pings.
 * It does not reconnect by itself: `onClose` tells the page, which decides what to do
 * (the dashboard falls back to polling).
 */
export class GraphqlWs {
  readonly url: string;
  readonly connectionParams: Record<string, unknown>;
  readonly ackTimeoutMs: number;
  onClose: ((error: GraphqlError) => void) | null;
  // Each sink was registered by a `subscribe<TData>` whose payloads are TData's: the map
  // forgets TData, and `next` hands the server's payload back to that same sink.
  private readonly sinks = new Map<string, Sink<unknown>>();
  private nextId = 1;
  private ready: Promise<this> | null = null;
  private socket: WebSocket | null = null;

  constructor({ url = wsUrl(), connectionParams = {}, ackTimeoutMs = 5000, onClose = null }: GraphqlWsOptions = {}) {
    this.url = url;
    this.connectionParams = connectionParams;
    this.ackTimeoutMs = ackTimeoutMs;
    this.onClose = onClose;
  }

  /** Opens the socket and waits for connection_ack. Idempotent. */
  connect(): Promise<this> {
    if (this.ready) return this.ready;
    this.ready = new Promise<this>((resolve, reject) => {
      const socket = new WebSocket(this.url, "graphql-transport-ws");
      this.socket = socket;
      let acked = false;
      // A server that accepts the socket but never acks would otherwise hang the page.
      const timer = setTimeout(() => socket.close(4408, "connection_ack timeout"), this.ackTimeoutMs);

      socket.onopen = () => this.#send({ type: "connection_init", payload: this.connectionParams });
      socket.onmessage = (event: MessageEvent<string>) => {
        let message: ServerMessage;
        try {
          // Cast: a message of the graphql-transport-ws protocol, which the server speaks;
          // unknown types fall through the switch below.
          message = JSON.parse(event.data) as ServerMessage;
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
  subscribe<TData, TVariables extends Variables>(query: string, variables: TVariables, sink: Sink<TData>): () => void {
    const id = String(this.nextId++);
    this.sinks.set(id, sink);
    this.connect()
      .then(() => {
        if (this.sinks.has(id)) this.#send({ id, type: "subscribe", payload: { query, variables } });
      })
      .catch((error: unknown) => {
        if (this.sinks.delete(id)) {
          sink.error?.(error instanceof GraphqlError ? error : new GraphqlError("WS_ERROR", String(error)));
        }
      });
    return () => {
      if (this.sinks.delete(id) && this.socket?.readyState === WebSocket.OPEN) {
        this.#send({ id, type: "complete" });
      }
    };
  }

  close(): void {
    this.onClose = null;
    this.socket?.close(1000, "bye");
  }

  #send(message: ClientMessage): void {
    this.socket?.send(JSON.stringify(message));
  }
}
