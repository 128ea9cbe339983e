"""Recomputes the SigV4 `Authorization` header of requests that crates/core/tests/iam.rs
captured, with botocore (the AWS SDK for Python): a check of blueprint-core's signing
by an implementation it shares no code with.

stdin: a JSON list of captured requests, each
  {"method", "path", "query", "headers": [[name, value], ...], "body_b64",
   "access_key", "secret_key", "token", "region", "service"}
stdout: a JSON list, one per request, of
  {"authorization": the header botocore computes, "body_sha256_matches": bool}

Only what the server received is used: the headers the client says it signed
(`SignedHeaders`), with their received values, the received body (its SHA-256 computed
here, never the client's `x-amz-content-sha256`), and the received `X-Amz-Date` as the
signing time.
"""

import base64
import datetime
import hashlib
import json
import sys
from unittest import mock

import botocore.auth
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def recompute(captured):
    received = {name.lower(): value for name, value in captured["headers"]}
    claimed = received["authorization"]
    signed = claimed.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    body = base64.b64decode(captured["body_b64"])
    body_sha256 = hashlib.sha256(body).hexdigest()

    headers = {name: received[name] for name in signed}
    if "x-amz-content-sha256" in headers:
        headers["x-amz-content-sha256"] = body_sha256
    url = "http://" + received["host"] + captured["path"]
    if captured["query"]:
        url += "?" + captured["query"]
    request = AWSRequest(method=captured["method"], url=url, data=body, headers=headers)

    credentials = Credentials(
        captured["access_key"], captured["secret_key"], captured["token"]
    )
    signed_at = datetime.datetime.strptime(received["x-amz-date"], SIGV4_TIMESTAMP)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=signed_at):
        SigV4Auth(credentials, captured["service"], captured["region"]).add_auth(request)
    return {
        "authorization": request.headers["Authorization"],
        "body_sha256_matches": received.get("x-amz-content-sha256") == body_sha256,
    }


if __name__ == "__main__":
    json.dump([recompute(c) for c in json.load(sys.stdin)], sys.stdout)
