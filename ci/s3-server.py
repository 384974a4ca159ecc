"""An S3 API server on loopback for the storage-path tests (harness/tests/storage_path.rs).

Runs moto's server (from the venv ci/storage-venv.sh makes) with request authentication ON, so
wrong credentials fail as on a real object store (InvalidAccessKeyId, SignatureDoesNotMatch),
and seeds it before serving:

- one IAM user per credential pair given, allowed `s3:*`, whose access key is exactly that pair
  (moto generates random keys; the tests need the keys in the secrets under test);
- buckets, and objects uploaded from local folders.

Input: one JSON line on stdin (never argv or the environment, which other processes can read):
  {"credentials": [{"access_key": "...", "secret_key": "..."}],
   "buckets": ["models"],
   "publish": [{"bucket": "models", "prefix": "credit-risk", "dir": "/path", "files": ["a", "b"]}]}
Output: `READY <port>` on stdout once the server listens on 127.0.0.1. The server runs until
stdin is closed (the test process ending closes it), then exits.
"""

import json
import os
import sys

# Authentication from the first request on (moto's default is never).
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

from moto import settings  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.s3.models import s3_backends  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
REGION = "us-east-1"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


def seed(spec):
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for i, cred in enumerate(spec.get("credentials", [])):
        user = f"harness-reader-{i}"
        iam.create_user(REGION, user)
        iam.put_user_policy(user, "s3-all", POLICY)
        key = iam.create_access_key(user)
        # Replace the generated pair with the one under test (keyed by id in the backend).
        del iam.access_keys[key.physical_resource_id]
        key.access_key_id = cred["access_key"]
        key.secret_access_key = cred["secret_key"]
        iam.access_keys[key.physical_resource_id] = key
    s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for bucket in spec.get("buckets", []):
        s3.create_bucket(bucket, REGION)
    for pub in spec.get("publish", []):
        for name in pub["files"]:
            with open(os.path.join(pub["dir"], name), "rb") as f:
                data = f.read()
            key = f"{pub['prefix'].strip('/')}/{name}" if pub["prefix"] else name
            s3.put_object(pub["bucket"], key, data)


def main():
    spec = json.loads(sys.stdin.readline())
    seed(spec)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"READY {port}", flush=True)
    # Serve until the parent closes stdin (or dies: the pipe closes then too).
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
