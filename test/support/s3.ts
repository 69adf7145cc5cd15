import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { S3Client } from '../../src/logs/s3-client';
import { registerSecret } from './pg';

// A pure-JS S3-compatible server (s3rver) that checks SigV4 signatures against the key pairs
// registered on its account model.
/* eslint-disable @typescript-eslint/no-require-imports */
const S3rver = require('@20minutes/s3rver') as new (opts: Record<string, unknown>) => { run(): Promise<AddressInfo>; close(): Promise<void> };
const { DUMMY_ACCOUNT } = require('@20minutes/s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  client: S3Client;
  /** Every object under the prefix: key and its gunzipped JSON Lines parsed. */
  objects(prefix?: string): Promise<{ key: string; rows: Record<string, any>[]; text: string }[]>;
  close(): Promise<void>;
}

/** Starts a local S3 server on loopback with one bucket and fresh credentials (registered as secrets). */
export async function startLocalS3(bucket = 'sluice-export'): Promise<LocalS3> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-'));
  const accessKeyId = 'AKTEST' + randomBytes(6).toString('hex').toUpperCase();
  const secretAccessKey = 's3secret-' + randomBytes(18).toString('base64url');
  registerSecret(secretAccessKey);
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const addr = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', bucket, accessKeyId, secretAccessKey, pathStyle: true });
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    client,
    async objects(prefix = '') {
      const keys = (await client.listKeys(prefix)).sort();
      const out = [];
      for (const key of keys) {
        const text = gunzipSync(await client.getObject(key)).toString('utf8');
        out.push({ key, text, rows: text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) });
      }
      return out;
    },
    async close() {
      await server.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
