/**
 * @module
 * A tiny TCP proxy for fault tests: put it between a store client and its server, then cut, black-hole and
 * restore the connection while calls are in flight. Listens on 127.0.0.1 with an ephemeral port and keeps that
 * port for its whole life (a faulted proxy still listens, so nobody else can grab the port in between).
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start({ host: "127.0.0.1", port: 6379 });
 * const store = new RedisStore({ ...config, url: `redis://127.0.0.1:${proxy.port}` });
 * proxy.cut();      // every open connection is reset, new ones are reset on arrival
 * proxy.restore();  // new connections are forwarded again
 * await proxy.close();
 * ```
 */

import { connect, createServer, type Server, type Socket } from "node:net";

/** What the proxy does with traffic. */
export type TcpProxyMode =
  /** Forward bytes both ways (normal operation). */
  | "forward"
  /** Reset every connection, open or new: the client sees ECONNRESET at once. */
  | "cut"
  /** Keep connections open but drop every byte: the client sees a server that never answers. */
  | "blackhole";

/** Where the proxy forwards to. */
export interface TcpProxyTarget {
  readonly host: string;
  readonly port: number;
}

/** Every socket any proxy opened or accepted, so a leak check can tell the proxy's sockets from the client's. */
const proxySockets = new WeakSet<object>();

/** A fault-injecting TCP proxy. Create it with {@link TcpProxy.start}. */
export class TcpProxy {
  readonly #server: Server;
  readonly #target: TcpProxyTarget;
  /** Every live socket, both client-facing and server-facing, so a cut can reach them all. */
  readonly #sockets = new Set<Socket>();
  #mode: TcpProxyMode = "forward";
  #accepted = 0;

  private constructor(server: Server, target: TcpProxyTarget) {
    this.#server = server;
    this.#target = target;
    server.on("connection", (client) => this.#onConnection(client));
  }

  /** Starts a proxy to `target` on 127.0.0.1 and an ephemeral port. */
  static async start(target: TcpProxyTarget): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("The proxy is not listening");
    return address.port;
  }

  /** The current mode. */
  get mode(): TcpProxyMode {
    return this.#mode;
  }

  /** Number of client connections accepted so far (including those reset by a cut). */
  get accepted(): number {
    return this.#accepted;
  }

  /** Number of sockets currently open (two per forwarded connection). */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** Resets every open connection and every new one until {@link restore}. */
  cut(): void {
    this.#mode = "cut";
    for (const socket of this.#sockets) reset(socket);
    this.#sockets.clear();
  }

  /** Stops forwarding bytes (connections stay open, replies never come) until {@link restore}. */
  blackhole(): void {
    this.#mode = "blackhole";
  }

  /** Forwards new connections again. Connections black-holed before stay silent (their bytes are lost). */
  restore(): void {
    this.#mode = "forward";
  }

  /** Resets every connection and stops listening. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Whether `socket` is one a proxy opened or accepted (leak checks count those apart). */
  static owns(socket: unknown): boolean {
    return typeof socket === "object" && socket !== null && proxySockets.has(socket);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    proxySockets.add(socket);
    // Errors are the point of this proxy; they must never surface as uncaught exceptions in the test.
    socket.on("error", () => {});
    socket.on("close", () => this.#sockets.delete(socket));
  }

  #onConnection(client: Socket): void {
    this.#accepted += 1;
    this.#track(client);
    if (this.#mode === "cut") {
      reset(client);
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    this.#track(upstream);
    // Bytes that arrive while black-holed are dropped, not buffered: a black hole loses data like a dead link.
    let silenced = this.#mode === "blackhole";
    const relay = (from: Socket, to: Socket) => {
      from.on("data", (chunk: Buffer) => {
        if (this.#mode === "blackhole") silenced = true;
        if (!silenced && !to.destroyed) to.write(chunk);
      });
      from.on("close", () => {
        if (!to.destroyed) to.destroy();
      });
    };
    relay(client, upstream);
    relay(upstream, client);
  }
}

/**
 * Resets a connection (the peer sees ECONNRESET), or destroys it where Node cannot reset it: still connecting
 * (the reset waits for a connect that may never come) or already ended (after a FIN, Node shuts the socket down,
 * and libuv refuses to reset a stream that is shutting down: `resetAndDestroy` then drops the socket but leaves
 * its TCP handle open for good, a leak that is the proxy's and not the client's).
 */
function reset(socket: Socket): void {
  if (socket.connecting || socket.writableEnded || socket.readableEnded) socket.destroy();
  else socket.resetAndDestroy();
}
