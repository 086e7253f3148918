import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { allowedOriginsOf, type Config } from '@bastion/infra/config/config';
import { type Change, changesChannel } from '@bastion/infra/live/changes';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type Redis from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import type { AuthenticatedPrincipal } from '../auth/principal';
import type { SessionDatabase } from '../auth/session-database';
import { redeemTicket } from './ws-tickets';

interface Connection {
  readonly socket: WebSocket;
  readonly principal: AuthenticatedPrincipal;
  rooms: Set<string>;
}

const CLOSE_UNAUTHENTICATED = 4401;

/**
 * `/v1/ws`: authenticated during the HTTP upgrade — a single-use ticket and an allowed Origin, checked before the
 * socket exists, so no message is ever read from an unauthenticated client (Nest guards do not run on connect).
 * The server joins the socket to the `org:<id>` rooms its session is entitled to; the client chooses none. Pushes
 * carry kinds and ids of change, never rows. A sweep re-checks every session (revoked or expired → closed) and its
 * rooms (a removed member stops receiving), and a published revocation closes its sockets at once.
 */
export class LiveGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly connections = new Set<Connection>();
  private readonly allowedOrigins: Set<string>;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly db: SessionDatabase,
    private readonly logger: JsonLogger,
    private readonly sweepMs = 5000,
  ) {
    this.allowedOrigins = new Set(allowedOriginsOf(config));
  }

  async attach(server: Server): Promise<void> {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/v1/ws') return; // not ours: leave it to whoever else listens
      void this.upgrade(req, socket, head, url).catch(() => this.reject(socket, 500));
    });
    await this.subscriber.subscribe(changesChannel(this.config.REDIS_PREFIX));
    this.subscriber.on('message', (_channel: string, message: string) => this.deliver(JSON.parse(message) as Change));
    this.sweepTimer = setInterval(() => void this.sweep(), this.sweepMs);
    this.sweepTimer.unref();
  }

  private reject(socket: Duplex, status: number): void {
    const text = status === 403 ? 'Forbidden' : status === 401 ? 'Unauthorized' : 'Error';
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const origin = req.headers.origin;
    if (!origin || !this.allowedOrigins.has(origin)) return this.reject(socket, 403);
    const principal = await redeemTicket(this.redis, this.config.REDIS_PREFIX, url.searchParams.get('ticket') ?? '');
    if (!principal) return this.reject(socket, 401);
    const rooms = await this.roomsOf(principal);
    if (!rooms) return this.reject(socket, 401);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const connection: Connection = { socket: ws, principal, rooms };
      this.connections.add(connection);
      ws.on('close', () => this.connections.delete(connection));
      ws.on('message', () => undefined); // the channel is server → client; client messages are ignored
      ws.send(JSON.stringify({ kind: 'welcome', rooms: [...rooms] }));
    });
  }

  /** The rooms a live session is entitled to now, or null when the session is not live. */
  private async roomsOf(principal: AuthenticatedPrincipal): Promise<Set<string> | null> {
    try {
      if (principal.type === 'agent') {
        await this.db.as(principal, principal.orgId, async () => undefined);
        return new Set([`org:${principal.orgId}`]);
      }
      const orgs = await this.db.as(principal, null, async (tx) =>
        (await tx.query<{ orgs: string[] }>("select authz.orgs_with_permission('canvas:view') as orgs")).rows[0]!.orgs,
      );
      return new Set(orgs.map((o) => `org:${o}`));
    } catch {
      return null;
    }
  }

  private deliver(change: Change): void {
    for (const connection of this.connections) {
      if (change.kind === 'session-revoked') {
        if (connection.principal.sessionId === change.id) connection.socket.close(CLOSE_UNAUTHENTICATED, 'session revoked');
        continue;
      }
      if (change.orgId && connection.rooms.has(`org:${change.orgId}`) && connection.socket.readyState === WebSocket.OPEN) {
        connection.socket.send(JSON.stringify({ kind: change.kind, orgId: change.orgId, id: change.id, type: change.type }));
      }
    }
  }

  /** Re-checks every connection's session and rooms. */
  async sweep(): Promise<void> {
    for (const connection of [...this.connections]) {
      const rooms = await this.roomsOf(connection.principal);
      if (!rooms) {
        connection.socket.close(CLOSE_UNAUTHENTICATED, 'session ended');
        this.connections.delete(connection);
      } else {
        connection.rooms = rooms;
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const connection of this.connections) connection.socket.terminate();
    this.wss.close();
    this.subscriber.disconnect();
    this.logger.info('live gateway closed');
  }
}
