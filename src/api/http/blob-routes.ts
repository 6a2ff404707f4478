/**
 * Large objects over HTTP (src/blobs): `PUT`, `GET`, `HEAD` and `DELETE /v1/blobs/:name`,
 * `GET /v1/blobs/:name/meta` and `GET /v1/blobs?prefix=`; and the peer routes under
 * `/v1/internal/` that nodes call on each other (chunks in and out, the leader's metadata
 * steps and repair plans), signed with the cluster secret (blobs/peers.ts) instead of a
 * user's credentials.
 *
 * A blob's name is one path segment (a `/` in it is sent as `%2F`). Its ETag is its
 * version, `"<version>"`. A PUT streams its body into chunks, whatever its size up to the
 * node's limit, on whichever node it reaches; a GET streams the blob out chunk by chunk
 * (never the whole object in memory), honours one `Range` and `If-None-Match`, and with
 * `?source=local` serves only from this node's own copies (503 when it lacks one).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle } from '../../node/api.js';
import type { BlobMeta, ChunkId } from '../../blobs/contract.js';
import { chunkBytesMax, type PartRecord } from '../../blobs/records.js';
import type { BlobCondition, BlobService, CompleteRequest } from '../../blobs/service.js';

interface NameParams {
  name: string;
}

interface ChunkParams {
  hash: string;
  version: string;
}

const durabilities: readonly Durability[] = ['async', 'semi-sync', 'quorum', 'sync'];
const consistencies: readonly Consistency[] = ['stale', 'bounded', 'ryw', 'linearizable'];

/** Registers the public blob routes and the peer routes on `app`. */
export function registerBlobRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  blobs: BlobService,
): void {
  // The body of a PUT is the blob itself: handed over as the raw stream, never parsed.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.put<{ Params: NameParams; Querystring: { ack?: string } }>(
      '/v1/blobs/:name',
      {
        config: { role: 'write', honours: ['if-match', 'if-none-match'] },
        bodyLimit: blobs.blobBytesMax,
      },
      async (request, reply) => {
        const body = request.body as Readable;
        let meta: BlobMeta;
        try {
          // Not destroyed when the upload stops early: the client still gets the answer.
          meta = await blobs.put(request.params.name, body.iterator({ destroyOnReturn: false }), {
            contentType: request.headers['content-type'] ?? 'application/octet-stream',
            durability: durabilityOf(request.query.ack, node),
            condition: conditionOf(request),
          });
        } catch (error) {
          await linger(body);
          throw error;
        }
        reply.code(201).header('etag', etagOf(meta.version));
        return describe(meta);
      },
    );
  });

  app.get<{ Params: NameParams; Querystring: BlobQuery }>(
    '/v1/blobs/:name',
    { config: { role: 'read', honours: ['if-none-match'] }, exposeHeadRoute: false },
    async (request, reply) => serve(blobs, request, reply, true),
  );
  app.head<{ Params: NameParams; Querystring: BlobQuery }>(
    '/v1/blobs/:name',
    { config: { role: 'read', honours: ['if-none-match'] } },
    async (request, reply) => serve(blobs, request, reply, false),
  );

  app.get<{ Params: NameParams; Querystring: BlobQuery }>(
    '/v1/blobs/:name/meta',
    { config: { role: 'read' } },
    async (request, reply) => {
      const meta = await found(blobs, request.params.name, consistencyOf(request.query));
      reply.header('etag', etagOf(meta.version));
      return {
        ...describe(meta),
        chunkBytes: meta.chunkBytes,
        chunks: meta.chunks.map((chunk) => ({ ...chunk, version: meta.version })),
      };
    },
  );

  app.get<{ Querystring: BlobQuery & { prefix?: string; limit?: string } }>(
    '/v1/blobs',
    { config: { role: 'read' } },
    async (request) => {
      const limit = request.query.limit === undefined ? 1000 : Number(request.query.limit);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
        throw new TandemError('TANDEM_BAD_REQUEST', 'limit must be an integer from 1 to 10000');
      }
      const metas = await blobs.list(
        request.query.prefix ?? '',
        consistencyOf(request.query),
        limit,
      );
      return { blobs: metas.map(describe) };
    },
  );

  app.delete<{ Params: NameParams }>(
    '/v1/blobs/:name',
    { config: { role: 'write', honours: ['if-match'] } },
    async (request, reply) => {
      const deleted = await blobs.delete(request.params.name, conditionOf(request));
      if (!deleted) {
        throw new TandemError('TANDEM_NOT_FOUND', `blob ${request.params.name} does not exist`);
      }
      return reply.code(204).send();
    },
  );

  registerUploadRoutes(app, node, blobs);

  // This node's chunk files and repairs: what it holds, lacks, fetched, deleted, found
  // corrupt; with `?view=cluster`, every member's, asked of each (the dashboard's table).
  app.get<{ Querystring: { view?: string } }>(
    '/v1/cluster/blobs',
    { config: { role: 'read' } },
    async (request) => {
      if (request.query.view === undefined) return { node: node.id, ...blobs.status() };
      if (request.query.view !== 'cluster') {
        throw new TandemError('TANDEM_BAD_REQUEST', 'view may only be cluster');
      }
      return { nodes: await blobs.clusterStatus() };
    },
  );

  registerPeerRoutes(app, blobs);
}

