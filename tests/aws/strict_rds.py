"""strict_rds: moto's RDS with RDS's lifecycle, a hook for strict_moto.py.

moto's RDS makes every instance and cluster `available` the moment it is asked for and accepts
every call in every state. RDS does neither: a restore takes minutes, passing through states
that each Describe call reports, and calls that need an `available` resource are refused
meanwhile. This hook wraps moto's RDS backend (moto/rds/models.py) and responses so that:

- created and restored instances and clusters pass through RDS's states over several
  DescribeDBInstances / DescribeDBClusters polls of that resource before they are `available`:
    CreateDBInstance (alone)         creating, backing-up (with backups), available
    CreateDBInstance (in a cluster)  creating, available
    RestoreDBInstanceFromDBSnapshot  creating, modifying, backing-up (with backups), available
    CreateDBCluster, RestoreDBClusterFromSnapshot   creating, available
    ModifyDBInstance / ModifyDBCluster   modifying, available; with a new master password
        resetting-master-credentials, with PendingModifiedValues.MasterUserPassword "****"
    DeleteDBInstance / DeleteDBCluster   deleting, then gone (DBInstanceNotFound /
        DBClusterNotFoundFault); a cluster is gone only with its instances
- calls RDS refuses in a state are refused with RDS's error code and HTTP status (400), from
  the RDS API reference (botocore's model of it names them per operation):
    CreateDBInstance into a cluster that is not available   InvalidDBClusterStateFault
    ModifyDBInstance of an instance that is not available   InvalidDBInstanceState
    ModifyDBCluster of a cluster that is not available      InvalidDBClusterStateFault
    DeleteDBInstance of an instance already deleting        InvalidDBInstanceState
    DeleteDBCluster of a cluster with instances that are not deleting, or already deleting
                                                            InvalidDBClusterStateFault
    CreateDBSnapshot of an instance that is not available   InvalidDBInstanceState
    CreateDBClusterSnapshot of a cluster not available      InvalidDBClusterStateFault
    RestoreDBClusterFromSnapshot into an existing cluster   DBClusterAlreadyExistsFault
        (moto replaces the cluster)
    BackupRetentionPeriod outside 0-35 (instances) or 1-35 (clusters: Aurora keeps at least
        one day)                                             InvalidParameterValue
- BackupRetentionPeriod given to RestoreDBInstanceFromDBSnapshot is kept, 0 included (moto
  drops falsy overrides), so DescribeDBInstances reports what the restore asked for.

Snapshots are `available` at once: the pipeline starts from RDS's "snapshot created" event,
when the snapshot is already available.

A poll is one Describe call that returns the resource; each state is reported by that many
polls, then the next one is. The argument sets the number of polls, comma-separated:
`polls:N` for every state (default 2), `STATE:N` for one state (0 skips it). For example
`strict_rds.py=polls:1,creating:40` is a restore that stays `creating` for 40 polls.
"""

import threading

from moto.rds import models, responses
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    DBClusterToBeDeletedHasActiveMembers,
    DBInstanceNotFoundError,
    RDSClientError,
)

POLLS = {"": 2}
# One lock for every wrapped call: moto's server answers requests on several threads.
LOCK = threading.RLock()
# The lifecycle of each instance or cluster that is passing through states, by model object.
LIFE = {}
# Set while an RDS Describe request is answered: only those polls move a lifecycle on (moto's
# own calls describe resources too).
POLLING = threading.local()
GONE = object()
PENDING_PASSWORD = {"MasterUserPassword": "****"}


def polls(status):
    return POLLS.get(status, POLLS[""])


class Lifecycle:
    """States a resource passes through, each for its number of polls, then where it rests
    (a status, or GONE), with what to do once it gets there."""

    def __init__(self, states, rest, pending=None, on_rest=None):
        self.states = list(states)
        self.rest = rest
        self.pending = pending
        self.on_rest = on_rest
        self.seen = 0
        self.skip()

    def skip(self):
        while self.states and self.seen >= polls(self.states[0]):
            self.states.pop(0)
            self.seen = 0

    @property
    def status(self):
        return self.states[0] if self.states else self.rest

    def poll(self):
        """One poll: True once the states are over (this poll sees where it rests)."""
        self.skip()
        if not self.states:
            return True
        self.seen += 1
        return False


def begin(resource, states, rest="available", pending=None, on_rest=None):
    life = Lifecycle(states, rest, pending, on_rest)
    if life.states:
        LIFE[resource] = life
    else:
        settle(resource, life)


def settle(resource, life):
    """The lifecycle is over: the resource rests (or is removed). True when it is gone."""
    LIFE.pop(resource, None)
    if life.rest is GONE:
        life.on_rest()
        return True
    resource.status = life.rest
    return False


def polled(resource):
    """A Describe call returns `resource`: moves its lifecycle on. True when it is now gone."""
    life = LIFE.get(resource)
    if life is None or not life.poll():
        return False
    return settle(resource, life)


def refuse(code, message):
    raise RDSClientError(code, message)


