/**
 * JSON schemas of every route: fastify validates requests against them (a mismatch is a
 * 400 TANDEM_BAD_REQUEST naming the field) and @fastify/swagger turns them into the
 * OpenAPI document. Limits come from the command codec so that the HTTP layer refuses
 * early exactly what the leader would refuse later.
 *
 * Type coercion is off for the whole server (a JSON `"value": 1` is an error, not the
 * string "1"), so query-string numbers are declared as digit strings and parsed by the
 * handlers.
 */
import { passwordBytesMax } from '../../access/passwords.js';
import { durabilityOrder } from '../../core/types.js';
import {
  accessRoles,
  keyPatternCharsMax,
  tokenIdPattern,
  userKeyPatternsMax,
} from '../../store/access-state.js';
import {
  isSqlValue,
  sqlBytesMax,
  sqlParamsMax,
  sqlStatementsMax,
  valueBytesMax,
} from '../../store/commands.js';
import { errorBodySchema } from './errors.js';

/** The longest TTL a PUT may ask for: ten years, far below where `at + ttlMs` loses precision. */
export const ttlMsMax = 10 * 365 * 24 * 60 * 60 * 1000;

/** A log index or lag in a query string: decimal digits, no sign, no leading zeros. */
export const indexPattern = '^(0|[1-9][0-9]{0,15})$';
const indexText = { type: 'string', pattern: indexPattern } as const;
const index = { type: 'integer', minimum: 0 } as const;
const consistency = {
  type: 'string',
  enum: ['stale', 'bounded', 'ryw', 'linearizable'],
  description:
    'Default: linearizable on the leader, ryw on a follower. ryw without after is linearizable.',
} as const;
const ack = {
  type: 'string',
  enum: durabilityOrder,
  description: 'Durability for this write; it may ask for more than the cluster mode, never less.',
} as const;
const version = {
  type: 'object',
  required: ['index', 'term'],
  properties: { index, term: index },
} as const;
const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
/** A read's level in a JSON body (`/v1/query`, `/v1/command`), as `ReadQuery` has it. */
const readLevel = { consistency, after: index, afterTerm: index, maxLag: index } as const;
const keyParams = {
  type: 'object',
  required: ['key'],
  properties: {
    key: {
      type: 'string',
      minLength: 1,
      description: 'Any bytes, percent-encoded (caf%E9, %FF%00); at most 512 bytes.',
    },
  },
} as const;
/**
 * The keyword that checks a SQL parameter value. ajv's types know no bigint, and a JSON
 * integer outside the safe range reaches validation as one (json.ts), so a value is checked
 * by the codec's own rule. The `x-` prefix keeps the OpenAPI document valid.
 */
export const sqlValueKeyword = 'x-sql-value';

/** What `addSqlValueKeyword` needs of ajv (which is fastify's, not a dependency of ours). */
interface KeywordHost {
  addKeyword(definition: {
    keyword: string;
    schemaType: 'boolean';
    validate: (enabled: boolean, data: unknown) => boolean;
  }): unknown;
}

/** Adds `sqlValueKeyword` to fastify's ajv (an ajv plugin). */
export function addSqlValueKeyword<T extends KeywordHost>(ajv: T): T {
  ajv.addKeyword({
    keyword: sqlValueKeyword,
    schemaType: 'boolean',
    validate: (_enabled: boolean, data: unknown) => isSqlValue(data),
  });
  return ajv;
}

const sqlValue = {
  [sqlValueKeyword]: true,
  description:
    'A string, a number, a boolean or null. Integers are exact from -2^63 to 2^63-1, in parameters and in results.',
} as const;
const sqlParams = {
  description: 'Positional (an array) or named (a map, names without their prefix).',
  anyOf: [
    { type: 'array', maxItems: sqlParamsMax, items: sqlValue },
    { type: 'object', additionalProperties: sqlValue },
  ],
} as const;
const sqlText = { type: 'string', minLength: 1, maxLength: sqlBytesMax } as const;
const statement = {
  type: 'object',
  additionalProperties: false,
  required: ['sql'],
  properties: { sql: sqlText, params: sqlParams },
} as const;
const anyObject = { type: 'object', additionalProperties: true } as const;

/** A key in an answer: text when its bytes are UTF-8, else base64 (exactly one of the two). */
const keyFields = {
  key: { type: 'string', description: 'The key, when it is UTF-8 text.' },
  keyBase64: { type: 'string', description: 'The key in base64, when it is not UTF-8.' },
} as const;
const ttlMs = { type: 'integer', minimum: 1, maximum: ttlMsMax } as const;

