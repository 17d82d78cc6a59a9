/**
 * gRPC plumbing shared by every service: address spellings, a server that always serves
 * health and lifecycle, clients with promises and deadlines.
 *
 * Addresses: "unix:/path/to.sock", "unix:relative.sock", "tcp:HOST:PORT", "HOST:PORT".
 */
import * as grpc from '@grpc/grpc-js';
import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { claimSocketPath } from './unix-socket.js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthClient,
  HealthService,
} from '../../proto/gen/health.js';
import { LifecycleClient, LifecycleService, type ServiceInfo } from '../../proto/gen/common.js';

export { grpc };

export interface Address {
  kind: 'unix' | 'tcp';
  /** unix: absolute socket path; tcp: host */
  path: string;
  host: string;
  port: number;
}

export function parseAddress(spec: string): Address {
  if (spec.startsWith('unix:')) {
    const p = spec.slice(5).replace(/^\/\/(?=\/)/, '');
    if (!p) throw new Error(`bad address '${spec}': unix: needs a socket path`);
    return { kind: 'unix', path: resolve(p), host: '', port: 0 };
  }
  const rest = spec.startsWith('tcp:') ? spec.slice(4) : spec;
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(rest);
  if (!m) throw new Error(`bad address '${spec}': expected unix:PATH or HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`bad address '${spec}': port out of range`);
  return { kind: 'tcp', path: '', host: m[1]!, port };
}

export function formatAddress(a: Address): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${a.host}:${a.port}`;
}

function grpcTarget(a: Address): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${a.host}:${a.port}`;
}

export interface ServerHandle {
  server: grpc.Server;
  /** The addresses bound, with real port numbers. */
  addresses: string[];
  setStatus(status: HealthCheckResponse_ServingStatus): void;
  /** Graceful stop, forced after `graceMs`; removes unix socket files it made. */
  close(graceMs?: number): Promise<void>;
}

export interface ServeOptions {
  name: string;
  version: string;
  listen: string[];
  /** Called by Lifecycle.Shutdown after the reply has gone out. */
  onShutdown: (reason: string) => void;
}

/** Starts a gRPC server with Health and Lifecycle; add service impls before or after. */
export async function serve(
  opts: ServeOptions,
  register: (server: grpc.Server) => void,
): Promise<ServerHandle> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  let status = HealthCheckResponse_ServingStatus.SERVING;
  const started = Date.now();
  const addresses: string[] = [];
  const socketFiles: string[] = [];

  server.addService(HealthService, {
    check: (
      call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
      cb: grpc.sendUnaryData<HealthCheckResponse>,
    ) => {
      const svc = call.request.service;
      if (svc !== '' && svc !== opts.name) {
        cb(null, { status: HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN });
        return;
      }
      cb(null, { status });
    },
  });
  server.addService(LifecycleService, {
    info: (_call: grpc.ServerUnaryCall<unknown, ServiceInfo>, cb: grpc.sendUnaryData<ServiceInfo>) =>
      cb(null, {
        name: opts.name,
        version: opts.version,
        pid: process.pid,
        listening: addresses,
        uptimeSeconds: (Date.now() - started) / 1000,
      }),
    shutdown: (call: grpc.ServerUnaryCall<{ reason: string }, object>, cb: grpc.sendUnaryData<object>) => {
      cb(null, {});
      setImmediate(() => opts.onShutdown(call.request.reason || 'shutdown requested'));
    },
  });
  register(server);

  for (const spec of opts.listen) {
    const a = parseAddress(spec);
    if (a.kind === 'unix') {
      await claimSocketPath(a.path).catch((e: Error) => {
        throw new Error(`cannot listen on ${spec}: ${e.message}`);
      });
    }
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync(grpcTarget(a), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
    ).catch((err: Error) => {
      throw new Error(`cannot listen on ${spec}: ${err.message}`);
    });
    if (a.kind === 'unix') socketFiles.push(a.path);
    addresses.push(a.kind === 'unix' ? formatAddress(a) : `${a.host}:${port}`);
  }

  const removeSockets = () => {
    for (const f of socketFiles) {
      try {
        unlinkSync(f);
      } catch {
        // already gone
      }
    }
  };

  return {
    server,
    addresses,
    setStatus: (s) => {
      status = s;
    },
    close: (graceMs = 2000) =>
      new Promise<void>((res) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          removeSockets();
          res();
        });
      }),
  };
}

/** A client constructor as ts-proto generates it. */
export type ClientCtor<C> = new (address: string, creds: grpc.ChannelCredentials, options?: object) => C;

export function connect<C extends grpc.Client>(ctor: ClientCtor<C>, address: string): C {
  return new ctor(grpcTarget(parseAddress(address)), grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

/** Calls a unary method with a deadline; rejects with the gRPC error. */
export function call<Req, Res>(
  client: grpc.Client,
  method: UnaryMethod<Req, Res>,
  req: Req,
  timeoutMs = 5000,
): Promise<Res> {
  return new Promise((res, rej) => {
    method.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, out) =>
      err ? rej(err) : res(out),
    );
  });
}

/** Polls Health.Check until SERVING, the timeout or `signal`; throws with the last error. */
export async function waitHealthy(address: string, timeoutMs = 10000, signal?: AbortSignal): Promise<void> {
  const client = connect(HealthClient, address);
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  try {
    while (Date.now() < deadline) {
      if (signal?.aborted) throw new Error(`stopped waiting for the service at ${address} (${last})`);
      try {
        const r = await call(client, client.check, { service: '' }, Math.max(100, Math.min(1000, deadline - Date.now())));
        if (r.status === HealthCheckResponse_ServingStatus.SERVING) return;
        last = `status ${r.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.close();
  }
  throw new Error(`service at ${address} did not become healthy in ${timeoutMs} ms (${last})`);
}

/** Asks a service to shut down; resolves when it has answered. */
export async function requestShutdown(address: string, reason: string, timeoutMs = 2000): Promise<void> {
  const client = connect(LifecycleClient, address);
  try {
    await call(client, client.shutdown, { reason }, timeoutMs);
  } finally {
    client.close();
  }
}

export async function serviceInfo(address: string, timeoutMs = 2000): Promise<ServiceInfo> {
  const client = connect(LifecycleClient, address);
  try {
    return await call(client, client.info, {}, timeoutMs);
  } finally {
    client.close();
  }
}
