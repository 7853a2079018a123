# musl_tls_read.py - reads every thread's otel_thread_ctx_v1 record from a stopped x86-64 musl process, from memory
# alone, as an out-of-process profiler does (gdb has no libthread_db for musl, so `print otel_thread_ctx_v1` fails).
#
#   gdb -p <pid> -batch -nx -ex "python LIBRARY='<path of the loaded library>'; SLOT=<GOT offset>" -x musl_tls_read.py
#
# SLOT is the offset of the library's R_X86_64_TLSDESC relocation against otel_thread_ctx_v1 (readelf -r). The
# descriptor there is {resolver, argument}. musl resolves it statically (argument = offset from the thread pointer,
# negative on x86-64) for libraries loaded at start-up, dynamically for dlopen'ed ones (argument = pointer to
# {module id, offset}; address = dtv[module id] + offset, the DTV pointer at %fs:8, 8-byte entries holding the block's
# address). Prints one line per thread: "read <lwp> <trace id hex> <span id hex> <valid> <attribute bytes hex>" or
# "read <lwp> none".
import gdb

inferior = gdb.selected_inferior()


def u64(address):
    return int.from_bytes(bytes(inferior.read_memory(address, 8)), "little")


def load_base(pid, library):
    with open("/proc/%d/maps" % pid) as maps:
        starts = [int(line.split("-", 1)[0], 16) for line in maps if line.rstrip().endswith(library) and line.split()[2] == "00000000"]
    if not starts:
        raise gdb.GdbError("%s is not mapped in %d" % (library, pid))
    return min(starts)


base = load_base(inferior.pid, LIBRARY)  # noqa: F821 (set by -ex)
descriptor = base + SLOT  # noqa: F821
argument = u64(descriptor + 8)
signed = argument - (1 << 64) if argument >= (1 << 63) else argument
print("descriptor %#x resolver %#x argument %#x (%s)" % (descriptor, u64(descriptor), argument, "static" if -(1 << 20) < signed < 0 else "dynamic"))

for thread in sorted(inferior.threads(), key=lambda t: t.ptid[1]):
    thread.switch()
    tp = int(gdb.parse_and_eval("$fs_base")) & 0xFFFFFFFFFFFFFFFF
    if -(1 << 20) < signed < 0:
        slot = tp + signed
    else:
        module, offset = u64(argument), u64(argument + 8)
        dtv = u64(tp + 8)
        slot = u64(dtv + 8 * module) + offset
    record = u64(slot)
    if record == 0:
        print("read %d none" % thread.ptid[1])
        continue
    header = bytes(inferior.read_memory(record, 28))
    size = int.from_bytes(header[26:28], "little")
    attributes = bytes(inferior.read_memory(record + 28, min(size, 612))) if size else b""
    print("read %d %s %s %d %s" % (thread.ptid[1], header[0:16].hex(), header[16:24].hex(), header[24], attributes.hex()))
