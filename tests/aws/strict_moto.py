#!/usr/bin/env python3
"""moto's server on loopback, made as strict as AWS where the tests need it to be.

moto emulates AWS's APIs, not AWS's rules: its restored clusters are available at once and it
allows every call. The hooks named on the command line change that inside moto's own process,
before it serves a request, by wrapping moto's backends and request handling (moto has no
plug-in interface for this; wrapping its classes keeps every API it already emulates):

    strict_moto.py --port PORT [--hook FILE[=ARGUMENT] ...]

Each FILE is a Python module beside this one (or a path) with `install(argument)`, which
receives the text after `=` (empty when there is none). Hooks are installed in the order given.

The environment variable SNAPEX_GLUE_THROTTLE, when set, adds `strict_glue.py=<its value>`
after them: Glue's throttling, opt-in (see strict_glue.py for the value).
"""

import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(HERE, path)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True)
    parser.add_argument("--hook", action="append", default=[], metavar="FILE[=ARGUMENT]")
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    throttle = os.environ.get("SNAPEX_GLUE_THROTTLE", "").strip()
    if throttle:
        args.hook.append(f"strict_glue.py={throttle}")
    for hook in args.hook:
        path, _, argument = hook.partition("=")
        load(path).install(argument)
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", args.port])


if __name__ == "__main__":
    main()