/** PUT /v1/kv/:key */
export const putKeySchema = {
  summary: 'Set a key (compare-and-set with If-Match, create-only with If-None-Match: *)',
  description:
    'The value is the JSON `value` (its UTF-8 bytes) or `valueBase64` (any bytes), or the whole body with Content-Type application/octet-stream (then `ttlMs` goes in the query).',
  tags: ['kv'],
  params: keyParams,
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ack,
      ttlMs: {
        type: 'string',
        pattern: indexPattern,
        description: 'With an application/octet-stream body: the time to live in ms.',
      },
    },
  },
  headers: {
    type: 'object',
    properties: {
      'if-match': {
        type: 'string',
        description: 'Write only if the key is at this version ("<index>.<term>"), or exists (*).',
      },
      'if-none-match': { type: 'string', description: 'Only *: write only if the key is absent.' },
    },
  },
  body: {
    content: {
      'application/json': {
        schema: {
          type: 'object',
          additionalProperties: false,
          properties: {
            value: { type: 'string', description: 'The value as text: its UTF-8 bytes.' },
            valueBase64: {
              type: 'string',
              pattern: '^[A-Za-z0-9+/]*={0,2}$',
              maxLength: Math.ceil(valueBytesMax / 3) * 4,
              description: 'The value as base64: any bytes.',
            },
            ttlMs,
          },
          oneOf: [{ required: ['value'] }, { required: ['valueBase64'] }],
        },
      },
      'application/octet-stream': {
        schema: { description: "The value: the body's bytes as they are." },
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { ...keyFields, version, index, term: index },
    },
    ...errors,
  },
} as const;

/** GET /v1/kv/:key */
export const getKeySchema = {
  summary: 'Read a key at a consistency level (304 when If-None-Match names its version)',
  tags: ['kv'],
  params: keyParams,
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      consistency,
      after: { ...indexText, description: 'For ryw: the index your last write returned.' },
      afterTerm: {
        ...indexText,
        description:
          'For ryw: the term your last write returned; the node then also waits until its log holds that very write.',
      },
      maxLag: { ...indexText, description: 'For bounded: the most entries this node may trail.' },
    },
  },
  headers: {
    type: 'object',
    properties: {
      accept: {
        type: 'string',
        description:
          'application/octet-stream answers the raw bytes (version in ETag, expiry in X-Tandem-Expires-At).',
      },
      'if-none-match': {
        type: 'string',
        description: '* or ETags: answer 304 Not Modified if the key exists at one of them.',
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        ...keyFields,
        value: { type: 'string', description: 'The value, when it is UTF-8 text.' },
        valueBase64: { type: 'string', description: 'The value in base64, when it is not UTF-8.' },
        version,
        expiresAt: { type: ['integer', 'null'], description: 'Absolute ms, or null.' },
      },
    },
    ...errors,
  },
} as const;

/** DELETE /v1/kv/:key */
export const deleteKeySchema = {
  summary: 'Delete a key (compare-and-delete with If-Match)',
  tags: ['kv'],
  params: keyParams,
  headers: {
    type: 'object',
    properties: {
      'if-match': {
        type: 'string',
        description: 'Delete only if the key is at this version ("<index>.<term>"), or exists (*).',
      },
    },
  },
  querystring: { type: 'object', additionalProperties: false, properties: { ack } },
  response: {
    200: { type: 'object', properties: { deleted: { type: 'integer' }, index, term: index } },
    ...errors,
  },
} as const;

/** POST /v1/sql */
export const sqlSchema = {
  summary: 'Execute SQL statements atomically through the log',
  description: 'Either { statements: [{ sql, params? }] } or, for one statement, { sql, params? }.',
  tags: ['sql'],
  querystring: { type: 'object', additionalProperties: false, properties: { ack } },
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      statements: { type: 'array', minItems: 1, maxItems: sqlStatementsMax, items: statement },
      sql: sqlText,
      params: sqlParams,
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        index,
        term: index,
        results: {
          type: 'array',
          description: 'Per statement: { changes, lastInsertRowid } or { rows }.',
          items: anyObject,
        },
      },
    },
    ...errors,
  },
} as const;

