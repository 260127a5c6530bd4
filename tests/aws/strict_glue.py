"""strict_glue: moto's Glue with Glue's throttling, a hook for strict_moto.py.

Glue throttles API requests per account and Region: a throttled request is answered HTTP 400
`ThrottlingException` ("Rate exceeded") and not performed. moto never throttles, so a client's
backoff is never exercised against it. This hook refuses chosen Glue requests that way, before
moto's handler sees them, so nothing of a refused request is performed.

The argument, comma-separated:
- `throttle:N` refuses every N-th distinct Glue request (distinct by operation and body: an
  SDK's retry of a refused request is the same request, not a new one);
- `times:K` refuses each chosen request K times in a row before letting it through (default 1).
  With K above the client's own attempts per call, the client's retries are spent on it and
  only a retry above the SDK's gets it through;
- `agent:TEXT` throttles only requests whose User-Agent contains TEXT (`agent:aws-sdk-rust`:
  the client under test), so an independent reader (boto3) reads the result unthrottled.

strict_moto.py also installs this hook when the environment variable SNAPEX_GLUE_THROTTLE holds
the argument (`SNAPEX_GLUE_THROTTLE=throttle:7,times:6`; a bare number N means `throttle:N`).

Each refusal is logged on stderr (moto's log) as `strict_glue: throttled <operation> (i of K)`,
so a test can tell that throttling happened.
"""

import hashlib
import json
import sys
import threading

from moto.glue import responses

LOCK = threading.Lock()


def install(argument):
    argument = argument.strip()
    if argument.isdigit():
        argument = f"throttle:{argument}"
    options = dict(
        part.split(":", 1) for part in argument.split(",") if part.strip() and ":" in part
    )
    every = int(options.get("throttle", "0"))
    times = int(options.get("times", "1"))
    agent = options.get("agent", "")
    if every <= 0 or times <= 0:
        return

    # Distinct requests seen, in order; for each chosen one, the refusals still to answer.
    seen = set()
    pending = {}
    original = responses.GlueResponse.call_action

    def throttled(self):
        headers = self.headers or {}
        if agent and agent not in headers.get("User-Agent", ""):
            return original(self)
        operation = headers.get("X-Amz-Target", "")
        body = self.body if isinstance(self.body, bytes) else str(self.body).encode()
        key = (operation, hashlib.sha256(body).hexdigest())
        with LOCK:
            if key not in seen:
                seen.add(key)
                if len(seen) % every == 0:
                    pending[key] = times
            left = pending.get(key, 0)
            if left > 0:
                pending[key] = left - 1
        if left > 0:
            print(
                f"strict_glue: throttled {operation} ({times - left + 1} of {times})",
                file=sys.stderr,
                flush=True,
            )
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            headers = {"Content-Type": "application/x-amz-json-1.1", "status": "400"}
            return 400, headers, body
        return original(self)

    responses.GlueResponse.call_action = throttled
