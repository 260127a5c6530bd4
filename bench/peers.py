#!/usr/bin/env python3
"""The Python-driven peers of bench/peers.sh, and its Parquet row counter.

Run with the venv that holds duckdb, duckdb-extension-postgres, duckdb-extension-mysql,
connectorx and pyarrow (peers.sh makes it). Each command is one timed run:

  peers.py duckdb-pg    <libpq conninfo> <schema.table> <out.parquet>
  peers.py duckdb-mysql <mysql conninfo> <db.table>     <out.parquet>
  peers.py connectorx   <url> <schema.table> <key column> <partitions> <out.parquet>
  peers.py count        <file or folder>     prints the rows in the Parquet footers
  peers.py check        duckdb-pg|duckdb-mysql|connectorx   exits 0 if the peer can run

DuckDB loads its scanner extensions from the files the PyPI packages ship (no network, no
INSTALL): duckdb_extension_<name>/extensions/v<version>/<name>.duckdb_extension. DuckDB takes
the extension's init symbol from the file name, and these binaries are the `postgres_scanner`
and `mysql_scanner` extensions, so they are loaded through a symlink of that name kept in
<venv>/duckdb-extensions/.
"""

import importlib
import os
import sys


def extension_path(name):
    """A loadable path for the extension binary shipped by the duckdb-extension-<name> PyPI
    package: a symlink named <name>_scanner.duckdb_extension, after its init symbol."""
    import duckdb

    pkg = importlib.import_module(f"duckdb_extension_{name}")
    base = os.path.join(os.path.dirname(pkg.__file__), "extensions")
    want = os.path.join(base, f"v{duckdb.__version__}", f"{name}.duckdb_extension")
    if os.path.exists(want):
        links = os.path.join(sys.prefix, "duckdb-extensions", f"v{duckdb.__version__}")
        os.makedirs(links, exist_ok=True)
        link = os.path.join(links, f"{name}_scanner.duckdb_extension")
        if os.path.realpath(link) != os.path.realpath(want):
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(want, link)
        return link
    found = [os.path.join(d, f"{name}.duckdb_extension") for d in sorted(os.listdir(base))]
    raise SystemExit(
        f"duckdb {duckdb.__version__} has no matching {name} extension in {base} (have {found})"
    )


def duckdb_connect(ext):
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute(f"LOAD '{extension_path(ext)}'")
    return con


def duckdb_copy(ext, conninfo, table, out):
    """ATTACH the server read-only and COPY the table to one zstd Parquet file (DuckDB's
    defaults otherwise: all cores as threads, its own row-group size)."""
    con = duckdb_connect(ext)
    kind = "postgres" if ext == "postgres" else "mysql"
    con.execute(f"ATTACH '{conninfo}' AS src (TYPE {kind}, READ_ONLY)")
    schema, name = table.split(".", 1)
    con.execute(
        f'COPY (SELECT * FROM src."{schema}"."{name}") TO \'{out}\' '
        "(FORMAT parquet, COMPRESSION zstd)"
    )


def connectorx_copy(url, table, key, partitions, out):
    """ConnectorX reads the whole table into one Arrow table (split on the key into
    `partitions` ranges read in parallel, its documented way to use several connections),
    then pyarrow writes it as one zstd Parquet file."""
    import connectorx as cx
    import pyarrow.parquet as pq

    query = f"SELECT * FROM {table}"
    if int(partitions) > 1:
        tbl = cx.read_sql(url, query, return_type="arrow",
                          partition_on=key, partition_num=int(partitions))
    else:
        tbl = cx.read_sql(url, query, return_type="arrow")
    pq.write_table(tbl, out, compression="zstd")


def parquet_rows(path):
    import pyarrow.parquet as pq

    files = []
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            files += [os.path.join(root, n) for n in names if n.endswith(".parquet")]
    else:
        files = [path]
    if not files:
        raise SystemExit(f"no Parquet files under {path}")
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def check(peer):
    if peer == "duckdb-pg":
        duckdb_connect("postgres")
    elif peer == "duckdb-mysql":
        duckdb_connect("mysql")
    elif peer == "connectorx":
        import connectorx  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    else:
        raise SystemExit(f"unknown peer {peer}")


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "duckdb-pg" and len(args) == 3:
        duckdb_copy("postgres", *args)
    elif cmd == "duckdb-mysql" and len(args) == 3:
        duckdb_copy("mysql", *args)
    elif cmd == "connectorx" and len(args) == 5:
        connectorx_copy(*args)
    elif cmd == "count" and len(args) == 1:
        print(parquet_rows(args[0]))
    elif cmd == "check" and len(args) == 1:
        check(args[0])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