def instance_state_fault(identifier, status, action):
    refuse(
        "InvalidDBInstanceState",
        f"Cannot {action} DB instance {identifier}: it is {status}, not available.",
    )


def cluster_state_fault(identifier, status, action):
    refuse(
        "InvalidDBClusterStateFault",
        f"Cannot {action} DB cluster {identifier}: it is {status}, not available.",
    )


def check_retention(value, low):
    if value is not None and not low <= int(value) <= 35:
        refuse(
            "InvalidParameterValue",
            f"Invalid backup retention period {value}: it must be from {low} to 35 days.",
        )


# --- status and pending values, read from the lifecycle while there is one ---------------


def _instance_status(self):
    life = LIFE.get(self)
    return life.status if life else self.__dict__.get("_strict_status", "available")


def _set_instance_status(self, value):
    self.__dict__["_strict_status"] = value


def _cluster_status(self):
    life = LIFE.get(self)
    return life.status if life else self._status


def _set_cluster_status(self, value):
    self._status = value


def _pending(self):
    life = LIFE.get(self)
    return life.pending if life and life.states else None


def _find(mapping, identifier):
    """moto keys resources by the identifier as given; RDS's identifiers ignore case."""
    if not identifier:
        return None
    return mapping.get(identifier) or mapping.get(identifier.lower())


def _cluster_members(backend, cluster):
    return [
        db
        for db in backend.databases.values()
        if isinstance(db, models.DBInstanceClustered)
        and db.db_cluster_identifier == cluster.db_cluster_identifier
    ]


def install(argument):
    for part in filter(None, (p.strip() for p in argument.split(","))):
        key, _, value = part.partition(":")
        POLLS["" if key == "polls" else key] = int(value)

    models.DBInstance.status = property(_instance_status, _set_instance_status)
    models.DBCluster.status = property(_cluster_status, _set_cluster_status)
    models.DBInstance.pending_modified_values = property(_pending)
    models.DBCluster.pending_modified_values = property(_pending)

    backend = models.RDSBackend
    wrap_describes(backend)
    wrap_creates(backend)
    wrap_modifies(backend)
    wrap_deletes(backend)
    wrap_snapshots()


def wrap_describes(backend):
    describe_instances = backend.describe_db_instances
    describe_clusters = backend.describe_db_clusters

    def describe_db_instances(self, db_instance_identifier=None, filters=None):
        with LOCK:
            found = describe_instances(self, db_instance_identifier, filters)
            if not getattr(POLLING, "active", False):
                return found
            shown = [db for db in found if not polled(db)]
            if db_instance_identifier and not shown:
                raise DBInstanceNotFoundError(db_instance_identifier)
            return shown

    def describe_db_clusters(self, db_cluster_identifier=None, filters=None):
        with LOCK:
            found = describe_clusters(self, db_cluster_identifier, filters)
            if not getattr(POLLING, "active", False):
                return found
            shown = [c for c in found if not polled(c)]
            if db_cluster_identifier and not shown:
                raise DBClusterNotFoundError(db_cluster_identifier)
            return shown

    backend.describe_db_instances = describe_db_instances
    backend.describe_db_clusters = describe_db_clusters

    for name in ("describe_db_instances", "describe_db_clusters"):
        answer = getattr(responses.RDSResponse, name)

        def polling(self, answer=answer):
            POLLING.active = True
            try:
                return answer(self)
            finally:
                POLLING.active = False

        setattr(responses.RDSResponse, name, polling)


def wrap_creates(backend):
    create_instance = backend.create_db_instance
    restore_instance = backend.restore_db_instance_from_db_snapshot
    create_cluster = backend.create_db_cluster
    restore_cluster = backend.restore_db_cluster_from_snapshot

    def create_db_instance(self, db_kwargs):
        with LOCK:
            cluster_id = db_kwargs.get("db_cluster_identifier")
            check_retention(db_kwargs.get("backup_retention_period"), 0)
            cluster = _find(self.clusters, cluster_id)
            if cluster is not None and cluster.status != "available":
                cluster_state_fault(cluster_id, cluster.status, "create an instance in")
            db = create_instance(self, db_kwargs)
            if cluster_id:
                begin(db, ["creating"])
            else:
                backups = ["backing-up"] if db.backup_retention_period else []
                begin(db, ["creating", *backups])
            return db

    def restore_db_instance_from_db_snapshot(self, from_snapshot_id, overrides):
        with LOCK:
            retention = overrides.get("backup_retention_period")
            check_retention(retention, 0)
            db = restore_instance(self, from_snapshot_id, overrides)
            if retention is not None:
                db.backup_retention_period = int(retention)
            backups = ["backing-up"] if db.backup_retention_period else []
            begin(db, ["creating", "modifying", *backups])
            return db

    def create_db_cluster(self, kwargs):
        with LOCK:
            check_retention(kwargs.get("backup_retention_period"), 1)
            cluster = create_cluster(self, kwargs)
            begin(cluster, ["creating"])
            return cluster

    def restore_db_cluster_from_snapshot(self, from_snapshot_id, overrides):
        with LOCK:
            identifier = overrides.get("db_cluster_identifier", "")
            if _find(self.clusters, identifier) is not None:
                refuse("DBClusterAlreadyExistsFault", f"DB Cluster {identifier} already exists")
            retention = overrides.get("backup_retention_period")
            check_retention(retention, 1)
            cluster = restore_cluster(self, from_snapshot_id, overrides)
            if retention is not None:
                cluster.backup_retention_period = int(retention)
            begin(cluster, ["creating"])
            return cluster

    backend.create_db_instance = create_db_instance
    backend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot
    backend.create_db_cluster = create_db_cluster
    backend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot


