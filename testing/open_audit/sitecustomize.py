"""Records the files a Python process opens, renames and removes (tests only).

On PYTHONPATH with ``NBJUDGE_OPEN_LOG`` set to a folder, every process writes
``<folder>/<pid>.json`` at exit: its ``argv``, working folder, and each path
it read or wrote, through :func:`sys.addaudithook`. tests/test_pipeline.py
compares what each DVC stage touched with what dvc.yaml declares.
"""

import atexit
import json
import os
import sys

_LOG = os.environ.get("NBJUDGE_OPEN_LOG")

if _LOG:
    _touched: dict[str, set[str]] = {"read": set(), "write": set()}
    _renamed: dict[str, str] = {}

    def _path(value):
        if isinstance(value, int):
            return None
        try:
            return os.path.abspath(os.fsdecode(value))
        except TypeError:
            return None

    def _hook(event, args):
        if event == "open":
            path, mode = _path(args[0]), args[1]
            if path is None:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(mode, int) and mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            _touched["write" if writing else "read"].add(path)
        elif event in ("os.listdir", "os.scandir") and args and args[0] is not None:
            path = _path(args[0])
            if path is not None:
                _touched["read"].add(path)
        elif event in ("os.rename", "os.replace"):
            source, target = _path(args[0]), _path(args[1])
            if source and target:
                _renamed[source] = target
                _touched["write"].add(target)
        elif event in ("os.remove", "shutil.rmtree"):
            path = _path(args[0])
            if path is not None:
                _touched["write"].add(path)

    def _dump():
        written = {_renamed.get(p, p) for p in _touched["write"]}
        record = {"argv": sys.argv, "cwd": os.getcwd(),
                  "read": sorted(_touched["read"] - set(_renamed)),
                  "write": sorted(written)}
        with open(os.path.join(_LOG, f"{os.getpid()}.json"), "w", encoding="utf-8") as handle:
            json.dump(record, handle)

    sys.addaudithook(_hook)
    atexit.register(_dump)
