"""Cold start, the baseline: the same job done by hand with boto3 and urllib3.

The same event and environment as `probe_gateway.py`: read the secret from Secrets
Manager, claim the message in the idempotency table (conditional put), send it signed to
USpeedo, mark it done — and nothing else: no validation, no logs, no metrics.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks import probe_figures
from local_gateway.context import LocalContext  # the runtime's share, loaded before the clock


def main(event_path: str, out_path: str) -> None:
    """Import, handle, write the figures."""
    with open(event_path) as source:
        event = json.load(source)
    LocalContext()  # built as the runtime would, unused
    started = time.perf_counter()
    import hashlib
    import os

    import boto3

    from benchmarks.bare import BareSender

    imported = time.perf_counter()
    env = os.environ
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=env["USPEEDO_SECRET_ID"])[
            "SecretString"
        ]
    )
    dynamodb = boto3.client("dynamodb")
    sender = BareSender(
        env["USPEEDO_ENDPOINT"],
        secret["AccessKeyId"],
        secret["AccessKeySecret"],
        secret.get("AccountId"),
    )
    failures = []
    for record in event["Records"]:
        message = json.loads(record["body"])
        key = hashlib.sha256(record["body"].encode()).hexdigest()
        now = int(time.time())
        dynamodb.put_item(
            TableName=env["IDEMPOTENCY_TABLE"],
            Item={
                "id": {"S": key},
                "status": {"S": "INPROGRESS"},
                "expiration": {"N": str(now + 3600)},
            },
            ConditionExpression="attribute_not_exists(id) OR expiration < :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
        try:
            session_no = sender.send(message)
        except RuntimeError:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        dynamodb.update_item(
            TableName=env["IDEMPOTENCY_TABLE"],
            Key={"id": {"S": key}},
            UpdateExpression="SET #s = :s, #d = :d",
            ExpressionAttributeNames={"#s": "status", "#d": "data"},
            ExpressionAttributeValues={
                ":s": {"S": "COMPLETED"},
                ":d": {"S": json.dumps({"SessionNo": session_no})},
            },
        )
    answer = {"batchItemFailures": failures}
    done = time.perf_counter()
    probe_figures.write(out_path, started, imported, done, answer)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
