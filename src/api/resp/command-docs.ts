/**
 * What COMMAND INFO and COMMAND DOCS say of each command Tandem has: Redis 7.0's flags
 * (`write`, `readonly`, `denyoom`, `fast`, `blocking`, `pubsub`, `loading`, `stale`,
 * `noscript`, `admin`, ...) and its summary, the version that added it, its group and its
 * complexity and its arguments, as redis-server 7.0 answers them (the fields of the
 * arguments that redis-cli reads for its help and hints: name, type, token, flags and
 * nested arguments); `parent|sub` names a subcommand. CLIENT
 * SETINFO and NO-TOUCH are Redis 7.2's; Tandem's own commands (`tandem.*`) have Tandem's
 * words. Arity and key positions are not here: they are the dispatch table's (spec.ts).
 */
import { assert } from '../../core/assert.js';

/** One command's flags and documentation. */
export interface CommandDoc {
  /** COMMAND INFO's flags, in Redis's order. */
  readonly flags: readonly string[];
  readonly group: string;
  readonly since: string;
  /** Empty when Redis gives none. */
  readonly complexity: string;
  readonly summary: string;
  readonly arguments: readonly CommandArgument[];
}

/** An argument of a command, as COMMAND DOCS describes it. */
export interface CommandArgument {
  readonly name: string;
  readonly type: ArgumentType;
  /** The word that comes before it (`EX seconds`), or the word itself for a pure token. */
  readonly token?: string;
  /** `optional`, `multiple`, `multiple_token`, in Redis's order. */
  readonly flags: readonly string[];
  /** A oneof's choices, or a block's parts. */
  readonly arguments?: readonly CommandArgument[];
}

/** Redis's argument types. */
export type ArgumentType =
  | 'key'
  | 'string'
  | 'integer'
  | 'double'
  | 'pattern'
  | 'unix-time'
  | 'pure-token'
  | 'oneof'
  | 'block';

/** The one-letter codes of the table's argument syntax. */
const argumentTypes: Readonly<Record<string, ArgumentType>> = {
  k: 'key',
  s: 'string',
  i: 'integer',
  d: 'double',
  p: 'pattern',
  u: 'unix-time',
  t: 'pure-token',
  o: 'oneof',
  b: 'block',
};

/**
 * One line a command: `name ~ flags ~ group ~ since ~ complexity ~ summary [~ arguments]`,
 * the flags separated by spaces (`\x20` is a space Redis's text ends with). Each argument
 * is `[?][*][+]<type>.<name>[=TOKEN][(arguments)]`, separated by spaces: `?` optional, `*`
 * multiple, `+` multiple_token, the type by its code (`argumentTypes`), a oneof's choices
 * or a block's parts in parentheses. Redis's first, then Redis 7.2's and Tandem's own.
 */