interface UploadParams {
  name: string;
  id: string;
}

/**
 * Resumable uploads: begin, chunks to any node in any order (retry-safe, each checked
 * against `X-Tandem-Sha256` when sent), complete (atomically visible) or abort.
 */
function registerUploadRoutes(app: FastifyInstance, node: NodeHandle, blobs: BlobService): void {
  app.post<{ Params: NameParams }>(
    '/v1/blobs/:name/uploads',
    { config: { role: 'write' } },
    async (request, reply) => {
      const upload = await blobs.beginUpload(
        request.params.name,
        request.headers['content-type'] ?? 'application/octet-stream',
      );
      reply.code(201);
      return {
        uploadId: upload.id,
        name: upload.name,
        version: upload.version,
        chunkBytes: upload.chunkBytes,
        expiresAtMs: upload.expiresAtMs,
      };
    },
  );
  void app.register(async (scope) => {
    parseChunkBodies(scope);
    scope.put<{
      Params: UploadParams & { index: string };
      Querystring: { ack?: string };
      Body: Buffer;
    }>(
      '/v1/blobs/:name/uploads/:id/chunks/:index',
      { config: { role: 'write' }, bodyLimit: chunkBytesMax },
      async (request) => {
        const sha256 = request.headers['x-tandem-sha256'];
        if (
          sha256 !== undefined &&
          (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))
        ) {
          throw new TandemError('TANDEM_BAD_REQUEST', 'X-Tandem-Sha256 is 64 lowercase hex digits');
        }
        if (!/^(0|[1-9][0-9]{0,8})$/.test(request.params.index)) {
          throw new TandemError('TANDEM_BAD_REQUEST', 'a chunk index is a non-negative integer');
        }
        return blobs.putPart(
          request.params.name,
          request.params.id,
          Number(request.params.index),
          request.body,
          {
            ...(sha256 === undefined ? {} : { sha256 }),
            durability: durabilityOf(request.query.ack, node),
          },
        );
      },
    );
  });
  app.post<{ Params: UploadParams; Body: { sha256?: string } | undefined }>(
    '/v1/blobs/:name/uploads/:id/complete',
    { config: { role: 'write', honours: ['if-match', 'if-none-match'] } },
    async (request, reply) => {
      const sha256 = request.body?.sha256;
      if (sha256 !== undefined && (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))) {
        throw new TandemError('TANDEM_BAD_REQUEST', 'sha256 is 64 lowercase hex digits');
      }
      const meta = await blobs.completeUpload(request.params.name, request.params.id, {
        ...(sha256 === undefined ? {} : { sha256 }),
        condition: conditionOf(request),
      });
      reply.code(201).header('etag', etagOf(meta.version));
      return describe(meta);
    },
  );
  app.delete<{ Params: UploadParams }>(
    '/v1/blobs/:name/uploads/:id',
    { config: { role: 'write' } },
    async (request, reply) => {
      await blobs.abortUpload(request.params.name, request.params.id);
      return reply.code(204).send();
    },
  );
}