/** POST /v1/query */
export const querySchema = {
  summary: 'Run a read-only query at a consistency level',
  tags: ['sql'],
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['sql'],
    properties: {
      sql: sqlText,
      params: sqlParams,
      ...readLevel,
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { rows: { type: 'array', items: anyObject }, appliedIndex: index },
    },
    ...errors,
  },
} as const;

/**
 * What a node id may look like: short, and free of the separators of `--peers`
 * (`id=host:port,...`) and of URL syntax, since ids travel in both.
 */
export const nodeIdPattern = '^[A-Za-z0-9_.-]{1,64}$';
const nodeId = { type: 'string', pattern: nodeIdPattern } as const;

/** GET /v1/cluster */
export const clusterSchema = {
  summary: "This node's status and its view of the members",
  tags: ['cluster'],
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      view: {
        type: 'string',
        enum: ['local', 'leader'],
        description: "leader: the leader's status, forwarded from a follower (default local)",
      },
    },
  },
  response: { 200: { ...anyObject, description: 'A NodeStatus.' }, ...errors },
} as const;

/** POST /v1/cluster/promote */
export const promoteSchema = {
  summary: 'Transfer leadership to a member',
  tags: ['cluster'],
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: { id: nodeId },
  },
  response: { 200: { type: 'object', properties: { leaderId: { type: 'string' } } }, ...errors },
} as const;

const membership = {
  type: 'object',
  properties: {
    voters: { type: 'array', items: { type: 'string' } },
    learners: { type: 'array', items: { type: 'string' } },
    topology: { type: 'string', enum: ['chain'], description: 'absent for star' },
  },
} as const;

/** POST /v1/cluster/topology */
export const topologySchema = {
  summary: 'Switch how the log reaches the members (through the log: every node agrees)',
  tags: ['cluster'],
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['topology'],
    properties: {
      topology: {
        type: 'string',
        enum: ['star', 'chain'],
        description:
          'star: the leader sends to every member; chain: to the head, each passing it on',
      },
    },
  },
  response: {
    200: { type: 'object', properties: { topology: { type: 'string' }, membership } },
    ...errors,
  },
} as const;

/** POST /v1/cluster/members */
export const addMemberSchema = {
  summary: 'Add a member (as a learner first; a voter once caught up unless learner is true)',
  tags: ['cluster'],
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'address'],
    properties: {
      id: nodeId,
      address: { type: 'string', minLength: 3, maxLength: 300, description: 'host:port (peers)' },
      learner: { type: 'boolean' },
      upstream: {
        ...nodeId,
        description: 'with learner: the member it receives the log from, instead of the leader',
      },
    },
  },
  response: { 200: { type: 'object', properties: { membership } }, ...errors },
} as const;

/** DELETE /v1/cluster/members/:id */
export const removeMemberSchema = {
  summary: 'Remove a member',
  tags: ['cluster'],
  params: { type: 'object', required: ['id'], properties: { id: nodeId } },
  response: { 200: { type: 'object', properties: { membership } }, ...errors },
} as const;

/** GET /healthz, GET /readyz */
export const probeSchema = {
  tags: ['operations'],
  // Open to everyone: no credentials needed.
  security: [],
  response: {
    200: { type: 'object', properties: { status: { type: 'string' }, id: { type: 'string' } } },
    ...errors,
  },
} as const;

/** The longest a token may live: a year; shorter ones and rotation are the better habit. */
export const tokenTtlSecondsMax = 365 * 24 * 60 * 60;

const roleList = {
  type: 'array',
  minItems: 1,
  maxItems: accessRoles.length,
  uniqueItems: true,
  items: { type: 'string', enum: accessRoles },
  description: 'read, write, admin: each includes the weaker ones.',
} as const;
const keyPatterns = {
  type: 'array',
  maxItems: userKeyPatternsMax,
  items: { type: 'string', minLength: 1, maxLength: keyPatternCharsMax },
  description: 'Redis globs of the keys the user may name (default ["*"]); [] for none.',
} as const;
/** A user as the API shows it: never its passwords or their hashes. */
const publicUser = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    keys: { type: 'array', items: { type: 'string' } },
    enabled: { type: 'boolean' },
    nopass: { type: 'boolean' },
  },
} as const;
const userParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;
const tokenInfo = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    user: { type: 'string' },
    createdAt: { type: 'integer', description: 'ms since the epoch' },
    expiresAt: { type: 'integer', description: 'ms since the epoch' },
  },
} as const;

/** GET /v1/auth/users */
export const listUsersSchema = {
  summary: 'The users: names, roles, key patterns, enabled (never passwords)',
  tags: ['auth'],
  response: {
    200: { type: 'object', properties: { users: { type: 'array', items: publicUser } } },
    ...errors,
  },
} as const;