const rows = `
acl ~  ~ server ~ 6.0.0 ~ Depends on subcommand. ~ A container for Access List Control commands\x20
acl|cat ~ noscript loading stale ~ server ~ 6.0.0 ~ O(1) since the categories and commands are a fixed set. ~ List the ACL categories or the commands inside a category ~ ?s.categoryname
acl|deluser ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(1) amortized time considering the typical user. ~ Remove the specified ACL users and the associated rules ~ *s.username
acl|genpass ~ noscript loading stale ~ server ~ 6.0.0 ~ O(1) ~ Generate a pseudorandom secure password to use for ACL users ~ ?i.bits
acl|getuser ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of password, command and pattern rules that the user has. ~ Get the rules for a specific ACL user ~ s.username
acl|help ~ loading stale ~ server ~ 6.0.0 ~ O(1) ~ Show helpful text about the different subcommands
acl|list ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ List the current ACL rules in ACL config file format
acl|load ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ Reload the ACLs from the configured ACL file
acl|log ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N) with N being the number of entries shown. ~ List latest events denied because of ACLs in place ~ ?o.operation(i.count t.reset=RESET)
acl|save ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ Save the current ACL rules in the configured ACL file
acl|setuser ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of rules provided. ~ Modify or create the rules for a specific ACL user ~ s.username ?*s.rule
acl|users ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ List the username of all the configured ACL rules
acl|whoami ~ noscript loading stale ~ server ~ 6.0.0 ~ O(1) ~ Return the name of the user associated to the current connection
append ~ write denyoom fast ~ string ~ 2.0.0 ~ O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation. ~ Append a value to a key ~ k.key s.value
auth ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 1.0.0 ~ O(N) where N is the number of passwords defined for the user ~ Authenticate to the server ~ ?s.username s.password
bitcount ~ readonly ~ bitmap ~ 2.6.0 ~ O(N) ~ Count set bits in a string ~ k.key ?b.index(i.start i.end ?o.index_unit(t.byte=BYTE t.bit=BIT))
bitfield ~ write denyoom ~ bitmap ~ 3.2.0 ~ O(1) for each subcommand specified ~ Perform arbitrary bitfield integer operations on strings ~ k.key ?*o.operation(b.encoding_offset=GET(s.encoding i.offset) b.write(?o.wrap_sat_fail=OVERFLOW(t.wrap=WRAP t.sat=SAT t.fail=FAIL) o.write_operation(b.encoding_offset_value=SET(s.encoding i.offset i.value) b.encoding_offset_increment=INCRBY(s.encoding i.offset i.increment))))
bitfield_ro ~ readonly fast ~ bitmap ~ 6.0.0 ~ O(1) for each subcommand specified ~ Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD ~ k.key ?*+b.encoding_offset=GET(s.encoding i.offset)
bitop ~ write denyoom ~ bitmap ~ 2.6.0 ~ O(N) ~ Perform bitwise operations between strings ~ s.operation k.destkey *k.key
bitpos ~ readonly ~ bitmap ~ 2.8.7 ~ O(N) ~ Find first bit set or clear in a string ~ k.key i.bit ?b.index(i.start ?b.end_index(i.end ?o.index_unit(t.byte=BYTE t.bit=BIT)))
blmove ~ write denyoom noscript blocking ~ list ~ 6.2.0 ~ O(1) ~ Pop an element from a list, push it to another list and return it; or block until one is available ~ k.source k.destination o.wherefrom(t.left=LEFT t.right=RIGHT) o.whereto(t.left=LEFT t.right=RIGHT) d.timeout
blmpop ~ write blocking movablekeys ~ list ~ 7.0.0 ~ O(N+M) where N is the number of provided keys and M is the number of elements returned. ~ Pop elements from a list, or block until one is available ~ d.timeout i.numkeys *k.key o.where(t.left=LEFT t.right=RIGHT) ?i.count=COUNT
blpop ~ write noscript blocking ~ list ~ 2.0.0 ~ O(N) where N is the number of provided keys. ~ Remove and get the first element in a list, or block until one is available ~ *k.key d.timeout
brpop ~ write noscript blocking ~ list ~ 2.0.0 ~ O(N) where N is the number of provided keys. ~ Remove and get the last element in a list, or block until one is available ~ *k.key d.timeout
brpoplpush ~ write denyoom noscript blocking ~ list ~ 2.2.0 ~ O(1) ~ Pop an element from a list, push it to another list and return it; or block until one is available ~ k.source k.destination d.timeout
bzmpop ~ write blocking movablekeys ~ sorted-set ~ 7.0.0 ~ O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with scores in a sorted set or block until one is available ~ d.timeout i.numkeys *k.key o.where(t.min=MIN t.max=MAX) ?i.count=COUNT
bzpopmax ~ write noscript blocking fast ~ sorted-set ~ 5.0.0 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Remove and return the member with the highest score from one or more sorted sets, or block until one is available ~ *k.key d.timeout
bzpopmin ~ write noscript blocking fast ~ sorted-set ~ 5.0.0 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Remove and return the member with the lowest score from one or more sorted sets, or block until one is available ~ *k.key d.timeout
client ~  ~ connection ~ 2.4.0 ~ Depends on subcommand. ~ A container for client connection commands
client|getname ~ noscript loading stale ~ connection ~ 2.6.9 ~ O(1) ~ Get the current connection name
client|id ~ noscript loading stale ~ connection ~ 5.0.0 ~ O(1) ~ Returns the client ID for the current connection
client|info ~ noscript loading stale ~ connection ~ 6.2.0 ~ O(1) ~ Returns information about the current client connection.
client|kill ~ admin noscript loading stale ~ connection ~ 2.4.0 ~ O(N) where N is the number of client connections ~ Kill the connection of a client ~ o.filter(s.ip:port *o.new-format(?i.client-id=ID ?o.normal_master_slave_pubsub=TYPE(t.normal=NORMAL t.master=MASTER t.slave=SLAVE t.replica=REPLICA t.pubsub=PUBSUB) ?s.username=USER ?s.ip:port=ADDR ?s.ip:port=LADDR ?s.yes/no=SKIPME))
client|list ~ admin noscript loading stale ~ connection ~ 2.4.0 ~ O(N) where N is the number of client connections ~ Get the list of client connections ~ ?o.normal_master_replica_pubsub=TYPE(t.normal=NORMAL t.master=MASTER t.replica=REPLICA t.pubsub=PUBSUB) ?b.id=ID(*i.client-id)
client|no-evict ~ admin noscript loading stale ~ connection ~ 7.0.0 ~ O(1) ~ Set client eviction mode for the current connection ~ o.enabled(t.on=ON t.off=OFF)
client|setname ~ noscript loading stale ~ connection ~ 2.6.9 ~ O(1) ~ Set the current connection name ~ s.connection-name
client|unblock ~ admin noscript loading stale ~ connection ~ 5.0.0 ~ O(log N) where N is the number of client connections ~ Unblock a client blocked in a blocking command from a different connection ~ i.client-id ?o.timeout_error(t.timeout=TIMEOUT t.error=ERROR)
command ~ loading stale ~ server ~ 2.8.13 ~ O(N) where N is the total number of Redis commands ~ Get array of Redis command details
config ~  ~ server ~ 2.0.0 ~ Depends on subcommand. ~ A container for server configuration commands
config|get ~ admin noscript loading stale ~ server ~ 2.0.0 ~ O(N) when N is the number of configuration parameters provided ~ Get the values of configuration parameters ~ *b.parameter(s.parameter)
config|resetstat ~ admin noscript loading stale ~ server ~ 2.0.0 ~ O(1) ~ Reset the stats returned by INFO
config|set ~ admin noscript loading stale ~ server ~ 2.0.0 ~ O(N) when N is the number of configuration parameters provided ~ Set configuration parameters to the given values ~ *b.parameter_value(s.parameter s.value)
copy ~ write denyoom ~ generic ~ 6.2.0 ~ O(N) worst case for collections, where N is the number of nested items. O(1) for string values. ~ Copy a key ~ k.source k.destination ?i.destination-db=DB ?t.replace=REPLACE
dbsize ~ readonly fast ~ server ~ 1.0.0 ~ O(1) ~ Return the number of keys in the selected database
decr ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Decrement the integer value of a key by one ~ k.key
decrby ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Decrement the integer value of a key by the given number ~ k.key i.decrement
del ~ write ~ generic ~ 1.0.0 ~ O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1). ~ Delete a key ~ *k.key
discard ~ noscript loading stale fast allow_busy ~ transactions ~ 2.0.0 ~ O(N), when N is the number of queued commands ~ Discard all commands issued after MULTI
echo ~ loading stale fast ~ connection ~ 1.0.0 ~ O(1) ~ Echo the given string ~ s.message
exec ~ noscript loading stale skip_slowlog ~ transactions ~ 1.2.0 ~ Depends on commands in the transaction ~ Execute all commands issued after MULTI
exists ~ readonly fast ~ generic ~ 1.0.0 ~ O(N) where N is the number of keys to check. ~ Determine if a key exists ~ *k.key
expire ~ write fast ~ generic ~ 1.0.0 ~ O(1) ~ Set a key's time to live in seconds ~ k.key i.seconds ?o.condition(t.nx=NX t.xx=XX t.gt=GT t.lt=LT)
expireat ~ write fast ~ generic ~ 1.2.0 ~ O(1) ~ Set the expiration for a key as a UNIX timestamp ~ k.key u.unix-time-seconds ?o.condition(t.nx=NX t.xx=XX t.gt=GT t.lt=LT)
expiretime ~ readonly fast ~ generic ~ 7.0.0 ~ O(1) ~ Get the expiration Unix timestamp for a key ~ k.key
flushall ~ write ~ server ~ 1.0.0 ~ O(N) where N is the total number of keys in all databases ~ Remove all keys from all databases ~ ?o.async(t.async=ASYNC t.sync=SYNC)
flushdb ~ write ~ server ~ 1.0.0 ~ O(N) where N is the number of keys in the selected database ~ Remove all keys from the current database ~ ?o.async(t.async=ASYNC t.sync=SYNC)
get ~ readonly fast ~ string ~ 1.0.0 ~ O(1) ~ Get the value of a key ~ k.key
getbit ~ readonly fast ~ bitmap ~ 2.2.0 ~ O(1) ~ Returns the bit value at offset in the string value stored at key ~ k.key i.offset
getdel ~ write fast ~ string ~ 6.2.0 ~ O(1) ~ Get the value of a key and delete the key ~ k.key
getex ~ write fast ~ string ~ 6.2.0 ~ O(1) ~ Get the value of a key and optionally set its expiration ~ k.key ?o.expiration(i.seconds=EX i.milliseconds=PX u.unix-time-seconds=EXAT u.unix-time-milliseconds=PXAT t.persist=PERSIST)
getrange ~ readonly ~ string ~ 2.4.0 ~ O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings. ~ Get a substring of the string stored at a key ~ k.key i.start i.end
getset ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Set the string value of a key and return its old value ~ k.key s.value
hdel ~ write fast ~ hash ~ 2.0.0 ~ O(N) where N is the number of fields to be removed. ~ Delete one or more hash fields ~ k.key *s.field
hello ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 6.0.0 ~ O(1) ~ Handshake with Redis ~ ?b.arguments(i.protover ?b.username_password=AUTH(s.username s.password) ?s.clientname=SETNAME)
hexists ~ readonly fast ~ hash ~ 2.0.0 ~ O(1) ~ Determine if a hash field exists ~ k.key s.field
hget ~ readonly fast ~ hash ~ 2.0.0 ~ O(1) ~ Get the value of a hash field ~ k.key s.field
hgetall ~ readonly ~ hash ~ 2.0.0 ~ O(N) where N is the size of the hash. ~ Get all the fields and values in a hash ~ k.key
hincrby ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(1) ~ Increment the integer value of a hash field by the given number ~ k.key s.field i.increment
hincrbyfloat ~ write denyoom fast ~ hash ~ 2.6.0 ~ O(1) ~ Increment the float value of a hash field by the given amount ~ k.key s.field d.increment
hkeys ~ readonly ~ hash ~ 2.0.0 ~ O(N) where N is the size of the hash. ~ Get all the fields in a hash ~ k.key
hlen ~ readonly fast ~ hash ~ 2.0.0 ~ O(1) ~ Get the number of fields in a hash ~ k.key
hmget ~ readonly fast ~ hash ~ 2.0.0 ~ O(N) where N is the number of fields being requested. ~ Get the values of all the given hash fields ~ k.key *s.field
hmset ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(N) where N is the number of fields being set. ~ Set multiple hash fields to multiple values ~ k.key *b.field_value(s.field s.value)
hrandfield ~ readonly ~ hash ~ 6.2.0 ~ O(N) where N is the number of fields returned ~ Get one or multiple random fields from a hash ~ k.key ?b.options(i.count ?t.withvalues=WITHVALUES)
hscan ~ readonly ~ hash ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.. ~ Incrementally iterate hash fields and associated values ~ k.key i.cursor ?p.pattern=MATCH ?i.count=COUNT
hset ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs. ~ Set the string value of a hash field ~ k.key *b.field_value(s.field s.value)
hsetnx ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(1) ~ Set the value of a hash field, only if the field does not exist ~ k.key s.field s.value
hstrlen ~ readonly fast ~ hash ~ 3.2.0 ~ O(1) ~ Get the length of the value of a hash field ~ k.key s.field
hvals ~ readonly ~ hash ~ 2.0.0 ~ O(N) where N is the size of the hash. ~ Get all the values in a hash ~ k.key
incr ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Increment the integer value of a key by one ~ k.key
incrby ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Increment the integer value of a key by the given amount ~ k.key i.increment
incrbyfloat ~ write denyoom fast ~ string ~ 2.6.0 ~ O(1) ~ Increment the float value of a key by the given amount ~ k.key d.increment
info ~ loading stale ~ server ~ 1.0.0 ~ O(1) ~ Get information and statistics about the server ~ ?*s.section
keys ~ readonly ~ generic ~ 1.0.0 ~ O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length. ~ Find all keys matching the given pattern ~ p.pattern
lcs ~ readonly ~ string ~ 7.0.0 ~ O(N*M) where N and M are the lengths of s1 and s2, respectively ~ Find longest common substring ~ k.key1 k.key2 ?t.len=LEN ?t.idx=IDX ?i.len=MINMATCHLEN ?t.withmatchlen=WITHMATCHLEN
lindex ~ readonly ~ list ~ 1.0.0 ~ O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1). ~ Get an element from a list by its index ~ k.key i.index
linsert ~ write denyoom ~ list ~ 2.2.0 ~ O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N). ~ Insert an element before or after another element in a list ~ k.key o.where(t.before=BEFORE t.after=AFTER) s.pivot s.element
llen ~ readonly fast ~ list ~ 1.0.0 ~ O(1) ~ Get the length of a list ~ k.key
lmove ~ write denyoom ~ list ~ 6.2.0 ~ O(1) ~ Pop an element from a list, push it to another list and return it ~ k.source k.destination o.wherefrom(t.left=LEFT t.right=RIGHT) o.whereto(t.left=LEFT t.right=RIGHT)
lmpop ~ write movablekeys ~ list ~ 7.0.0 ~ O(N+M) where N is the number of provided keys and M is the number of elements returned. ~ Pop elements from a list ~ i.numkeys *k.key o.where(t.left=LEFT t.right=RIGHT) ?i.count=COUNT
lpop ~ write fast ~ list ~ 1.0.0 ~ O(N) where N is the number of elements returned ~ Remove and get the first elements in a list ~ k.key ?i.count
lpos ~ readonly ~ list ~ 6.0.6 ~ O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time. ~ Return the index of matching elements on a list ~ k.key s.element ?i.rank=RANK ?i.num-matches=COUNT ?i.len=MAXLEN
lpush ~ write denyoom fast ~ list ~ 1.0.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Prepend one or multiple elements to a list ~ k.key *s.element
lpushx ~ write denyoom fast ~ list ~ 2.2.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Prepend an element to a list, only if the list exists ~ k.key *s.element
lrange ~ readonly ~ list ~ 1.0.0 ~ O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range. ~ Get a range of elements from a list ~ k.key i.start i.stop
lrem ~ write ~ list ~ 1.0.0 ~ O(N+M) where N is the length of the list and M is the number of elements removed. ~ Remove elements from a list ~ k.key i.count s.element
lset ~ write denyoom ~ list ~ 1.0.0 ~ O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1). ~ Set the value of an element in a list by its index ~ k.key i.index s.element
ltrim ~ write ~ list ~ 1.0.0 ~ O(N) where N is the number of elements to be removed by the operation. ~ Trim a list to the specified range ~ k.key i.start i.stop
mget ~ readonly fast ~ string ~ 1.0.0 ~ O(N) where N is the number of keys to retrieve. ~ Get the values of all the given keys ~ *k.key
move ~ write fast ~ generic ~ 1.0.0 ~ O(1) ~ Move a key to another database ~ k.key i.db
mset ~ write denyoom ~ string ~ 1.0.1 ~ O(N) where N is the number of keys to set. ~ Set multiple keys to multiple values ~ *b.key_value(k.key s.value)
msetnx ~ write denyoom ~ string ~ 1.0.1 ~ O(N) where N is the number of keys to set. ~ Set multiple keys to multiple values, only if none of the keys exist ~ *b.key_value(k.key s.value)
multi ~ noscript loading stale fast allow_busy ~ transactions ~ 1.2.0 ~ O(1) ~ Mark the start of a transaction block
object ~  ~ generic ~ 2.2.3 ~ Depends on subcommand. ~ A container for object introspection commands
object|encoding ~ readonly ~ generic ~ 2.2.3 ~ O(1) ~ Inspect the internal encoding of a Redis object ~ k.key
object|help ~ loading stale ~ generic ~ 6.2.0 ~ O(1) ~ Show helpful text about the different subcommands
persist ~ write fast ~ generic ~ 2.2.0 ~ O(1) ~ Remove the expiration from a key ~ k.key
pexpire ~ write fast ~ generic ~ 2.6.0 ~ O(1) ~ Set a key's time to live in milliseconds ~ k.key i.milliseconds ?o.condition(t.nx=NX t.xx=XX t.gt=GT t.lt=LT)
pexpireat ~ write fast ~ generic ~ 2.6.0 ~ O(1) ~ Set the expiration for a key as a UNIX timestamp specified in milliseconds ~ k.key u.unix-time-milliseconds ?o.condition(t.nx=NX t.xx=XX t.gt=GT t.lt=LT)
pexpiretime ~ readonly fast ~ generic ~ 7.0.0 ~ O(1) ~ Get the expiration Unix timestamp for a key in milliseconds ~ k.key
ping ~ fast ~ connection ~ 1.0.0 ~ O(1) ~ Ping the server ~ ?s.message
psetex ~ write denyoom ~ string ~ 2.6.0 ~ O(1) ~ Set the value and expiration in milliseconds of a key ~ k.key i.milliseconds s.value
psubscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N) where N is the number of patterns the client is already subscribed to. ~ Listen for messages published to channels matching the given patterns ~ *b.pattern(p.pattern)
pttl ~ readonly fast ~ generic ~ 2.6.0 ~ O(1) ~ Get the time to live for a key in milliseconds ~ k.key
publish ~ pubsub loading stale fast ~ pubsub ~ 2.0.0 ~ O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client). ~ Post a message to a channel ~ s.channel s.message
pubsub ~  ~ pubsub ~ 2.8.0 ~ Depends on subcommand. ~ A container for Pub/Sub commands
pubsub|channels ~ pubsub loading stale ~ pubsub ~ 2.8.0 ~ O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns) ~ List active channels ~ ?p.pattern
pubsub|help ~ loading stale ~ pubsub ~ 6.2.0 ~ O(1) ~ Show helpful text about the different subcommands
pubsub|numpat ~ pubsub loading stale ~ pubsub ~ 2.8.0 ~ O(1) ~ Get the count of unique patterns pattern subscriptions
pubsub|numsub ~ pubsub loading stale ~ pubsub ~ 2.8.0 ~ O(N) for the NUMSUB subcommand, where N is the number of requested channels ~ Get the count of subscribers for channels ~ ?*s.channel
punsubscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client). ~ Stop listening for messages posted to channels matching the given patterns ~ ?*p.pattern
quit ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 1.0.0 ~ O(1) ~ Close the connection
randomkey ~ readonly ~ generic ~ 1.0.0 ~ O(1) ~ Return a random key from the keyspace
readonly ~ loading stale fast ~ cluster ~ 3.0.0 ~ O(1) ~ Enables read queries for a connection to a cluster replica node
readwrite ~ loading stale fast ~ cluster ~ 3.0.0 ~ O(1) ~ Disables read queries for a connection to a cluster replica node
rename ~ write ~ generic ~ 1.0.0 ~ O(1) ~ Rename a key ~ k.key k.newkey
renamenx ~ write fast ~ generic ~ 1.0.0 ~ O(1) ~ Rename a key, only if the new key does not exist ~ k.key k.newkey
reset ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 6.2.0 ~ O(1) ~ Reset the connection
role ~ noscript loading stale fast ~ server ~ 2.8.12 ~ O(1) ~ Return the role of the instance in the context of replication
rpop ~ write fast ~ list ~ 1.0.0 ~ O(N) where N is the number of elements returned ~ Remove and get the last elements in a list ~ k.key ?i.count
rpoplpush ~ write denyoom ~ list ~ 1.2.0 ~ O(1) ~ Remove the last element in a list, prepend it to another list and return it ~ k.source k.destination
rpush ~ write denyoom fast ~ list ~ 1.0.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Append one or multiple elements to a list ~ k.key *s.element
rpushx ~ write denyoom fast ~ list ~ 2.2.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Append an element to a list, only if the list exists ~ k.key *s.element
sadd ~ write denyoom fast ~ set ~ 1.0.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Add one or more members to a set ~ k.key *s.member
scan ~ readonly ~ generic ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection. ~ Incrementally iterate the keys space ~ i.cursor ?p.pattern=MATCH ?i.count=COUNT ?s.type=TYPE
scard ~ readonly fast ~ set ~ 1.0.0 ~ O(1) ~ Get the number of members in a set ~ k.key
sdiff ~ readonly ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Subtract multiple sets ~ *k.key
sdiffstore ~ write denyoom ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Subtract multiple sets and store the resulting set in a key ~ k.destination *k.key
select ~ loading stale fast ~ connection ~ 1.0.0 ~ O(1) ~ Change the selected database for the current connection ~ i.index
set ~ write denyoom ~ string ~ 1.0.0 ~ O(1) ~ Set the string value of a key ~ k.key s.value ?o.condition(t.nx=NX t.xx=XX) ?t.get=GET ?o.expiration(i.seconds=EX i.milliseconds=PX u.unix-time-seconds=EXAT u.unix-time-milliseconds=PXAT t.keepttl=KEEPTTL)
setbit ~ write denyoom ~ bitmap ~ 2.2.0 ~ O(1) ~ Sets or clears the bit at offset in the string value stored at key ~ k.key i.offset i.value
setex ~ write denyoom ~ string ~ 2.0.0 ~ O(1) ~ Set the value and expiration of a key ~ k.key i.seconds s.value
setnx ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Set the value of a key, only if the key does not exist ~ k.key s.value
setrange ~ write denyoom ~ string ~ 2.2.0 ~ O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument. ~ Overwrite part of a string at key starting at the specified offset ~ k.key i.offset s.value
sinter ~ readonly ~ set ~ 1.0.0 ~ O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets. ~ Intersect multiple sets ~ *k.key
sintercard ~ readonly movablekeys ~ set ~ 7.0.0 ~ O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets. ~ Intersect multiple sets and return the cardinality of the result ~ i.numkeys *k.key ?i.limit=LIMIT
sinterstore ~ write denyoom ~ set ~ 1.0.0 ~ O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets. ~ Intersect multiple sets and store the resulting set in a key ~ k.destination *k.key
sismember ~ readonly fast ~ set ~ 1.0.0 ~ O(1) ~ Determine if a given value is a member of a set ~ k.key s.member
smembers ~ readonly ~ set ~ 1.0.0 ~ O(N) where N is the set cardinality. ~ Get all the members in a set ~ k.key
smismember ~ readonly fast ~ set ~ 6.2.0 ~ O(N) where N is the number of elements being checked for membership ~ Returns the membership associated with the given elements for a set ~ k.key *s.member
smove ~ write fast ~ set ~ 1.0.0 ~ O(1) ~ Move a member from one set to another ~ k.source k.destination s.member
spop ~ write fast ~ set ~ 1.0.0 ~ Without the count argument O(1), otherwise O(N) where N is the value of the passed count. ~ Remove and return one or multiple random members from a set ~ k.key ?i.count
srandmember ~ readonly ~ set ~ 1.0.0 ~ Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count. ~ Get one or multiple random members from a set ~ k.key ?i.count
srem ~ write fast ~ set ~ 1.0.0 ~ O(N) where N is the number of members to be removed. ~ Remove one or more members from a set ~ k.key *s.member
sscan ~ readonly ~ set ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.. ~ Incrementally iterate Set elements ~ k.key i.cursor ?p.pattern=MATCH ?i.count=COUNT
strlen ~ readonly fast ~ string ~ 2.2.0 ~ O(1) ~ Get the length of the value stored in a key ~ k.key
subscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N) where N is the number of channels to subscribe to. ~ Listen for messages published to the given channels ~ *s.channel
substr ~ readonly ~ string ~ 1.0.0 ~ O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings. ~ Get a substring of the string stored at a key ~ k.key i.start i.end
sunion ~ readonly ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Add multiple sets ~ *k.key
sunionstore ~ write denyoom ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Add multiple sets and store the resulting set in a key ~ k.destination *k.key
swapdb ~ write fast ~ server ~ 4.0.0 ~ O(N) where N is the count of clients watching or blocking on keys from both databases. ~ Swaps two Redis databases ~ i.index1 i.index2
time ~ loading stale fast ~ server ~ 2.6.0 ~ O(1) ~ Return the current server time
touch ~ readonly fast ~ generic ~ 3.2.1 ~ O(N) where N is the number of keys that will be touched. ~ Alters the last access time of a key(s). Returns the number of existing keys specified. ~ *k.key
ttl ~ readonly fast ~ generic ~ 1.0.0 ~ O(1) ~ Get the time to live for a key in seconds ~ k.key
type ~ readonly fast ~ generic ~ 1.0.0 ~ O(1) ~ Determine the type stored at key ~ k.key
unlink ~ write fast ~ generic ~ 4.0.0 ~ O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of. ~ Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking. ~ *k.key
unsubscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N) where N is the number of clients already subscribed to a channel. ~ Stop listening for messages posted to the given channels ~ ?*s.channel
unwatch ~ noscript loading stale fast allow_busy ~ transactions ~ 2.2.0 ~ O(1) ~ Forget about all watched keys
wait ~ noscript ~ generic ~ 3.0.0 ~ O(1) ~ Wait for the synchronous replication of all the write commands sent in the context of the current connection ~ i.numreplicas i.timeout
watch ~ noscript loading stale fast allow_busy ~ transactions ~ 2.2.0 ~ O(1) for every key. ~ Watch the given keys to determine execution of the MULTI/EXEC block ~ *k.key
zadd ~ write denyoom fast ~ sorted-set ~ 1.2.0 ~ O(log(N)) for each item added, where N is the number of elements in the sorted set. ~ Add one or more members to a sorted set, or update its score if it already exists ~ k.key ?o.condition(t.nx=NX t.xx=XX) ?o.comparison(t.gt=GT t.lt=LT) ?t.change=CH ?t.increment=INCR *b.score_member(d.score s.member)
zcard ~ readonly fast ~ sorted-set ~ 1.2.0 ~ O(1) ~ Get the number of members in a sorted set ~ k.key
zcount ~ readonly fast ~ sorted-set ~ 2.0.0 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Count the members in a sorted set with scores within the given values ~ k.key d.min d.max
zdiff ~ readonly movablekeys ~ sorted-set ~ 6.2.0 ~ O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set. ~ Subtract multiple sorted sets ~ i.numkeys *k.key ?t.withscores=WITHSCORES
zdiffstore ~ write denyoom movablekeys ~ sorted-set ~ 6.2.0 ~ O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set. ~ Subtract multiple sorted sets and store the resulting sorted set in a new key ~ k.destination i.numkeys *k.key
zincrby ~ write denyoom fast ~ sorted-set ~ 1.2.0 ~ O(log(N)) where N is the number of elements in the sorted set. ~ Increment the score of a member in a sorted set ~ k.key i.increment s.member
zinter ~ readonly movablekeys ~ sorted-set ~ 6.2.0 ~ O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set. ~ Intersect multiple sorted sets ~ i.numkeys *k.key ?*i.weight=WEIGHTS ?o.aggregate=AGGREGATE(t.sum=SUM t.min=MIN t.max=MAX) ?t.withscores=WITHSCORES
zinterstore ~ write denyoom movablekeys ~ sorted-set ~ 2.0.0 ~ O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set. ~ Intersect multiple sorted sets and store the resulting sorted set in a new key ~ k.destination i.numkeys *k.key ?*i.weight=WEIGHTS ?o.aggregate=AGGREGATE(t.sum=SUM t.min=MIN t.max=MAX)
zlexcount ~ readonly fast ~ sorted-set ~ 2.8.9 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Count the number of members in a sorted set between a given lexicographical range ~ k.key s.min s.max
zmpop ~ write movablekeys ~ sorted-set ~ 7.0.0 ~ O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with scores in a sorted set ~ i.numkeys *k.key o.where(t.min=MIN t.max=MAX) ?i.count=COUNT
zmscore ~ readonly fast ~ sorted-set ~ 6.2.0 ~ O(N) where N is the number of members being requested. ~ Get the score associated with the given members in a sorted set ~ k.key *s.member
zpopmax ~ write fast ~ sorted-set ~ 5.0.0 ~ O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with the highest scores in a sorted set ~ k.key ?i.count
zpopmin ~ write fast ~ sorted-set ~ 5.0.0 ~ O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with the lowest scores in a sorted set ~ k.key ?i.count
zrandmember ~ readonly ~ sorted-set ~ 6.2.0 ~ O(N) where N is the number of elements returned ~ Get one or multiple random elements from a sorted set ~ k.key ?b.options(i.count ?t.withscores=WITHSCORES)
zrange ~ readonly ~ sorted-set ~ 1.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned. ~ Return a range of members in a sorted set ~ k.key s.start s.stop ?o.sortby(t.byscore=BYSCORE t.bylex=BYLEX) ?t.rev=REV ?b.offset_count=LIMIT(i.offset i.count) ?t.withscores=WITHSCORES
zrangebylex ~ readonly ~ sorted-set ~ 2.8.9 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by lexicographical range ~ k.key s.min s.max ?b.offset_count=LIMIT(i.offset i.count)
zrangebyscore ~ readonly ~ sorted-set ~ 1.0.5 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by score ~ k.key d.min d.max ?t.withscores=WITHSCORES ?b.offset_count=LIMIT(i.offset i.count)
zrangestore ~ write denyoom ~ sorted-set ~ 6.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key. ~ Store a range of members from sorted set into another key ~ k.dst k.src s.min s.max ?o.sortby(t.byscore=BYSCORE t.bylex=BYLEX) ?t.rev=REV ?b.offset_count=LIMIT(i.offset i.count)
zrank ~ readonly fast ~ sorted-set ~ 2.0.0 ~ O(log(N)) ~ Determine the index of a member in a sorted set ~ k.key s.member
zrem ~ write fast ~ sorted-set ~ 1.2.0 ~ O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed. ~ Remove one or more members from a sorted set ~ k.key *s.member
zremrangebylex ~ write ~ sorted-set ~ 2.8.9 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation. ~ Remove all members in a sorted set between the given lexicographical range ~ k.key s.min s.max
zremrangebyrank ~ write ~ sorted-set ~ 2.0.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation. ~ Remove all members in a sorted set within the given indexes ~ k.key i.start i.stop
zremrangebyscore ~ write ~ sorted-set ~ 1.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation. ~ Remove all members in a sorted set within the given scores ~ k.key d.min d.max
zrevrange ~ readonly ~ sorted-set ~ 1.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned. ~ Return a range of members in a sorted set, by index, with scores ordered from high to low ~ k.key i.start i.stop ?t.withscores=WITHSCORES
zrevrangebylex ~ readonly ~ sorted-set ~ 2.8.9 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings. ~ k.key s.max s.min ?b.offset_count=LIMIT(i.offset i.count)
zrevrangebyscore ~ readonly ~ sorted-set ~ 2.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by score, with scores ordered from high to low ~ k.key d.max d.min ?t.withscores=WITHSCORES ?b.offset_count=LIMIT(i.offset i.count)
zrevrank ~ readonly fast ~ sorted-set ~ 2.0.0 ~ O(log(N)) ~ Determine the index of a member in a sorted set, with scores ordered from high to low ~ k.key s.member
zscan ~ readonly ~ sorted-set ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.. ~ Incrementally iterate sorted sets elements and associated scores ~ k.key i.cursor ?p.pattern=MATCH ?i.count=COUNT
zscore ~ readonly fast ~ sorted-set ~ 1.2.0 ~ O(1) ~ Get the score associated with the given member in a sorted set ~ k.key s.member
zunion ~ readonly movablekeys ~ sorted-set ~ 6.2.0 ~ O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set. ~ Add multiple sorted sets ~ i.numkeys *k.key ?*i.weight=WEIGHTS ?o.aggregate=AGGREGATE(t.sum=SUM t.min=MIN t.max=MAX) ?t.withscores=WITHSCORES
zunionstore ~ write denyoom movablekeys ~ sorted-set ~ 2.0.0 ~ O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set. ~ Add multiple sorted sets and store the resulting sorted set in a new key ~ k.destination i.numkeys *k.key ?*i.weight=WEIGHTS ?o.aggregate=AGGREGATE(t.sum=SUM t.min=MIN t.max=MAX)
client|no-touch ~ noscript loading stale ~ connection ~ 7.2.0 ~ O(1) ~ Controls whether commands sent by the client affect the LRU/LFU of accessed keys ~ o.enabled(t.on=ON t.off=OFF)
client|setinfo ~ noscript loading stale ~ connection ~ 7.2.0 ~ O(1) ~ Sets information specific to the client or connection. ~ o.attr(s.libname=LIB-NAME s.libver=LIB-VER)
tandem.conflicts ~ readonly loading stale ~ server ~ 0.1.0 ~ O(N) where N is the count ~ Returns the latest writes of a linked cluster that lost to a concurrent write ~ ?i.count
tandem.consistency ~ loading stale fast ~ connection ~ 0.1.0 ~ O(1) ~ Sets the connection's read consistency ~ o.level(t.stale=STALE t.bounded=BOUNDED t.ryw=RYW t.linearizable=LINEARIZABLE)
tandem.exec ~ noscript skip_slowlog ~ transactions ~ 0.1.0 ~ Depends on the commands in the transaction. ~ Runs a follower's whole transaction on the leader ~ s.transaction
tandem.forward ~ admin noscript ~ server ~ 0.1.0 ~ Depends on the command. ~ Runs a follower's write as this connection's user (the older form) ~ s.command ?*s.arg
tandem.forwardas ~ noscript no_auth ~ server ~ 0.1.0 ~ Depends on the command. ~ Runs a follower's command as the user it names, once its password authenticates ~ s.username s.password s.command ?*s.arg
tandem.forwardin ~ noscript no_auth ~ server ~ 0.1.0 ~ Depends on the command. ~ Runs a follower's command in a database other than 0 as the user it names, once its password authenticates ~ i.db s.username s.password s.command ?*s.arg
tandem.link ~ noscript loading stale fast no_auth ~ connection ~ 0.1.0 ~ O(1) ~ Proves that a follower's forwarding link belongs to a node of the cluster ~ s.proof
tandem.promote ~ admin noscript ~ server ~ 0.1.0 ~ O(1) ~ Hands leadership to a member ~ s.id
tandem.status ~ loading stale fast ~ server ~ 0.1.0 ~ O(N) where N is the number of members ~ Returns this node's role, term, log indexes and the cluster's members
tandem.version ~ readonly fast ~ generic ~ 0.1.0 ~ O(1) ~ Returns the log index and term of the last write of a key ~ k.key
tandem.wait ~ noscript ~ server ~ 0.1.0 ~ O(1) ~ Waits until followers hold a log index (the leader's side of a follower's WAIT) ~ i.index i.numreplicas i.timeout
`;