/** The routes nodes call on each other (role `peer`: a signature of the cluster secret). */
function registerPeerRoutes(app: FastifyInstance, blobs: BlobService): void {
  // A chunk arrives with its length: read into one buffer of that size, copied once.
  void app.register(async (scope) => {
    parseChunkBodies(scope);
    scope.put<{ Params: ChunkParams; Body: Buffer }>(
      '/v1/internal/chunks/:hash/:version',
      { config: { role: 'peer' }, bodyLimit: chunkBytesMax },
      async (request, reply) => {
        await blobs.receiveChunk(chunkIdOf(request.params), request.body);
        return reply.code(204).send();
      },
    );
  });
  app.get<{ Params: ChunkParams }>(
    '/v1/internal/chunks/:hash/:version',
    { config: { role: 'peer' } },
    async (request, reply) => {
      const bytes = await blobs.localChunk(chunkIdOf(request.params));
      if (bytes === null)
        throw new TandemError('TANDEM_NOT_FOUND', 'no sound copy of that chunk here');
      return reply.type('application/octet-stream').send(bytes);
    },
  );
  app.post<{ Body: { name: string; contentType: string } }>(
    '/v1/internal/blobs/begin',
    { config: { role: 'peer' } },
    async (request) => blobs.beginHere(request.body.name, request.body.contentType),
  );
  app.post<{ Body: CompleteRequest }>(
    '/v1/internal/blobs/complete',
    { config: { role: 'peer' } },
    async (request) => blobs.completeHere(request.body),
  );
  app.post<{ Body: { name: string; condition: BlobCondition } }>(
    '/v1/internal/blobs/delete',
    { config: { role: 'peer' } },
    async (request) => ({
      deleted: await blobs.deleteHere(request.body.name, request.body.condition),
    }),
  );
  app.post<{ Body: { id: string; part: PartRecord } }>(
    '/v1/internal/blobs/part',
    { config: { role: 'peer' } },
    async (request) => {
      await blobs.partHere(request.body.id, request.body.part);
      return { recorded: true };
    },
  );
  app.post<{ Body: { id: string; parts: number[] } }>(
    '/v1/internal/blobs/abort',
    { config: { role: 'peer' } },
    async (request) => {
      await blobs.abortHere(request.body.id, request.body.parts);
      return { aborted: true };
    },
  );
  app.get('/v1/internal/blobs/status', { config: { role: 'peer' } }, async () => blobs.status());
  app.post<{ Body: { node: string; held: ChunkId[] } }>(
    '/v1/internal/blobs/plan',
    { config: { role: 'peer' } },
    async (request) => blobs.planFor(request.body.node, request.body.held),
  );
}

interface BlobQuery {
  consistency?: string;
  source?: string;
}

/** GET and HEAD of a blob: headers from its metadata, then (GET) its bytes, streamed. */
async function serve(
  blobs: BlobService,
  request: FastifyRequest<{ Params: NameParams; Querystring: BlobQuery }>,
  reply: FastifyReply,
  withBody: boolean,
): Promise<FastifyReply> {
  const localOnly = request.query.source === 'local';
  if (request.query.source !== undefined && !localOnly) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'source may only be local');
  }
  const meta = await found(
    blobs,
    request.params.name,
    localOnly ? 'stale' : consistencyOf(request.query),
  );
  if (localOnly && !blobs.hasLocally(meta)) {
    throw new TandemError(
      'TANDEM_REPLICA_UNAVAILABLE',
      `this node lacks a chunk of blob ${meta.name} version ${meta.version}`,
    );
  }
  reply
    .header('etag', etagOf(meta.version))
    .header('accept-ranges', 'bytes')
    .header('x-tandem-blob-version', String(meta.version))
    .header('x-tandem-sha256', meta.sha256)
    .type(meta.contentType);
  const ifNoneMatch = request.headers['if-none-match'];
  if (
    ifNoneMatch !== undefined &&
    etagsOf(ifNoneMatch).some((tag) => tag === '*' || tag === meta.version)
  ) {
    return reply.code(304).send();
  }
  const range = rangeOf(request.headers.range, meta.bytes);
  let start = 0;
  let end = meta.bytes;
  if (range !== null) {
    [start, end] = range;
    reply.code(206).header('content-range', `bytes ${start}-${end - 1}/${meta.bytes}`);
  }
  reply.header('content-length', String(end - start));
  if (!withBody) return reply.send();
  return reply.send(Readable.from(blobs.read(meta, start, end, localOnly), { objectMode: false }));
}

async function found(
  blobs: BlobService,
  name: string,
  consistency: Consistency,
): Promise<BlobMeta> {
  const meta = await blobs.meta(name, consistency);
  if (meta === null) throw new TandemError('TANDEM_NOT_FOUND', `blob ${name} does not exist`);
  return meta;
}

/** What a listing and a PUT answer tell of a blob. */
function describe(meta: BlobMeta) {
  return {
    name: meta.name,
    version: meta.version,
    bytes: meta.bytes,
    contentType: meta.contentType,
    sha256: meta.sha256,
    chunks: meta.chunks.length,
    createdAtMs: meta.createdAtMs,
  };
}

function etagOf(version: number): string {
  return `"${version}"`;
}

/** The versions (or `*`) an If-Match or If-None-Match header lists. */
function etagsOf(header: string): ('*' | number)[] {
  return header.split(',').map((part) => {
    const text = part.trim().replace(/^W\//, '');
    if (text === '*') return '*';
    const match = /^"?([1-9][0-9]{0,15})"?$/.exec(text);
    if (match === null) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `${JSON.stringify(text)} is not a blob's entity tag ("<version>") nor *`,
      );
    }
    return Number(match[1]);
  });
}

