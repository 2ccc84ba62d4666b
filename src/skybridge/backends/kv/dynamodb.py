"""``dynamodb://<table>?region=..&endpoint_url=..&create=true`` key-value store (boto3).

Table schema: partition key ``ns`` (the namespace), sort key ``k`` (the key), both strings, so a
prefix scan is one ``begins_with`` Query in UTF-8 byte order. Other attributes: ``v`` (binary
value), ``ver`` (version), ``exp`` (expiry, epoch seconds with fractions, judged by the store's
clock), ``ttl`` (whole seconds, the attribute DynamoDB's native TTL deletes by) and ``w`` (the
write token, below). DynamoDB deletes expired items lazily (within days), so every read filters
on ``exp`` too.

``create=true`` creates the table (on-demand billing) and enables TTL if it is missing.
Conditional writes carry the CAS rules; ``ConditionalCheckFailedException`` never escapes.
``write_batch`` is ``TransactWriteItems`` in chunks of 100 (``atomic_batch`` per chunk).

botocore sends a request again when its reply is lost (a read timeout, a reset, a 5xx), and a
conditional write that ran the first time then fails its own condition; it also sends again
after throttling or a failed connect, where the earlier attempt never ran. So every put and
update stores a token of its own (``w``, 16 random bytes per write call; items without one
stay readable and writable). When the condition of a request sent more than once fails, a
consistent read settles it: the item carries our token, so our write was applied (success,
at its version), or it does not, so the conflict is real (a write applied and replaced by
another writer in the moment between two attempts is reported as that conflict). A guarded
delete leaves nothing to find: when its resent condition fails and the item is gone, this
delete or another one removed it, so it raises :class:`~skybridge.core.errors.TransientError`
saying the outcome is unknown. Transactions carry botocore's ``ClientRequestToken``, so
DynamoDB answers a resent one that committed with success.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Self

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client
from skybridge.backends.kv.base import BatchWrite, Item, KeyValueStore, ScanPage
from skybridge.backends.kv.dynamodb_errors import is_condition_failure, translate_error
from skybridge.core.errors import ConfigError, Conflict, TransientError
from skybridge.core.urls import BackendURL

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: DynamoDB's item limit is 400 KiB (409,600 B) counting attribute names and values; we budget
#: 405,000 B, the figure moto enforces, so what passes the tests passes in AWS.
ITEM_LIMIT = 405_000
#: Worst case for everything but the value: names (14 B), namespace (64), key (1024), 3 numbers
#: (21 each) and the write token (16).
ITEM_OVERHEAD = 1_200
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.\-]{3,255}")
_NAMES = {
    "#ns": "ns",
    "#k": "k",
    "#v": "v",
    "#w": "w",
    "#ver": "ver",
    "#exp": "exp",
    "#ttl": "ttl",
}
_LIVE = "(attribute_not_exists(#exp) OR #exp > :now)"
_GONE = "(attribute_not_exists(#k) OR #exp <= :now)"
_NOT_MINE = "(attribute_not_exists(#w) OR #w <> :w)"
_BATCH_GET, _BATCH_WRITE, _BATCH_ATTEMPTS, _PUT_ATTEMPTS = 100, 25, 8, 10


class DynamoDBStore(KeyValueStore):
    """Key-value store in one DynamoDB table; namespaces are partitions."""

    scheme = "dynamodb"
    capabilities = KeyValueStore.capabilities | {"native_expiry", "atomic_batch"}
    value_size_limit = ITEM_LIMIT - ITEM_OVERHEAD
    max_atomic_batch = 100  # TransactWriteItems' limit

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        create: bool = False,
        owns_client: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not _TABLE_NAME.fullmatch(table):
            raise ConfigError(
                f"'{table}' is not a DynamoDB table name",
                hint="write dynamodb://<table> with 3-255 letters, digits, '_', '.' or '-'",
            )
        self.client = client
        self.table = table
        self._owns_client = owns_client
        if create:
            self.ensure_table()

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        common = cls.common_options(url, options)
        table = url.rest.strip("/")
        create = bool(options.pop("create", url.flag("create")))
        client = options.pop("client", None)
        owns_client = client is None
        if client is None:
            params = {**url.params, **options}
            config = Config(
                retries={"mode": "standard", "max_attempts": int(params.get("max_attempts", 3))},
                connect_timeout=float(params.get("connect_timeout", 5)),
                read_timeout=float(params.get("read_timeout", 10)),
            )
            client = boto3_client(
                "dynamodb",
                region=params.get("region"),
                endpoint_url=params.get("endpoint_url"),
                config=config,
            )
        return cls(client, table, create=create, owns_client=owns_client, **common)

    def ensure_table(self) -> None:
        """Create the table (on-demand) with native TTL on ``ttl`` unless it exists."""
        with _translated():
            # ResourceInUse: it exists already, or another process is creating it.
            with suppress(self.client.exceptions.ResourceInUseException):
                self.client.create_table(
                    TableName=self.table,
                    KeySchema=[
                        {"AttributeName": "ns", "KeyType": "HASH"},
                        {"AttributeName": "k", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "ns", "AttributeType": "S"},
                        {"AttributeName": "k", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
            waiter = self.client.get_waiter("table_exists")
            waiter.wait(TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            ttl = self.client.describe_time_to_live(TableName=self.table)
            if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") in (None, "DISABLED"):
                self.client.update_time_to_live(
                    TableName=self.table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
                )

    def ping(self) -> None:
        with self._translate():
            self.client.describe_table(TableName=self.table)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    @contextmanager
    def _translate(self) -> Iterator[None]:
        with _translated(self.table):
            yield

    def _key(self, key: str) -> dict[str, Any]:
        return {"ns": {"S": self.namespace}, "k": {"S": key}}

    # -- primitives -------------------------------------------------------------------------

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        found: dict[str, Item] = {}
        for start in range(0, len(keys), _BATCH_GET):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [self._key(k) for k in keys[start : start + _BATCH_GET]],
                    "ConsistentRead": True,
                }
            }
            for reply in self._batch(self.client.batch_get_item, request, "UnprocessedKeys"):
                found.update((i.key, i) for i in map(_item, reply["Responses"][self.table]))
        return found

    def _batch(
        self, call: Callable[..., Any], request: dict[str, Any], unprocessed: str
    ) -> Iterator[dict[str, Any]]:
        """Run a batch call, resending what the service left ``unprocessed``, with backoff."""
        for attempt in range(_BATCH_ATTEMPTS):
            with self._translate():
                reply: dict[str, Any] = call(RequestItems=request)
            yield reply
            request = reply.get(unprocessed) or {}
            if not request:
                return
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise TransientError(f"DynamoDB left part of a batch on {self.table} unprocessed")

    def _put(
        self, key: str, value: bytes, *, expires_at: float | None, expected: int | None, now: float
    ) -> int | None:
        if expected == 0:
            return 1 if self._replace(key, value, expires_at, now, None) else None
        if expected is not None:
            return expected + 1 if self._replace(key, value, expires_at, now, expected) else None
        for _ in range(_PUT_ATTEMPTS):
            version = self._bump(key, value, expires_at, now)
            # None: an expired item is in the way; replace it (version starts again at 1).
            if version is not None or self._replace(key, value, expires_at, now, None):
                return version or 1
        raise TransientError(f"too many concurrent writers on a DynamoDB key in {self.table}")

    def _replace(
        self, key: str, value: bytes, expires_at: float | None, now: float, expected: int | None
    ) -> bool:
        """PutItem the whole item if it is at ``expected`` (``None``: absent or expired)."""
        version = 1 if expected is None else expected + 1
        token = _write_token()
        item = {**self._key(key), "v": {"B": value}, "ver": {"N": str(version)}, "w": token}
        if expires_at is not None:
            item |= {"exp": {"N": repr(expires_at)}, "ttl": {"N": str(math.ceil(expires_at))}}
        values = {":now": {"N": repr(now)}}
        if expected is None:
            condition, names = _GONE, {"#k": "k", "#exp": "exp"}
        else:
            condition, names = f"#ver = :expected AND {_LIVE}", {"#ver": "ver", "#exp": "exp"}
            values[":expected"] = {"N": str(expected)}
        try:
            with self._translate():
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except _ConditionFailed as failed:
            return failed.resent and _carries(self._read_back(key, "PutItem"), token)
        return True

    def _bump(self, key: str, value: bytes, expires_at: float | None, now: float) -> int | None:
        """UpdateItem an absent or live item, adding 1 to its version; ``None`` if expired.

        The condition also requires another token than this call's, so a resent update that
        was applied the first time is not applied again (it is found by its token instead).
        """
        token = _write_token()
        values: dict[str, Any] = {
            ":v": {"B": value},
            ":w": token,
            ":now": {"N": repr(now)},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        expression = "SET #v = :v, #w = :w, #ver = if_not_exists(#ver, :zero) + :one"
        if expires_at is None:
            expression += " REMOVE #exp, #ttl"
        else:
            expression += ", #exp = :exp, #ttl = :ttl"
            values |= {":exp": {"N": repr(expires_at)}, ":ttl": {"N": str(math.ceil(expires_at))}}
        try:
            with self._translate():
                reply = self.client.update_item(
                    TableName=self.table,
                    Key=self._key(key),
                    UpdateExpression=expression,
                    ConditionExpression=f"{_LIVE} AND {_NOT_MINE}",
                    ExpressionAttributeNames={
                        k: _NAMES[k] for k in ("#v", "#w", "#ver", "#exp", "#ttl")
                    },
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
        except _ConditionFailed as failed:
            mine = self._read_back(key, "UpdateItem") if failed.resent else None
            return int(mine["ver"]["N"]) if mine and _carries(mine, token) else None
        return int(reply["Attributes"]["ver"]["N"])

    def _read_back(self, key: str, operation: str) -> dict[str, Any] | None:
        """The stored item's key, version and write token, by a consistent read.

        Called when the condition of a write botocore sent more than once failed, to tell an
        earlier attempt that was applied (its reply lost) from a real conflict.
        """
        try:
            with self._translate():
                reply = self.client.get_item(
                    TableName=self.table,
                    Key=self._key(key),
                    ConsistentRead=True,
                    ProjectionExpression="#k, #ver, #w",
                    ExpressionAttributeNames={"#k": "k", "#ver": "ver", "#w": "w"},
                )
        except TransientError as exc:
            why = f"reading the item back failed: {exc}"
            raise _outcome_unknown(operation, self.table, why) from exc
        item: dict[str, Any] | None = reply.get("Item")
        return item

    def _write_batch(self, writes: list[BatchWrite], *, now: float) -> dict[str, int]:
        # A transaction cannot report new versions, so unconditional puts are made conditional
        # on the version read just before; if another writer gets in between, read and retry.
        loose = [w.key for w in writes if w.expected is None and w.value is not None]
        for _ in range(_PUT_ATTEMPTS):
            current = self._get_many(loose) if loose else {}
            actions, versions = [], {}
            for write in writes:
                expected = write.expected
                if expected is None and write.value is not None:
                    item = current.get(write.key)
                    expected = item.version if item is not None and item.is_live(now) else 0
                actions.append(self._transact_action(write.key, write.value, expected, now))
                versions[write.key] = 0 if write.value is None else (expected or 0) + 1
            if self._transact(actions):
                return versions
            guarded = [w for w in writes if w.expected is not None]
            found = self._get_many([w.key for w in guarded]) if guarded else {}
            for write in guarded:
                item = found.get(write.key)
                live = item.version if item is not None and item.is_live(now) else 0
                if live != write.expected:
                    raise Conflict(
                        f"kv key {write.key!r} is not at version {write.expected} "
                        "(the batch wrote nothing)",
                        hint="read the current items and retry with their versions",
                    )
            if not loose:
                raise TransientError(f"a DynamoDB transaction on {self.table} was cancelled")
        raise TransientError(f"too many concurrent writers on DynamoDB keys in {self.table}")

    def _transact_action(
        self, key: str, value: bytes | None, expected: int | None, now: float
    ) -> dict[str, Any]:
        if value is None:
            action: dict[str, Any] = {"TableName": self.table, "Key": self._key(key)}
            if expected is None:
                return {"Delete": action}
            action |= {
                "ConditionExpression": f"#ver = :expected AND {_LIVE}",
                "ExpressionAttributeNames": {"#ver": "ver", "#exp": "exp"},
                "ExpressionAttributeValues": {
                    ":expected": {"N": str(expected)},
                    ":now": {"N": repr(now)},
                },
            }
            return {"Delete": action}
        version = (expected or 0) + 1
        item = {**self._key(key), "v": {"B": value}, "ver": {"N": str(version)}}
        values = {":now": {"N": repr(now)}}
        if not expected:
            condition, names = _GONE, {"#k": "k", "#exp": "exp"}
        else:
            condition, names = f"#ver = :expected AND {_LIVE}", {"#ver": "ver", "#exp": "exp"}
            values[":expected"] = {"N": str(expected)}
        return {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        """Run one TransactWriteItems; ``False`` if a condition failed (nothing written)."""
        try:
            self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise translate_error(exc, self.table) from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if any(code == "ConditionalCheckFailed" for code in reasons) or not reasons:
                return False
            raise TransientError(
                f"a DynamoDB transaction on {self.table} was cancelled: {reasons}"
            ) from exc
        except BotoCoreError as exc:
            raise translate_error(exc, self.table) from exc
        return True

    def _delete(self, key: str, *, expected: int | None, now: float) -> bool | None:
        args: dict[str, Any] = {"TableName": self.table, "Key": self._key(key)}
        if expected is None:
            args["ReturnValues"] = "ALL_OLD"
        else:
            args |= {
                "ConditionExpression": f"#ver = :expected AND {_LIVE}",
                "ExpressionAttributeNames": {"#ver": "ver", "#exp": "exp"},
                "ExpressionAttributeValues": {
                    ":expected": {"N": str(expected)},
                    ":now": {"N": repr(now)},
                },
            }
        try:
            with self._translate():
                reply = self.client.delete_item(**args)
        except _ConditionFailed as failed:
            if failed.resent and self._read_back(key, "DeleteItem") is None:
                # Gone: our first attempt (its reply lost) or another writer deleted it.
                raise _outcome_unknown(
                    "DeleteItem", self.table, "the item is gone, by this delete or another"
                ) from None
            return None
        if expected is not None:
            return True
        old = reply.get("Attributes")
        return old is not None and _item(old).is_live(now)

    def _delete_many(self, keys: list[str], *, now: float) -> None:
        for start in range(0, len(keys), _BATCH_WRITE):
            chunk = keys[start : start + _BATCH_WRITE]
            request = {self.table: [{"DeleteRequest": {"Key": self._key(k)}} for k in chunk]}
            for _ in self._batch(self.client.batch_write_item, request, "UnprocessedItems"):
                pass

    def _scan(self, prefix: str, start_after: str | None, limit: int) -> ScanPage:
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#ns = :ns",
            "ExpressionAttributeNames": {"#ns": "ns"},
            "ExpressionAttributeValues": {":ns": {"S": self.namespace}},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if prefix:
            args["KeyConditionExpression"] += " AND begins_with(#k, :prefix)"
            args["ExpressionAttributeNames"]["#k"] = "k"
            args["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
        if start_after is not None and start_after >= prefix:
            if not start_after.startswith(prefix):
                return ScanPage([], None)  # past every key with this prefix
            args["ExclusiveStartKey"] = self._key(start_after)
        with self._translate():
            reply = self.client.query(**args)
        last = reply.get("LastEvaluatedKey")
        return ScanPage([_item(i) for i in reply["Items"]], last["k"]["S"] if last else None)


class _ConditionFailed(Exception):
    """Raised inside this module when a conditional write's condition did not hold.

    ``resent``: botocore sent the request more than once, so an earlier attempt may have been
    applied and be what the condition failed on.
    """

    def __init__(self, *, resent: bool) -> None:
        super().__init__()
        self.resent = resent


@contextmanager
def _translated(table: str | None = None) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise translate_error(exc, table) from exc
        resent = bool(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        raise _ConditionFailed(resent=resent) from None
    except BotoCoreError as exc:
        raise translate_error(exc, table) from exc


def _write_token() -> dict[str, bytes]:
    """A new write token, as the ``w`` attribute's value."""
    return {"B": uuid.uuid4().bytes}


def _carries(item: dict[str, Any] | None, token: dict[str, bytes]) -> bool:
    """Whether ``item`` was written by the write call holding ``token``."""
    return item is not None and item.get("w") == token


def _outcome_unknown(operation: str, table: str, why: str) -> TransientError:
    return TransientError(
        f"DynamoDB {operation} on {table} was sent again after an attempt whose outcome was "
        f"not seen, so its write may or may not have been applied: {why}",
        hint="read the item to see whether it was, before writing again",
    )


def _item(raw: dict[str, Any]) -> Item:
    expires = raw.get("exp")
    return Item(
        raw["k"]["S"],
        bytes(raw["v"]["B"]) if "v" in raw else b"",
        int(raw["ver"]["N"]),
        float(expires["N"]) if expires else None,
    )
