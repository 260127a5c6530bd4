"""strict_s3: moto's S3 with S3's conditional writes, a hook for strict_moto.py.

S3 decides a conditional PutObject (`If-None-Match: *`, `If-Match: <etag>`) and a conditional
CompleteMultipartUpload atomically per key: of several racing creates of one key, exactly one
succeeds and the others get 412 Precondition Failed. moto checks the condition
(moto/s3/responses.py, `put_object` and `_key_response_post`) and then writes
(moto/s3/models.py), without a lock, and its server answers requests on several threads, so two
racing creates can both pass the check and both write. This hook holds one lock across the
check and the write of every conditional request, so moto decides them as S3 does.

The argument, comma-separated:
- `atomic:off` leaves moto's own behaviour (the default is `atomic:on`);
- `delay:MS` makes every write of an object wait MS milliseconds after moto's check, as a
  loaded server's write can: it widens moto's window, so a test can show the race winning twice
  with `atomic:off` and exactly once with `atomic:on`.
"""

import threading
import time

from moto.s3 import models, responses

# One lock for every conditional request: they are rare (leases, manifests), so one is enough.
LOCK = threading.RLock()


def conditional(handler):
    return handler.headers.get("If-None-Match") is not None or (
        handler.headers.get("If-Match") is not None
    )


def install(argument):
    options = dict(
        part.split(":", 1) for part in argument.split(",") if part.strip() and ":" in part
    )
    atomic = options.get("atomic", "on") != "off"
    delay = int(options.get("delay", "0")) / 1000.0

    if delay:
        for name in ("put_object", "complete_multipart_upload"):
            original = getattr(models.S3Backend, name)

            def slow(self, *args, __original=original, **kwargs):
                time.sleep(delay)
                return __original(self, *args, **kwargs)

            setattr(models.S3Backend, name, slow)

    if not atomic:
        return

    put_object = responses.S3Response.put_object

    def locked_put_object(self, *args, **kwargs):
        if conditional(self):
            with LOCK:
                return put_object(self, *args, **kwargs)
        return put_object(self, *args, **kwargs)

    responses.S3Response.put_object = locked_put_object

    post = responses.S3Response._key_response_post

    def locked_post(self, *args, **kwargs):
        if conditional(self):
            with LOCK:
                return post(self, *args, **kwargs)
        return post(self, *args, **kwargs)

    responses.S3Response._key_response_post = locked_post