function conditionOf(request: FastifyRequest): BlobCondition {
  const condition: { ifMatch?: number; ifNoneMatch?: '*' | number } = {};
  const ifMatch = request.headers['if-match'];
  if (ifMatch !== undefined) {
    const tags = etagsOf(ifMatch);
    if (tags.length !== 1 || tags[0] === '*') {
      throw new TandemError('TANDEM_BAD_REQUEST', 'If-Match on a blob names one version');
    }
    condition.ifMatch = tags[0] as number;
  }
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const tags = etagsOf(ifNoneMatch);
    if (tags.length !== 1)
      throw new TandemError('TANDEM_BAD_REQUEST', 'If-None-Match on a blob names * or one version');
    condition.ifNoneMatch = tags[0];
  }
  return condition;
}

/**
 * One byte range of RFC 9110 (`bytes=a-b`, `bytes=a-`, `bytes=-n`) as `[start, end)`, or
 * null for none; several ranges, or one outside the blob, are refused (416).
 */
export function rangeOf(header: string | undefined, size: number): [number, number] | null {
  if (header === undefined) return null;
  const match = /^bytes=([0-9]*)-([0-9]*)$/.exec(header.trim());
  const unsatisfiable = () =>
    new TandemError(
      'TANDEM_RANGE_NOT_SATISFIABLE',
      `range ${JSON.stringify(header)} is not one range within the blob's ${size} bytes`,
    );
  if (match === null || (match[1] === '' && match[2] === '')) throw unsatisfiable();
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || last < start) throw unsatisfiable();
  return [start, last + 1];
}

/**
 * Within `scope`, every body is a chunk: read, whatever its content type, into one buffer
 * of its Content-Length (at most `chunkBytesMax`), copied once.
 */
function parseChunkBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (request, payload, done) => {
    readSized(payload, Number(request.headers['content-length']), chunkBytesMax).then(
      (bytes) => done(null, bytes),
      (error: Error) => done(error, undefined),
    );
  });
}

/** How much of a failed upload's body is read and dropped before its error is answered. */
export const lingerBytesMax = 64 * 1024 * 1024;
/** How long that may take. */
export const lingerMsMax = 5_000;

/**
 * Reads and drops what is left of a failed upload's body (up to `lingerBytesMax`, for up
 * to `lingerMsMax`), so that the client, still sending, reads the error answer instead of
 * a connection reset: a socket closed with unread bytes is reset, and the answer with it.
 * Past either bound the body is cut and the client sees the reset.
 */
async function linger(body: Readable): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  await new Promise<void>((resolve) => {
    let dropped = 0;
    const done = () => {
      clearTimeout(timer);
      body.off('data', count);
      resolve();
    };
    const count = (part: Buffer) => {
      dropped += part.length;
      if (dropped > lingerBytesMax) {
        body.destroy();
        done();
      }
    };
    const timer = setTimeout(() => {
      body.destroy();
      done();
    }, lingerMsMax);
    body.on('data', count);
    body.once('end', done);
    body.once('error', done);
    body.once('close', done);
    body.resume();
  });
}

/** A body of exactly `length` bytes (its Content-Length), at most `max`, in one buffer. */
async function readSized(
  body: AsyncIterable<Buffer>,
  length: number,
  max: number,
): Promise<Buffer> {
  if (!Number.isSafeInteger(length) || length < 0 || length > max) {
    throw new TandemError('TANDEM_BAD_REQUEST', `a chunk needs a Content-Length of at most ${max}`);
  }
  const bytes = Buffer.allocUnsafe(length);
  let held = 0;
  for await (const part of body) {
    if (held + part.length > length) {
      throw new TandemError('TANDEM_BAD_REQUEST', 'a chunk longer than its Content-Length');
    }
    part.copy(bytes, held);
    held += part.length;
  }
  if (held !== length) throw new TandemError('TANDEM_BAD_REQUEST', 'a chunk cut short');
  return bytes;
}

function chunkIdOf(params: ChunkParams): ChunkId {
  const version = Number(params.version);
  if (!/^[0-9a-f]{64}$/.test(params.hash) || !Number.isSafeInteger(version) || version < 1) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'a chunk is named by its SHA-256 and version');
  }
  return { hash: params.hash, version };
}

/** The cluster's durability, or a stronger one the request asks for (never a weaker one). */
function durabilityOf(ack: string | undefined, node: NodeHandle): Durability {
  const cluster = node.status().durability;
  if (ack === undefined) return cluster;
  if (!durabilities.includes(ack as Durability)) {
    throw new TandemError('TANDEM_BAD_REQUEST', `ack must be one of ${durabilities.join(', ')}`);
  }
  return durabilities.indexOf(ack as Durability) > durabilities.indexOf(cluster)
    ? (ack as Durability)
    : cluster;
}

/** A blob's metadata is read `linearizable` unless the request asks otherwise. */
function consistencyOf(query: BlobQuery): Consistency {
  const consistency = query.consistency ?? 'linearizable';
  if (!consistencies.includes(consistency as Consistency)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `consistency must be one of ${consistencies.join(', ')}`,
    );
  }
  return consistency as Consistency;
}