/** GET /v1/auth/users/:name */
export const getUserSchema = {
  summary: 'One user (never its passwords)',
  tags: ['auth'],
  params: userParams,
  response: { 200: publicUser, ...errors },
} as const;

/** PUT /v1/auth/users/:name */
export const putUserSchema = {
  summary: 'Create or replace a user',
  description:
    'Replaces the user whole. Without `password` an existing user keeps its passwords and a new one has none (it can use tokens only). The password is hashed by the leader; only the hash is replicated.',
  tags: ['auth'],
  params: userParams,
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['roles'],
    properties: {
      password: { type: 'string', minLength: 1, maxLength: passwordBytesMax },
      roles: roleList,
      keys: keyPatterns,
      enabled: { type: 'boolean', description: 'Default true.' },
    },
  },
  response: {
    200: { type: 'object', properties: { user: publicUser, index } },
    ...errors,
  },
} as const;

/** DELETE /v1/auth/users/:name */
export const deleteUserSchema = {
  summary: 'Delete a user and its tokens',
  tags: ['auth'],
  params: userParams,
  response: {
    200: { type: 'object', properties: { deleted: { type: 'integer' }, index } },
    ...errors,
  },
} as const;

/** POST /v1/auth/tokens */
export const createTokenSchema = {
  summary: 'Make a bearer token (shown once; only its hash is replicated)',
  tags: ['auth'],
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['ttlSeconds'],
    properties: {
      user: { type: 'string', minLength: 1, maxLength: 128, description: 'Default: the caller.' },
      ttlSeconds: { type: 'integer', minimum: 1, maximum: tokenTtlSecondsMax },
    },
  },
  response: {
    201: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        token: { type: 'string', description: 'Send as Authorization: Bearer <token>.' },
        user: { type: 'string' },
        expiresAt: { type: 'integer', description: 'ms since the epoch' },
      },
    },
    ...errors,
  },
} as const;

/** GET /v1/auth/tokens */
export const listTokensSchema = {
  summary: 'The live tokens: ids, users, expiry (never the tokens or their hashes)',
  tags: ['auth'],
  response: {
    200: { type: 'object', properties: { tokens: { type: 'array', items: tokenInfo } } },
    ...errors,
  },
} as const;

/** DELETE /v1/auth/tokens/:id */
export const revokeTokenSchema = {
  summary: 'Revoke a token',
  tags: ['auth'],
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: tokenIdPattern.source } },
  },
  response: {
    200: { type: 'object', properties: { revoked: { type: 'integer' }, index } },
    ...errors,
  },
} as const;

/** GET /v1/auth/whoami */
export const whoamiSchema = {
  summary: 'Who the credentials are: user, roles, key patterns, and how they authenticated',
  tags: ['auth'],
  response: {
    200: {
      type: 'object',
      properties: {
        user: { type: 'string' },
        roles: { type: 'array', items: { type: 'string' } },
        keys: { type: 'array', items: { type: 'string' } },
        via: { type: 'string', enum: ['open', 'password', 'token'] },
        tokenId: { type: 'string' },
      },
    },
    ...errors,
  },
} as const;

/** The most arguments one `POST /v1/command` may carry, as a RESP request (Redis's limit). */
export const commandArgsMax = 1024 * 1024;

/** POST /v1/command */
export const commandSchema = {
  summary: 'Run one Redis command (any the RESP port serves but those of a connection)',
  tags: ['kv'],
  querystring: { type: 'object', additionalProperties: false, properties: { ack } },
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['args'],
    properties: {
      args: {
        type: 'array',
        minItems: 1,
        maxItems: commandArgsMax,
        description: 'The command and its arguments: text, or { base64 } for other bytes.',
        items: {
          anyOf: [
            { type: 'string' },
            {
              type: 'object',
              additionalProperties: false,
              required: ['base64'],
              properties: { base64: { type: 'string' } },
            },
          ],
        },
      },
      readOnly: {
        type: 'boolean',
        description: 'Refuse a write: a read, served by this node at the level asked.',
      },
      ...readLevel,
    },
  },
  response: {
    200: {
      type: 'object',
      description:
        "The reply as JSON (text, or { base64 } for other bytes; a map as an object), and a write's log position.",
      properties: { reply: {}, index, term: index },
    },
    ...errors,
  },
} as const;
