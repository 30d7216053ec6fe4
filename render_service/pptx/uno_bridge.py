"""Converts decks to PDF through a running LibreOffice; run by the system Python that has `uno`.

    /usr/bin/python3 uno_bridge.py PIPE_NAME WORK_ROOT

Reads one JSON request per line from stdin, {"source": path, "target": path}, and answers one
line per request: "ok" or "error: <reason>". Both paths must lie under WORK_ROOT: the pipe is
reachable from forked sandbox children, so a request is never trusted to name other files.
Started and fed by `convert.SlideConverter`; it exits when stdin closes. Loading a deck into
an already running LibreOffice takes a few hundred milliseconds, against a second or two for
a fresh `soffice --convert-to`.
"""

import json
import os
import sys
import time

import uno
from com.sun.star.beans import PropertyValue


def _props(**values):
    found = []
    for name, value in values.items():
        prop = PropertyValue()
        prop.Name, prop.Value = name, value
        found.append(prop)
    return tuple(found)


def _desktop(pipe: str, wait_s: float = 60.0):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    deadline = time.monotonic() + wait_s
    while True:
        try:
            context = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)


def main() -> None:
    desktop = _desktop(sys.argv[1])
    root = os.path.realpath(sys.argv[2]) + os.sep
    print("ready", flush=True)
    for line in sys.stdin:
        document = None
        try:
            request = json.loads(line)
            paths = [os.path.realpath(request[key]) for key in ("source", "target")]
            if not all(path.startswith(root) for path in paths):
                raise PermissionError("paths outside the work root")
            document = desktop.loadComponentFromURL(
                uno.systemPathToFileUrl(request["source"]), "_blank", 0, _props(Hidden=True)
            )
            document.storeToURL(
                uno.systemPathToFileUrl(request["target"]),
                _props(FilterName="impress_pdf_Export"),
            )
            print("ok", flush=True)
        except Exception as err:
            print(f"error: {type(err).__name__}: {err}".splitlines()[0], flush=True)
        finally:
            if document is not None:
                document.close(True)


if __name__ == "__main__":
    main()
