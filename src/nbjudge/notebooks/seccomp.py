"""The sandbox's seccomp filter: system calls an ML notebook never needs fail with EPERM.

Built with libseccomp (``libseccomp.so.2``, present wherever systemd is) through
ctypes and handed to bubblewrap as compiled BPF (``bwrap --seccomp FD``), which
loads it before the runner starts, so the runner, the kernel and everything they
start are bound by it and cannot lift it. Denied: io_uring (its own path around
the other filters), the key store, ptrace and reading or writing other processes'
memory, mounting and namespaces, eBPF and perf events, kernel modules, kexec,
swap, reboot, the kernel log, file handles that bypass paths, userfaultfd, System
V shared memory and message queues (POSIX shared memory, /dev/shm, stays); and
sockets of any family but unix, inet, inet6 and netlink (no AF_VSOCK to the host,
no packet or bluetooth sockets), which fail with EAFNOSUPPORT as on a kernel
without them. Everything else is allowed: the filter narrows what bubblewrap's
namespaces and the unprivileged user already contain.

Failures are OSErrors saying what libseccomp did not do; :mod:`.execute` turns
them into a :class:`~nbjudge.notebooks.execute.SandboxError` with the fix.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket

__all__ = ["ALLOWED_SOCKET_FAMILIES", "DENIED_SYSCALLS", "compiled_filter"]

DENIED_SYSCALLS = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "setns", "unshare",
    "bpf", "perf_event_open",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "swapon", "swapoff", "reboot", "syslog", "acct", "quotactl",
    "open_by_handle_at", "name_to_handle_at", "userfaultfd",
    # System V shared memory and message queues: a segment nothing maps holds memory no
    # process shows, which the host's measure of the sandbox's memory could not see.
    "shmget", "msgget",
)
# Netlink too: ZeroMQ lists the network interfaces (getifaddrs) before the kernel can talk
# to its client, and inside the sandbox's network namespace netlink sees only loopback.
ALLOWED_SOCKET_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK)

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_EQ = 4
_SCMP_CMP_GT = 6
_HIGHEST_FAMILY = 64   # beyond every AF_* Linux defines (AF_MAX is 46)


def _errno_action(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)   # SCMP_ACT_ERRNO(number)


class _ArgCmp(ctypes.Structure):
    """libseccomp's ``struct scmp_arg_cmp``."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    library = ctypes.CDLL(name, use_errno=True)   # OSError: not installed
    library.seccomp_init.restype = ctypes.c_void_p
    library.seccomp_init.argtypes = [ctypes.c_uint32]
    library.seccomp_release.argtypes = [ctypes.c_void_p]
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    library.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    library.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return library


def compiled_filter() -> bytes:
    """The filter as the BPF program ``bwrap --seccomp`` reads, for this machine's
    architecture."""
    library = _library()
    context = library.seccomp_init(_SCMP_ACT_ALLOW)
    if not context:
        raise OSError("libseccomp could not start a filter (seccomp_init failed)")
    try:
        def add(action: int, name: str, *conditions: _ArgCmp) -> None:
            number = library.seccomp_syscall_resolve_name(name.encode())
            if number < 0:   # a call this architecture does not have: nothing to deny
                return
            array = (_ArgCmp * len(conditions))(*conditions)
            code = library.seccomp_rule_add_array(context, action, number, len(conditions),
                                                  array)
            if code != 0:
                raise OSError(f"libseccomp refused the rule for {name}: "
                              f"{os.strerror(-code)}")

        for name in DENIED_SYSCALLS:
            add(_errno_action(errno.EPERM), name)
        # socket(domain, ...): every family but the allowed ones, one rule each (libseccomp
        # compares an argument once per rule), and all beyond the highest known.
        refused = _errno_action(errno.EAFNOSUPPORT)
        for family in range(_HIGHEST_FAMILY + 1):
            if family not in ALLOWED_SOCKET_FAMILIES:
                add(refused, "socket", _ArgCmp(0, _SCMP_CMP_EQ, family, 0))
                add(refused, "socketpair", _ArgCmp(0, _SCMP_CMP_EQ, family, 0))
        add(refused, "socket", _ArgCmp(0, _SCMP_CMP_GT, _HIGHEST_FAMILY, 0))
        add(refused, "socketpair", _ArgCmp(0, _SCMP_CMP_GT, _HIGHEST_FAMILY, 0))
        read, write = os.pipe()
        try:
            code = library.seccomp_export_bpf(context, write)
            os.close(write)
            write = -1
            if code != 0:
                raise OSError(f"libseccomp could not compile the filter: "
                              f"{os.strerror(-code)}")
            chunks = []
            while chunk := os.read(read, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)
    finally:
        library.seccomp_release(context)
