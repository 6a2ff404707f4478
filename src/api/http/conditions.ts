/**
 * Conditional requests (RFC 9110 section 13) on the key-value routes. A key's ETag is its
 * version, `"<index>.<term>"`; a write's precondition becomes part of its command (SET's
 * `ifVersion` or NX/XX, DEL's `ifVersion`) and is decided by the state machine when the
 * entry applies, on the version the key has then, never by a read before the write.
 *
 * What each route honours:
 * - `PUT /v1/kv/:key`: `If-Match: "<version>"` (compare-and-set), `If-Match: *` (only if
 *   the key exists), `If-None-Match: *` (only if it does not);
 * - `DELETE /v1/kv/:key`: `If-Match: "<version>"` (compare-and-delete), `If-Match: *`;
 * - `GET /v1/kv/:key`: `If-None-Match` with `*` or a list of ETags, weak or strong: 304
 *   Not Modified when the key exists and matches.
 * Every other conditional header, on any route, is refused with 400: a precondition the
 * server ignored would be a blind write, or a read that answers another question.
 * Versions are log positions, not times, so `If-Modified-Since` and `If-Unmodified-Since`
 * cannot be decided; `If-Range` has no ranges to qualify.
 */
import type { FastifyRequest } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { Version } from '../../store/index.js';

/** The conditional request headers of RFC 9110, as Node names them. */
export const conditionalHeaders = [
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
] as const;

/** One conditional request header. */
export type ConditionalHeader = (typeof conditionalHeaders)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The conditional headers the route decides; any other present is refused with 400. */
    readonly honours?: readonly ConditionalHeader[];
  }
}

/** The most ETags one `If-None-Match` may list. */
export const ifNoneMatchTagsMax = 64;

/** The header's name as a reader knows it: `If-None-Match`. */
function titled(header: ConditionalHeader): string {
  return header.replace(
    /(^|-)([a-z])/g,
    (_all, dash: string, letter: string) => dash + letter.toUpperCase(),
  );
}

/**
 * Refuses, with TANDEM_BAD_REQUEST naming it, a conditional header that the request's route
 * does not honour (see the route's `config.honours`). Runs before the handler, so that a
 * follower refuses it before it would forward the request.
 */
export function refuseUnhonouredConditions(request: FastifyRequest): void {
  if (request.is404) return;
  const honoured: readonly ConditionalHeader[] = request.routeOptions.config.honours ?? [];
  for (const header of conditionalHeaders) {
    if (request.headers[header] === undefined || honoured.includes(header)) continue;
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const hint =
      header === 'if-modified-since' || header === 'if-unmodified-since'
        ? '; versions are log positions, not times: use If-Match or If-None-Match with the ETag'
        : '';
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `${route} does not honour ${titled(header)}` +
        (honoured.length === 0 ? '' : ` (it honours ${honoured.map(titled).join(', ')})`) +
        hint,
    );
  }
}

/** An entity tag of ours, `"<index>.<term>"` (quotes optional), weak (`W/`) or not. */
const entityTag = /^(W\/)?"?(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})"?$/;

function parseTag(text: string): { weak: boolean; version: Version } | null {
  const match = entityTag.exec(text.trim());
  if (match === null) return null;
  const version = { index: Number(match[2]), term: Number(match[3]) };
  if (!Number.isSafeInteger(version.index) || !Number.isSafeInteger(version.term)) return null;
  return { weak: match[1] !== undefined, version };
}

/** What an `If-Match` header asks: the key at one version, or the key at all (`*`). */
export type IfMatch = { readonly version: Version } | { readonly exists: true };

/**
 * Parses `If-Match`: `*` or one strong ETag as a GET or PUT gave it. A weak ETag never
 * matches under If-Match's strong comparison and a list has no single version to compare
 * at apply, so both are refused rather than answered 412 for a reason the user cannot see.
 */
export function parseIfMatch(header: string | undefined): IfMatch | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return { exists: true };
  const tag = parseTag(header);
  if (tag === null || tag.weak) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `If-Match must be one version "<index>.<term>" (as an ETag gives it) or *, got ${header}`,
    );
  }
  return { version: tag.version };
}

/** What an `If-None-Match` header lists: any version (`*`), or these versions. */
export type IfNoneMatch = '*' | readonly Version[];

/** Parses `If-None-Match`: `*`, or a comma-separated list of ETags, weak or strong. */
export function parseIfNoneMatch(header: string | undefined): IfNoneMatch | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  const members = header.split(',');
  const tags = members.length > ifNoneMatchTagsMax ? [] : members.map(parseTag);
  if (tags.length === 0 || tags.some((tag) => tag === null)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `If-None-Match must be * or up to ${ifNoneMatchTagsMax} versions "<index>.<term>" ` +
        `separated by commas, got ${header}`,
    );
  }
  return tags.map((tag) => (tag as { version: Version }).version);
}

/**
 * Whether `version` matches one of `ifNoneMatch` by weak comparison (RFC 9110 section
 * 13.1.2), which makes the If-None-Match condition false.
 */
export function matchesAny(ifNoneMatch: IfNoneMatch, version: Version): boolean {
  if (ifNoneMatch === '*') return true;
  return ifNoneMatch.some((tag) => tag.index === version.index && tag.term === version.term);
}

/** The SET fields a PUT's preconditions become. */
export type PutCondition =
  { readonly ifVersion: Version } | { readonly condition: 'nx' | 'xx' } | Record<string, never>;

/**
 * The precondition of a PUT: `If-Match` (a version, or `*` for XX) or `If-None-Match: *`
 * (NX). `If-None-Match` with ETags (write unless the key is at one of them) and both
 * headers together are refused: neither is a condition the SET command can carry.
 */
export function putCondition(headers: Record<string, unknown>): PutCondition {
  const ifMatch = parseIfMatch(headerText(headers, 'if-match'));
  const ifNoneMatch = parseIfNoneMatch(headerText(headers, 'if-none-match'));
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'a PUT takes If-Match or If-None-Match, not both');
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch !== '*') {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        'If-None-Match on a PUT must be * (create only); to replace one version use If-Match',
      );
    }
    return { condition: 'nx' };
  }
  if (ifMatch === undefined) return {};
  return 'version' in ifMatch ? { ifVersion: ifMatch.version } : { condition: 'xx' };
}

/** A header's one value, or undefined; a repeated header arrives joined by Node. */
export function headerText(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}
