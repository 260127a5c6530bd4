"""A strict_moto.py hook: snapshots that are not available yet.

moto's DB and cluster snapshots are `available` the moment they are created, so nothing could
test what a caller does with one RDS is still making. With this hook, a DB snapshot or DB
cluster snapshot tagged `test:status=VALUE` reports status VALUE; removing the tag
(RemoveTagsFromResource) makes it report its own status again (`available`). No argument.
"""

from moto.rds import models

TAG = "test:status"


def install(argument):
    for cls in (models.DBSnapshot, models.DBClusterSnapshot):

        def get(self):
            for tag in getattr(self, "tags", None) or []:
                if tag.get("Key") == TAG:
                    return tag.get("Value")
            return self.__dict__.get("_own_status", "available")

        def put(self, value):
            self.__dict__["_own_status"] = value

        cls.status = property(get, put)