/** Reads arguments from `text` at `at` up to a `)` or the end; `at.i` ends past them. */
function parseArguments(text: string, at: { i: number }): CommandArgument[] {
  const parsed: CommandArgument[] = [];
  while (at.i < text.length && text[at.i] !== ')') {
    if (text[at.i] === ' ') {
      at.i++;
      continue;
    }
    const flags: string[] = [];
    for (const [mark, flag] of [
      ['?', 'optional'],
      ['*', 'multiple'],
      ['+', 'multiple_token'],
    ]) {
      if (text[at.i] === mark) {
        flags.push(flag);
        at.i++;
      }
    }
    const type = argumentTypes[text[at.i]];
    assert(type !== undefined && text[at.i + 1] === '.', `an argument type at ${at.i}: ${text}`);
    const word = /^[^ =()]+/.exec(text.slice(at.i + 2))?.[0] ?? '';
    at.i += 2 + word.length;
    let token: string | undefined;
    if (text[at.i] === '=') {
      token = /^[^ ()]*/.exec(text.slice(at.i + 1))?.[0] ?? '';
      at.i += 1 + token.length;
    }
    let nested: CommandArgument[] | undefined;
    if (text[at.i] === '(') {
      at.i++;
      nested = parseArguments(text, at);
      assert(text[at.i] === ')', `a closing parenthesis at ${at.i}: ${text}`);
      at.i++;
    }
    parsed.push({
      name: word,
      type,
      ...(token === undefined ? {} : { token }),
      flags,
      ...(nested === undefined ? {} : { arguments: nested }),
    });
  }
  return parsed;
}

function parse(text: string): Record<string, CommandDoc> {
  const docs: Record<string, CommandDoc> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ~ ');
    assert(fields.length === 6 || fields.length === 7, `a command doc row's fields: ${line}`);
    const [name, flags, group, since, complexity, summary, syntax] = fields;
    const at = { i: 0 };
    const parsedArguments = parseArguments(syntax ?? '', at);
    assert(at.i === (syntax ?? '').length, `arguments parsed to their end: ${line}`);
    docs[name] = {
      flags: flags === '' ? [] : flags.split(' '),
      group,
      since,
      complexity,
      summary,
      arguments: parsedArguments,
    };
  }
  return docs;
}

/** Every command and subcommand Tandem has, by its lower-case name. */
export const commandDocs: Readonly<Record<string, CommandDoc>> = parse(rows);