def wrap_modifies(backend):
    modify_instance = backend.modify_db_instance
    modify_cluster = backend.modify_db_cluster

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        with LOCK:
            db = _find(self.databases, db_instance_identifier)
            if db is None:
                raise DBInstanceNotFoundError(db_instance_identifier)
            if db.status != "available":
                instance_state_fault(db_instance_identifier, db.status, "modify")
            check_retention(db_kwargs.get("backup_retention_period"), 0)
            db = modify_instance(self, db_instance_identifier, db_kwargs)
            if db_kwargs.get("master_user_password"):
                begin(db, ["resetting-master-credentials"], pending=PENDING_PASSWORD)
            else:
                begin(db, ["modifying"])
            return db

    def modify_db_cluster(self, kwargs):
        with LOCK:
            identifier = kwargs["db_cluster_identifier"]
            cluster = _find(self.clusters, identifier)
            if cluster is None:
                raise DBClusterNotFoundError(identifier)
            if cluster.status != "available":
                cluster_state_fault(identifier, cluster.status, "modify")
            check_retention(kwargs.get("backup_retention_period"), 1)
            password = kwargs.get("master_user_password")
            modify_cluster(self, kwargs)
            # moto answers with a copy of the cluster; the lifecycle is the cluster's own.
            cluster = next(c for c in self.clusters.values() if c is cluster)
            if password:
                begin(cluster, ["resetting-master-credentials"], pending=PENDING_PASSWORD)
            else:
                begin(cluster, ["modifying"])
            return cluster

    backend.modify_db_instance = modify_db_instance
    backend.modify_db_cluster = modify_db_cluster


def wrap_deletes(backend):
    delete_instance = backend.delete_db_instance
    delete_cluster = backend.delete_db_cluster

    def delete_db_instance(self, db_instance_identifier, **kwargs):
        with LOCK:
            db = _find(self.databases, db_instance_identifier)
            if db is None or db.deletion_protection:
                # moto's own answer: not found, or protected.
                return delete_instance(self, db_instance_identifier, **kwargs)
            if db.status == "deleting":
                refuse(
                    "InvalidDBInstanceState",
                    f"Instance {db_instance_identifier} is already being deleted.",
                )
            # moto deletes at once; RDS reports `deleting` first. The deletion itself (final
            # snapshot, automated backups) happens when the instance is gone.
            begin(
                db,
                ["deleting"],
                rest=GONE,
                on_rest=lambda: delete_instance(self, db_instance_identifier, **kwargs),
            )
            return db

    def delete_db_cluster(self, cluster_identifier, snapshot_name=None):
        with LOCK:
            cluster = _find(self.clusters, cluster_identifier)
            if cluster is None or cluster.deletion_protection:
                return delete_cluster(self, cluster_identifier, snapshot_name)
            if cluster.status == "deleting":
                cluster_state_fault(cluster_identifier, "deleting", "delete")
            members = _cluster_members(self, cluster)
            if any(db.status != "deleting" for db in members):
                raise DBClusterToBeDeletedHasActiveMembers()

            def gone():
                # The cluster's deletion ends after its instances'.
                for db in _cluster_members(self, cluster):
                    life = LIFE.get(db)
                    if life is not None:
                        settle(db, life)
                delete_cluster(self, cluster_identifier, snapshot_name)

            begin(cluster, ["deleting"], rest=GONE, on_rest=gone)
            return cluster

    backend.delete_db_instance = delete_db_instance
    backend.delete_db_cluster = delete_db_cluster


def wrap_snapshots():
    answer_instance = responses.RDSResponse.create_db_snapshot
    answer_cluster = responses.RDSResponse.create_db_cluster_snapshot

    # Checked on the request, not in the backend: moto takes its own automated and final
    # snapshots through the same backend calls.
    def create_db_snapshot(self):
        with LOCK:
            identifier = self.params.get("DBInstanceIdentifier") or ""
            db = _find(self.backend.databases, identifier)
            if db is not None and db.status != "available":
                instance_state_fault(identifier, db.status, "snapshot")
            return answer_instance(self)

    def create_db_cluster_snapshot(self):
        with LOCK:
            identifier = self.params.get("DBClusterIdentifier") or ""
            cluster = _find(self.backend.clusters, identifier)
            if cluster is not None and cluster.status != "available":
                cluster_state_fault(identifier, cluster.status, "snapshot")
            return answer_cluster(self)

    responses.RDSResponse.create_db_snapshot = create_db_snapshot
    responses.RDSResponse.create_db_cluster_snapshot = create_db_cluster_snapshot
