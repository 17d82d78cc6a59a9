// Regenerates proto/gen/*.ts from proto/*.proto with protoc (Debian's protobuf-compiler)
// and the ts-proto plugin (npm). The output is committed, so a build needs neither.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const protoDir = join(root, 'proto');
const out = join(protoDir, 'gen');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = readdirSync(protoDir).filter((f) => f.endsWith('.proto'));
const opts = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'importSuffix=.js',
  'forceLong=number',
  'useExactTypes=false',
  'env=node',
].join(',');
const r = spawnSync(
  'protoc',
  [
    `--plugin=protoc-gen-ts_proto=${join(root, 'node_modules/.bin/protoc-gen-ts_proto')}`,
    `--ts_proto_out=${out}`,
    `--ts_proto_opt=${opts}`,
    `-I${protoDir}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
if (r.error) {
  console.error('protoc not found: apt-get install protobuf-compiler');
  process.exit(1);
}
process.exit(r.status ?? 1);
