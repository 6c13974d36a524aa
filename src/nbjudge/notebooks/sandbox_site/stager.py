"""Start bubblewrap as an unprivileged user when nbjudge runs as root.

    python -I -S stager.py SPEC_JSON

Run as root, bwrap would map the sandbox's user to root outside, and the
kernel does not count root's processes against RLIMIT_NPROC, so a fork bomb
would be unbounded. Run as ``nobody`` instead, bwrap cannot reach what it
must bind when that lies under a private folder (a Python installed under
/root, a pytest temporary folder). This script does both: in a private mount
namespace of its own (nothing propagates to the host) it mounts a small
tmpfs on ``stage`` and binds each source there, then drops to ``uid``/``gid``
and replaces itself with ``argv`` (bwrap, whose binds name the staged
paths). The mounts vanish with the sandbox; ``stage`` stays an empty folder
on the host, which the caller removes.

SPEC_JSON: ``{"stage": path, "sources": [path, ...], "uid": int, "gid": int,
"argv": [...]}``; source ``i`` is staged at ``<stage>/<i>``.
"""

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        sys.stderr.write(f"nbjudge-stager: {what}: {os.strerror(errno)}\n")
        sys.exit(126)


def main() -> None:
    spec = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_char_p]
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    stage = spec["stage"]
    _check(libc.mount(b"tmpfs", stage.encode(), b"tmpfs", 0, b"mode=0755,size=64k"),
           f"mount a tmpfs on {stage}")
    for i, source in enumerate(spec["sources"]):
        target = os.path.join(stage, str(i))
        if os.path.isdir(source):
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None),
               f"bind {source}")
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    os.chdir("/")
    os.execv(spec["argv"][0], spec["argv"])


if __name__ == "__main__":
    main()
