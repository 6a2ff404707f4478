/**
 * What COMMAND INFO and COMMAND DOCS say of each command Tandem has: Redis 7.0's flags
 * (`write`, `readonly`, `denyoom`, `fast`, `blocking`, `pubsub`, `loading`, `stale`,
 * `noscript`, `admin`, ...) and its summary, the version that added it, its group and its
 * complexity, as redis-server 7.0 answers them; `parent|sub` names a subcommand. CLIENT
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
}

/**
 * One line a command: `name ~ flags ~ group ~ since ~ complexity ~ summary`, the flags
 * separated by spaces (`\x20` is a space Redis's text ends with). Redis's first, then
 * Redis 7.2's and Tandem's own.
 */
const rows = `
acl ~  ~ server ~ 6.0.0 ~ Depends on subcommand. ~ A container for Access List Control commands\x20
acl|cat ~ noscript loading stale ~ server ~ 6.0.0 ~ O(1) since the categories and commands are a fixed set. ~ List the ACL categories or the commands inside a category
acl|deluser ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(1) amortized time considering the typical user. ~ Remove the specified ACL users and the associated rules
acl|genpass ~ noscript loading stale ~ server ~ 6.0.0 ~ O(1) ~ Generate a pseudorandom secure password to use for ACL users
acl|getuser ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of password, command and pattern rules that the user has. ~ Get the rules for a specific ACL user
acl|help ~ loading stale ~ server ~ 6.0.0 ~ O(1) ~ Show helpful text about the different subcommands
acl|list ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ List the current ACL rules in ACL config file format
acl|load ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ Reload the ACLs from the configured ACL file
acl|log ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N) with N being the number of entries shown. ~ List latest events denied because of ACLs in place
acl|save ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ Save the current ACL rules in the configured ACL file
acl|setuser ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of rules provided. ~ Modify or create the rules for a specific ACL user
acl|users ~ admin noscript loading stale ~ server ~ 6.0.0 ~ O(N). Where N is the number of configured users. ~ List the username of all the configured ACL rules
acl|whoami ~ noscript loading stale ~ server ~ 6.0.0 ~ O(1) ~ Return the name of the user associated to the current connection
append ~ write denyoom fast ~ string ~ 2.0.0 ~ O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation. ~ Append a value to a key
auth ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 1.0.0 ~ O(N) where N is the number of passwords defined for the user ~ Authenticate to the server
bitcount ~ readonly ~ bitmap ~ 2.6.0 ~ O(N) ~ Count set bits in a string
bitfield ~ write denyoom ~ bitmap ~ 3.2.0 ~ O(1) for each subcommand specified ~ Perform arbitrary bitfield integer operations on strings
bitfield_ro ~ readonly fast ~ bitmap ~ 6.0.0 ~ O(1) for each subcommand specified ~ Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD
bitop ~ write denyoom ~ bitmap ~ 2.6.0 ~ O(N) ~ Perform bitwise operations between strings
bitpos ~ readonly ~ bitmap ~ 2.8.7 ~ O(N) ~ Find first bit set or clear in a string
blmove ~ write denyoom noscript blocking ~ list ~ 6.2.0 ~ O(1) ~ Pop an element from a list, push it to another list and return it; or block until one is available
blmpop ~ write blocking movablekeys ~ list ~ 7.0.0 ~ O(N+M) where N is the number of provided keys and M is the number of elements returned. ~ Pop elements from a list, or block until one is available
blpop ~ write noscript blocking ~ list ~ 2.0.0 ~ O(N) where N is the number of provided keys. ~ Remove and get the first element in a list, or block until one is available
brpop ~ write noscript blocking ~ list ~ 2.0.0 ~ O(N) where N is the number of provided keys. ~ Remove and get the last element in a list, or block until one is available
brpoplpush ~ write denyoom noscript blocking ~ list ~ 2.2.0 ~ O(1) ~ Pop an element from a list, push it to another list and return it; or block until one is available
bzmpop ~ write blocking movablekeys ~ sorted-set ~ 7.0.0 ~ O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with scores in a sorted set or block until one is available
bzpopmax ~ write noscript blocking fast ~ sorted-set ~ 5.0.0 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Remove and return the member with the highest score from one or more sorted sets, or block until one is available
bzpopmin ~ write noscript blocking fast ~ sorted-set ~ 5.0.0 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Remove and return the member with the lowest score from one or more sorted sets, or block until one is available
client ~  ~ connection ~ 2.4.0 ~ Depends on subcommand. ~ A container for client connection commands
client|getname ~ noscript loading stale ~ connection ~ 2.6.9 ~ O(1) ~ Get the current connection name
client|id ~ noscript loading stale ~ connection ~ 5.0.0 ~ O(1) ~ Returns the client ID for the current connection
client|info ~ noscript loading stale ~ connection ~ 6.2.0 ~ O(1) ~ Returns information about the current client connection.
client|kill ~ admin noscript loading stale ~ connection ~ 2.4.0 ~ O(N) where N is the number of client connections ~ Kill the connection of a client
client|list ~ admin noscript loading stale ~ connection ~ 2.4.0 ~ O(N) where N is the number of client connections ~ Get the list of client connections
client|no-evict ~ admin noscript loading stale ~ connection ~ 7.0.0 ~ O(1) ~ Set client eviction mode for the current connection
client|setname ~ noscript loading stale ~ connection ~ 2.6.9 ~ O(1) ~ Set the current connection name
client|unblock ~ admin noscript loading stale ~ connection ~ 5.0.0 ~ O(log N) where N is the number of client connections ~ Unblock a client blocked in a blocking command from a different connection
command ~ loading stale ~ server ~ 2.8.13 ~ O(N) where N is the total number of Redis commands ~ Get array of Redis command details
config ~  ~ server ~ 2.0.0 ~ Depends on subcommand. ~ A container for server configuration commands
config|get ~ admin noscript loading stale ~ server ~ 2.0.0 ~ O(N) when N is the number of configuration parameters provided ~ Get the values of configuration parameters
config|resetstat ~ admin noscript loading stale ~ server ~ 2.0.0 ~ O(1) ~ Reset the stats returned by INFO
config|set ~ admin noscript loading stale ~ server ~ 2.0.0 ~ O(N) when N is the number of configuration parameters provided ~ Set configuration parameters to the given values
copy ~ write denyoom ~ generic ~ 6.2.0 ~ O(N) worst case for collections, where N is the number of nested items. O(1) for string values. ~ Copy a key
dbsize ~ readonly fast ~ server ~ 1.0.0 ~ O(1) ~ Return the number of keys in the selected database
decr ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Decrement the integer value of a key by one
decrby ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Decrement the integer value of a key by the given number
del ~ write ~ generic ~ 1.0.0 ~ O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1). ~ Delete a key
discard ~ noscript loading stale fast allow_busy ~ transactions ~ 2.0.0 ~ O(N), when N is the number of queued commands ~ Discard all commands issued after MULTI
echo ~ loading stale fast ~ connection ~ 1.0.0 ~ O(1) ~ Echo the given string
exec ~ noscript loading stale skip_slowlog ~ transactions ~ 1.2.0 ~ Depends on commands in the transaction ~ Execute all commands issued after MULTI
exists ~ readonly fast ~ generic ~ 1.0.0 ~ O(N) where N is the number of keys to check. ~ Determine if a key exists
expire ~ write fast ~ generic ~ 1.0.0 ~ O(1) ~ Set a key's time to live in seconds
expireat ~ write fast ~ generic ~ 1.2.0 ~ O(1) ~ Set the expiration for a key as a UNIX timestamp
expiretime ~ readonly fast ~ generic ~ 7.0.0 ~ O(1) ~ Get the expiration Unix timestamp for a key
flushall ~ write ~ server ~ 1.0.0 ~ O(N) where N is the total number of keys in all databases ~ Remove all keys from all databases
flushdb ~ write ~ server ~ 1.0.0 ~ O(N) where N is the number of keys in the selected database ~ Remove all keys from the current database
get ~ readonly fast ~ string ~ 1.0.0 ~ O(1) ~ Get the value of a key
getbit ~ readonly fast ~ bitmap ~ 2.2.0 ~ O(1) ~ Returns the bit value at offset in the string value stored at key
getdel ~ write fast ~ string ~ 6.2.0 ~ O(1) ~ Get the value of a key and delete the key
getex ~ write fast ~ string ~ 6.2.0 ~ O(1) ~ Get the value of a key and optionally set its expiration
getrange ~ readonly ~ string ~ 2.4.0 ~ O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings. ~ Get a substring of the string stored at a key
getset ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Set the string value of a key and return its old value
hdel ~ write fast ~ hash ~ 2.0.0 ~ O(N) where N is the number of fields to be removed. ~ Delete one or more hash fields
hello ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 6.0.0 ~ O(1) ~ Handshake with Redis
hexists ~ readonly fast ~ hash ~ 2.0.0 ~ O(1) ~ Determine if a hash field exists
hget ~ readonly fast ~ hash ~ 2.0.0 ~ O(1) ~ Get the value of a hash field
hgetall ~ readonly ~ hash ~ 2.0.0 ~ O(N) where N is the size of the hash. ~ Get all the fields and values in a hash
hincrby ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(1) ~ Increment the integer value of a hash field by the given number
hincrbyfloat ~ write denyoom fast ~ hash ~ 2.6.0 ~ O(1) ~ Increment the float value of a hash field by the given amount
hkeys ~ readonly ~ hash ~ 2.0.0 ~ O(N) where N is the size of the hash. ~ Get all the fields in a hash
hlen ~ readonly fast ~ hash ~ 2.0.0 ~ O(1) ~ Get the number of fields in a hash
hmget ~ readonly fast ~ hash ~ 2.0.0 ~ O(N) where N is the number of fields being requested. ~ Get the values of all the given hash fields
hmset ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(N) where N is the number of fields being set. ~ Set multiple hash fields to multiple values
hrandfield ~ readonly ~ hash ~ 6.2.0 ~ O(N) where N is the number of fields returned ~ Get one or multiple random fields from a hash
hscan ~ readonly ~ hash ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.. ~ Incrementally iterate hash fields and associated values
hset ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs. ~ Set the string value of a hash field
hsetnx ~ write denyoom fast ~ hash ~ 2.0.0 ~ O(1) ~ Set the value of a hash field, only if the field does not exist
hstrlen ~ readonly fast ~ hash ~ 3.2.0 ~ O(1) ~ Get the length of the value of a hash field
hvals ~ readonly ~ hash ~ 2.0.0 ~ O(N) where N is the size of the hash. ~ Get all the values in a hash
incr ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Increment the integer value of a key by one
incrby ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Increment the integer value of a key by the given amount
incrbyfloat ~ write denyoom fast ~ string ~ 2.6.0 ~ O(1) ~ Increment the float value of a key by the given amount
info ~ loading stale ~ server ~ 1.0.0 ~ O(1) ~ Get information and statistics about the server
keys ~ readonly ~ generic ~ 1.0.0 ~ O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length. ~ Find all keys matching the given pattern
lcs ~ readonly ~ string ~ 7.0.0 ~ O(N*M) where N and M are the lengths of s1 and s2, respectively ~ Find longest common substring
lindex ~ readonly ~ list ~ 1.0.0 ~ O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1). ~ Get an element from a list by its index
linsert ~ write denyoom ~ list ~ 2.2.0 ~ O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N). ~ Insert an element before or after another element in a list
llen ~ readonly fast ~ list ~ 1.0.0 ~ O(1) ~ Get the length of a list
lmove ~ write denyoom ~ list ~ 6.2.0 ~ O(1) ~ Pop an element from a list, push it to another list and return it
lmpop ~ write movablekeys ~ list ~ 7.0.0 ~ O(N+M) where N is the number of provided keys and M is the number of elements returned. ~ Pop elements from a list
lpop ~ write fast ~ list ~ 1.0.0 ~ O(N) where N is the number of elements returned ~ Remove and get the first elements in a list
lpos ~ readonly ~ list ~ 6.0.6 ~ O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time. ~ Return the index of matching elements on a list
lpush ~ write denyoom fast ~ list ~ 1.0.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Prepend one or multiple elements to a list
lpushx ~ write denyoom fast ~ list ~ 2.2.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Prepend an element to a list, only if the list exists
lrange ~ readonly ~ list ~ 1.0.0 ~ O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range. ~ Get a range of elements from a list
lrem ~ write ~ list ~ 1.0.0 ~ O(N+M) where N is the length of the list and M is the number of elements removed. ~ Remove elements from a list
lset ~ write denyoom ~ list ~ 1.0.0 ~ O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1). ~ Set the value of an element in a list by its index
ltrim ~ write ~ list ~ 1.0.0 ~ O(N) where N is the number of elements to be removed by the operation. ~ Trim a list to the specified range
mget ~ readonly fast ~ string ~ 1.0.0 ~ O(N) where N is the number of keys to retrieve. ~ Get the values of all the given keys
mset ~ write denyoom ~ string ~ 1.0.1 ~ O(N) where N is the number of keys to set. ~ Set multiple keys to multiple values
msetnx ~ write denyoom ~ string ~ 1.0.1 ~ O(N) where N is the number of keys to set. ~ Set multiple keys to multiple values, only if none of the keys exist
multi ~ noscript loading stale fast allow_busy ~ transactions ~ 1.2.0 ~ O(1) ~ Mark the start of a transaction block
object ~  ~ generic ~ 2.2.3 ~ Depends on subcommand. ~ A container for object introspection commands
object|encoding ~ readonly ~ generic ~ 2.2.3 ~ O(1) ~ Inspect the internal encoding of a Redis object
object|help ~ loading stale ~ generic ~ 6.2.0 ~ O(1) ~ Show helpful text about the different subcommands
persist ~ write fast ~ generic ~ 2.2.0 ~ O(1) ~ Remove the expiration from a key
pexpire ~ write fast ~ generic ~ 2.6.0 ~ O(1) ~ Set a key's time to live in milliseconds
pexpireat ~ write fast ~ generic ~ 2.6.0 ~ O(1) ~ Set the expiration for a key as a UNIX timestamp specified in milliseconds
pexpiretime ~ readonly fast ~ generic ~ 7.0.0 ~ O(1) ~ Get the expiration Unix timestamp for a key in milliseconds
ping ~ fast ~ connection ~ 1.0.0 ~ O(1) ~ Ping the server
psetex ~ write denyoom ~ string ~ 2.6.0 ~ O(1) ~ Set the value and expiration in milliseconds of a key
psubscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N) where N is the number of patterns the client is already subscribed to. ~ Listen for messages published to channels matching the given patterns
pttl ~ readonly fast ~ generic ~ 2.6.0 ~ O(1) ~ Get the time to live for a key in milliseconds
publish ~ pubsub loading stale fast ~ pubsub ~ 2.0.0 ~ O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client). ~ Post a message to a channel
pubsub ~  ~ pubsub ~ 2.8.0 ~ Depends on subcommand. ~ A container for Pub/Sub commands
pubsub|channels ~ pubsub loading stale ~ pubsub ~ 2.8.0 ~ O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns) ~ List active channels
pubsub|help ~ loading stale ~ pubsub ~ 6.2.0 ~ O(1) ~ Show helpful text about the different subcommands
pubsub|numpat ~ pubsub loading stale ~ pubsub ~ 2.8.0 ~ O(1) ~ Get the count of unique patterns pattern subscriptions
pubsub|numsub ~ pubsub loading stale ~ pubsub ~ 2.8.0 ~ O(N) for the NUMSUB subcommand, where N is the number of requested channels ~ Get the count of subscribers for channels
punsubscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client). ~ Stop listening for messages posted to channels matching the given patterns
quit ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 1.0.0 ~ O(1) ~ Close the connection
randomkey ~ readonly ~ generic ~ 1.0.0 ~ O(1) ~ Return a random key from the keyspace
readonly ~ loading stale fast ~ cluster ~ 3.0.0 ~ O(1) ~ Enables read queries for a connection to a cluster replica node
readwrite ~ loading stale fast ~ cluster ~ 3.0.0 ~ O(1) ~ Disables read queries for a connection to a cluster replica node
rename ~ write ~ generic ~ 1.0.0 ~ O(1) ~ Rename a key
renamenx ~ write fast ~ generic ~ 1.0.0 ~ O(1) ~ Rename a key, only if the new key does not exist
reset ~ noscript loading stale fast no_auth allow_busy ~ connection ~ 6.2.0 ~ O(1) ~ Reset the connection
role ~ noscript loading stale fast ~ server ~ 2.8.12 ~ O(1) ~ Return the role of the instance in the context of replication
rpop ~ write fast ~ list ~ 1.0.0 ~ O(N) where N is the number of elements returned ~ Remove and get the last elements in a list
rpoplpush ~ write denyoom ~ list ~ 1.2.0 ~ O(1) ~ Remove the last element in a list, prepend it to another list and return it
rpush ~ write denyoom fast ~ list ~ 1.0.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Append one or multiple elements to a list
rpushx ~ write denyoom fast ~ list ~ 2.2.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Append an element to a list, only if the list exists
sadd ~ write denyoom fast ~ set ~ 1.0.0 ~ O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments. ~ Add one or more members to a set
scan ~ readonly ~ generic ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection. ~ Incrementally iterate the keys space
scard ~ readonly fast ~ set ~ 1.0.0 ~ O(1) ~ Get the number of members in a set
sdiff ~ readonly ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Subtract multiple sets
sdiffstore ~ write denyoom ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Subtract multiple sets and store the resulting set in a key
select ~ loading stale fast ~ connection ~ 1.0.0 ~ O(1) ~ Change the selected database for the current connection
set ~ write denyoom ~ string ~ 1.0.0 ~ O(1) ~ Set the string value of a key
setbit ~ write denyoom ~ bitmap ~ 2.2.0 ~ O(1) ~ Sets or clears the bit at offset in the string value stored at key
setex ~ write denyoom ~ string ~ 2.0.0 ~ O(1) ~ Set the value and expiration of a key
setnx ~ write denyoom fast ~ string ~ 1.0.0 ~ O(1) ~ Set the value of a key, only if the key does not exist
setrange ~ write denyoom ~ string ~ 2.2.0 ~ O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument. ~ Overwrite part of a string at key starting at the specified offset
sinter ~ readonly ~ set ~ 1.0.0 ~ O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets. ~ Intersect multiple sets
sintercard ~ readonly movablekeys ~ set ~ 7.0.0 ~ O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets. ~ Intersect multiple sets and return the cardinality of the result
sinterstore ~ write denyoom ~ set ~ 1.0.0 ~ O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets. ~ Intersect multiple sets and store the resulting set in a key
sismember ~ readonly fast ~ set ~ 1.0.0 ~ O(1) ~ Determine if a given value is a member of a set
smembers ~ readonly ~ set ~ 1.0.0 ~ O(N) where N is the set cardinality. ~ Get all the members in a set
smismember ~ readonly fast ~ set ~ 6.2.0 ~ O(N) where N is the number of elements being checked for membership ~ Returns the membership associated with the given elements for a set
smove ~ write fast ~ set ~ 1.0.0 ~ O(1) ~ Move a member from one set to another
spop ~ write fast ~ set ~ 1.0.0 ~ Without the count argument O(1), otherwise O(N) where N is the value of the passed count. ~ Remove and return one or multiple random members from a set
srandmember ~ readonly ~ set ~ 1.0.0 ~ Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count. ~ Get one or multiple random members from a set
srem ~ write fast ~ set ~ 1.0.0 ~ O(N) where N is the number of members to be removed. ~ Remove one or more members from a set
sscan ~ readonly ~ set ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.. ~ Incrementally iterate Set elements
strlen ~ readonly fast ~ string ~ 2.2.0 ~ O(1) ~ Get the length of the value stored in a key
subscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N) where N is the number of channels to subscribe to. ~ Listen for messages published to the given channels
substr ~ readonly ~ string ~ 1.0.0 ~ O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings. ~ Get a substring of the string stored at a key
sunion ~ readonly ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Add multiple sets
sunionstore ~ write denyoom ~ set ~ 1.0.0 ~ O(N) where N is the total number of elements in all given sets. ~ Add multiple sets and store the resulting set in a key
time ~ loading stale fast ~ server ~ 2.6.0 ~ O(1) ~ Return the current server time
touch ~ readonly fast ~ generic ~ 3.2.1 ~ O(N) where N is the number of keys that will be touched. ~ Alters the last access time of a key(s). Returns the number of existing keys specified.
ttl ~ readonly fast ~ generic ~ 1.0.0 ~ O(1) ~ Get the time to live for a key in seconds
type ~ readonly fast ~ generic ~ 1.0.0 ~ O(1) ~ Determine the type stored at key
unlink ~ write fast ~ generic ~ 4.0.0 ~ O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of. ~ Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.
unsubscribe ~ pubsub noscript loading stale ~ pubsub ~ 2.0.0 ~ O(N) where N is the number of clients already subscribed to a channel. ~ Stop listening for messages posted to the given channels
unwatch ~ noscript loading stale fast allow_busy ~ transactions ~ 2.2.0 ~ O(1) ~ Forget about all watched keys
wait ~ noscript ~ generic ~ 3.0.0 ~ O(1) ~ Wait for the synchronous replication of all the write commands sent in the context of the current connection
watch ~ noscript loading stale fast allow_busy ~ transactions ~ 2.2.0 ~ O(1) for every key. ~ Watch the given keys to determine execution of the MULTI/EXEC block
zadd ~ write denyoom fast ~ sorted-set ~ 1.2.0 ~ O(log(N)) for each item added, where N is the number of elements in the sorted set. ~ Add one or more members to a sorted set, or update its score if it already exists
zcard ~ readonly fast ~ sorted-set ~ 1.2.0 ~ O(1) ~ Get the number of members in a sorted set
zcount ~ readonly fast ~ sorted-set ~ 2.0.0 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Count the members in a sorted set with scores within the given values
zdiff ~ readonly movablekeys ~ sorted-set ~ 6.2.0 ~ O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set. ~ Subtract multiple sorted sets
zdiffstore ~ write denyoom movablekeys ~ sorted-set ~ 6.2.0 ~ O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set. ~ Subtract multiple sorted sets and store the resulting sorted set in a new key
zincrby ~ write denyoom fast ~ sorted-set ~ 1.2.0 ~ O(log(N)) where N is the number of elements in the sorted set. ~ Increment the score of a member in a sorted set
zinter ~ readonly movablekeys ~ sorted-set ~ 6.2.0 ~ O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set. ~ Intersect multiple sorted sets
zinterstore ~ write denyoom movablekeys ~ sorted-set ~ 2.0.0 ~ O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set. ~ Intersect multiple sorted sets and store the resulting sorted set in a new key
zlexcount ~ readonly fast ~ sorted-set ~ 2.8.9 ~ O(log(N)) with N being the number of elements in the sorted set. ~ Count the number of members in a sorted set between a given lexicographical range
zmpop ~ write movablekeys ~ sorted-set ~ 7.0.0 ~ O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with scores in a sorted set
zmscore ~ readonly fast ~ sorted-set ~ 6.2.0 ~ O(N) where N is the number of members being requested. ~ Get the score associated with the given members in a sorted set
zpopmax ~ write fast ~ sorted-set ~ 5.0.0 ~ O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with the highest scores in a sorted set
zpopmin ~ write fast ~ sorted-set ~ 5.0.0 ~ O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped. ~ Remove and return members with the lowest scores in a sorted set
zrandmember ~ readonly ~ sorted-set ~ 6.2.0 ~ O(N) where N is the number of elements returned ~ Get one or multiple random elements from a sorted set
zrange ~ readonly ~ sorted-set ~ 1.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned. ~ Return a range of members in a sorted set
zrangebylex ~ readonly ~ sorted-set ~ 2.8.9 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by lexicographical range
zrangebyscore ~ readonly ~ sorted-set ~ 1.0.5 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by score
zrangestore ~ write denyoom ~ sorted-set ~ 6.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key. ~ Store a range of members from sorted set into another key
zrank ~ readonly fast ~ sorted-set ~ 2.0.0 ~ O(log(N)) ~ Determine the index of a member in a sorted set
zrem ~ write fast ~ sorted-set ~ 1.2.0 ~ O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed. ~ Remove one or more members from a sorted set
zremrangebylex ~ write ~ sorted-set ~ 2.8.9 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation. ~ Remove all members in a sorted set between the given lexicographical range
zremrangebyrank ~ write ~ sorted-set ~ 2.0.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation. ~ Remove all members in a sorted set within the given indexes
zremrangebyscore ~ write ~ sorted-set ~ 1.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation. ~ Remove all members in a sorted set within the given scores
zrevrange ~ readonly ~ sorted-set ~ 1.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned. ~ Return a range of members in a sorted set, by index, with scores ordered from high to low
zrevrangebylex ~ readonly ~ sorted-set ~ 2.8.9 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.
zrevrangebyscore ~ readonly ~ sorted-set ~ 2.2.0 ~ O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)). ~ Return a range of members in a sorted set, by score, with scores ordered from high to low
zrevrank ~ readonly fast ~ sorted-set ~ 2.0.0 ~ O(log(N)) ~ Determine the index of a member in a sorted set, with scores ordered from high to low
zscan ~ readonly ~ sorted-set ~ 2.8.0 ~ O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.. ~ Incrementally iterate sorted sets elements and associated scores
zscore ~ readonly fast ~ sorted-set ~ 1.2.0 ~ O(1) ~ Get the score associated with the given member in a sorted set
zunion ~ readonly movablekeys ~ sorted-set ~ 6.2.0 ~ O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set. ~ Add multiple sorted sets
zunionstore ~ write denyoom movablekeys ~ sorted-set ~ 2.0.0 ~ O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set. ~ Add multiple sorted sets and store the resulting sorted set in a new key
client|no-touch ~ noscript loading stale ~ connection ~ 7.2.0 ~ O(1) ~ Controls whether commands sent by the client affect the LRU/LFU of accessed keys
client|setinfo ~ noscript loading stale ~ connection ~ 7.2.0 ~ O(1) ~ Sets information specific to the client or connection.
tandem.consistency ~ loading stale fast ~ connection ~ 0.1.0 ~ O(1) ~ Sets the connection's read consistency
tandem.exec ~ noscript skip_slowlog ~ transactions ~ 0.1.0 ~ Depends on the commands in the transaction. ~ Runs a follower's whole transaction on the leader
tandem.forward ~ admin noscript ~ server ~ 0.1.0 ~ Depends on the command. ~ Runs a follower's write as this connection's user (the older form)
tandem.forwardas ~ noscript no_auth ~ server ~ 0.1.0 ~ Depends on the command. ~ Runs a follower's command as the user it names, once its password authenticates
tandem.link ~ noscript loading stale fast no_auth ~ connection ~ 0.1.0 ~ O(1) ~ Proves that a follower's forwarding link belongs to a node of the cluster
tandem.promote ~ admin noscript ~ server ~ 0.1.0 ~ O(1) ~ Hands leadership to a member
tandem.status ~ loading stale fast ~ server ~ 0.1.0 ~ O(N) where N is the number of members ~ Returns this node's role, term, log indexes and the cluster's members
tandem.version ~ readonly fast ~ generic ~ 0.1.0 ~ O(1) ~ Returns the log index and term of the last write of a key
tandem.wait ~ noscript ~ server ~ 0.1.0 ~ O(1) ~ Waits until followers hold a log index (the leader's side of a follower's WAIT)
`;

function parse(text: string): Record<string, CommandDoc> {
  const docs: Record<string, CommandDoc> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ~ ');
    assert(fields.length === 6, `a command doc row has six fields: ${line}`);
    const [name, flags, group, since, complexity, summary] = fields as [string, ...string[]];
    const split = flags === '' ? [] : flags.split(' ');
    docs[name] = { flags: split, group, since, complexity, summary } as CommandDoc;
  }
  return docs;
}

/** Every command and subcommand Tandem has, by its lower-case name. */
export const commandDocs: Readonly<Record<string, CommandDoc>> = parse(rows);
