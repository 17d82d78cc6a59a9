/**
 * The table of devices a service serves, behind its Attach/Detach/Query calls.
 * Drivers register a factory; a factory validates the spec and returns the running
 * backend, which the table stops on detach or shutdown.
 */
import type { DeviceInfo, DeviceSpec } from '../../proto/gen/common.js';
import { grpc } from './grpc.js';

export interface Backend {
  /** "running", "stopped", or "error: ..." */
  state(): string;
  stop(): Promise<void>;
}

export type DriverFactory = (spec: DeviceSpec) => Promise<Backend>;

/** An error the gRPC layer reports with its status code. */
export class ServiceError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export class DeviceTable {
  private readonly devices = new Map<string, { spec: DeviceSpec; backend: Backend }>();
  private readonly drivers = new Map<string, DriverFactory>();

  constructor(readonly service: string) {}

  registerDriver(name: string, factory: DriverFactory): void {
    this.drivers.set(name, factory);
  }

  driverNames(): string[] {
    return [...this.drivers.keys()].sort();
  }

  async attach(spec: DeviceSpec): Promise<DeviceInfo> {
    if (!/^[A-Za-z][A-Za-z0-9._-]{0,127}$/.test(spec.id)) {
      throw new ServiceError(grpc.status.INVALID_ARGUMENT, `Parameter 'id' expects an identifier (got '${spec.id}')`);
    }
    if (this.devices.has(spec.id)) {
      throw new ServiceError(grpc.status.ALREADY_EXISTS, `Duplicate device ID '${spec.id}'`);
    }
    const factory = this.drivers.get(spec.driver);
    if (!factory) {
      const known = this.driverNames();
      throw new ServiceError(
        grpc.status.INVALID_ARGUMENT,
        `the ${this.service} service has no driver '${spec.driver}'` +
          (known.length ? ` (it has: ${known.join(', ')})` : ' (it has none yet)'),
      );
    }
    const backend = await factory(spec);
    this.devices.set(spec.id, { spec, backend });
    return this.info(spec.id)!;
  }

  async detach(id: string): Promise<void> {
    const d = this.devices.get(id);
    if (!d) throw new ServiceError(grpc.status.NOT_FOUND, `Device '${id}' not found`);
    this.devices.delete(id);
    await d.backend.stop();
  }

  info(id: string): DeviceInfo | undefined {
    const d = this.devices.get(id);
    if (!d) return undefined;
    return { id, driver: d.spec.driver, props: { ...d.spec.props }, state: d.backend.state() };
  }

  query(id = ''): DeviceInfo[] {
    if (id) {
      const one = this.info(id);
      if (!one) throw new ServiceError(grpc.status.NOT_FOUND, `Device '${id}' not found`);
      return [one];
    }
    return [...this.devices.keys()].map((k) => this.info(k)!);
  }

  async stopAll(): Promise<void> {
    const all = [...this.devices.values()];
    this.devices.clear();
    await Promise.allSettled(all.map((d) => d.backend.stop()));
  }
}

/** Adapts an async handler to grpc-js's callback style, mapping errors to status codes. */
export function unary<Req, Res>(
  fn: (req: Req) => Promise<Res>,
): (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void {
  return (call, cb) => {
    fn(call.request).then(
      (res) => cb(null, res),
      (err: unknown) => {
        const code = err instanceof ServiceError ? err.code : grpc.status.INTERNAL;
        cb({ code, details: err instanceof Error ? err.message : String(err) } as grpc.ServiceError, null);
      },
    );
  };
}

/** The Attach/Detach/Query handlers every device service (block, display, net) serves. */
export function deviceServiceHandlers(table: DeviceTable) {
  return {
    attach: unary(async (spec: DeviceSpec) => ({ device: await table.attach(spec) })),
    detach: unary(async (req: { id: string }) => {
      await table.detach(req.id);
      return {};
    }),
    query: unary(async (req: { id: string }) => ({ devices: table.query(req.id) })),
  };
}
