/**
 * The dashboard: `GET /ui/` serves a page (plain modules, no build step, no CDN) that
 * follows the cluster through this node's own API: `/v1/cluster?view=leader` (the
 * leader's view, forwarded from a follower) every half second, and `/metrics` for the
 * rates. The page and its assets are open, as `/healthz` is: they hold no data. What the
 * page shows comes from API calls, which need the read role (and promote, add and remove
 * the admin role) with the credentials the page asks for when a call answers 401.
 *
 * The assets are files of the package (`ui/` beside `dist/`, and uPlot from its own
 * package), read once, served from a fixed list: no path from the URL touches the disk.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { TandemError } from '../../core/errors.js';

/** The package's `ui/` directory, from this file's place in `dist/src/api/http/`. */
const uiDirectory = fileURLToPath(new URL('../../../../ui/', import.meta.url));
const require = createRequire(import.meta.url);

interface Asset {
  readonly file: string;
  readonly type: string;
}

const assets: Readonly<Record<string, Asset>> = {
  'index.html': { file: `${uiDirectory}index.html`, type: 'text/html; charset=utf-8' },
  'app.js': { file: `${uiDirectory}app.js`, type: 'text/javascript; charset=utf-8' },
  'app.css': { file: `${uiDirectory}app.css`, type: 'text/css; charset=utf-8' },
  'uplot.js': {
    file: require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'uplot.css': {
    file: require.resolve('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
};

/** The assets' bytes, read at the first request for each. */
const loaded = new Map<string, Buffer>();

function assetBytes(name: string): Buffer {
  let bytes = loaded.get(name);
  if (bytes === undefined) {
    bytes = readFileSync((assets[name] as Asset).file);
    loaded.set(name, bytes);
  }
  return bytes;
}

function send(reply: FastifyReply, name: string): FastifyReply {
  return reply
    .type((assets[name] as Asset).type)
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header(
      'content-security-policy',
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    )
    .send(assetBytes(name));
}

/** Registers `/ui`, `/ui/` and `/ui/:asset`. */
export function registerUiRoutes(app: FastifyInstance): void {
  const open = { role: 'open' } as const;
  const hidden = { hide: true } as const;
  app.get('/ui', { schema: hidden, config: open }, async (_request, reply) =>
    reply.redirect('/ui/'),
  );
  app.get('/ui/', { schema: hidden, config: open }, async (_request, reply) =>
    send(reply, 'index.html'),
  );
  app.get<{ Params: { asset: string } }>(
    '/ui/:asset',
    { schema: hidden, config: open },
    async (request, reply) => {
      const name = request.params.asset;
      if (!Object.hasOwn(assets, name)) {
        throw new TandemError('TANDEM_NOT_FOUND', `no dashboard file ${JSON.stringify(name)}`);
      }
      return send(reply, name);
    },
  );
}
