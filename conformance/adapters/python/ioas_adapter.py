#!/usr/bin/env python3
"""A small, independent model of iommufd's IOAS world (/dev/iommu), behind the stdio adapter
protocol.

It owns: the simulated processes (the initial one and those PROCESS_FORK makes: memory as
4 KiB frames, capabilities, RLIMIT_MEMLOCK and their mm's charges; one user, one table of memfd
files and fds), iommufd contexts with their object tables (IOAS, HWPT_PAGING
of `mock` IOMMU units, the selftest's HWPT_NESTED over them, bound devices, access objects), the IOVA space of each IOAS (areas,
reserved ranges, allowed ranges, alignment), page pinning as CHECK_REFS reports it, device DMA
through the mock domains, the VFIO type1 container ioctls on each context's compat IOAS, and
the JSON-RPC 2.0 loop over stdin/stdout (one message per line).

It is written from the adapter protocol, the case format and the kernel facts in the project's
notes and in the kernel sources (ioas.c, io_pagetable.c, pages.c, main.c, device.c,
hw_pagetable.c, vfio_compat.c, selftest.c) -- not from the TypeScript reference -- so that a suite which
passes it carries no TypeScript assumption.

Invariants:
- a failing call checks everything before it changes anything, except where Linux itself
  leaves partial effects (UNMAP stops at the first area that straddles the range, keeping the
  areas it already removed; ACCESS_RW writes area by area; a TYPE1 UNMAP_DMA keeps the area
  splits it made before a refusal);
- a page of a page store (one MAP or MAP_FILE) is pinned exactly while some area using it sits
  in an IOAS with a domain, or an access pin item covers it; a store pins a page once whoever
  needs it, and CHECK_REFS counts the pinning stores of the frame behind each user page;
- pinned pages are charged (USER or MM mode, none with CAP_IPC_LOCK) exactly while pinned, to
  the mm a page store was mapped from (or moved to by IOAS_CHANGE_PROCESS) and its user;
- every request is made by one process (`pid`, default the initial one): its memory is what
  pointers and MAP's user_va mean, its mm what new page stores belong to;
- object IDs are per context, the lowest free one from 1;
- every u64 leaves as a JSON number when <= 2^53-1, else as a "0x..." string.

Standard library only; logs go to stderr, stdout carries nothing but protocol lines.
"""
import json
import sys

PROTOCOL = 1
PAGE = 4096
U64_MAX = (1 << 64) - 1
ULONG_MAX = U64_MAX  # a 64-bit kernel
SIZE_MAX = U64_MAX
HPAGE = 2 << 20  # THP size on x86-64: the cap of automatic IOVA alignment
MAX_SAFE = (1 << 53) - 1

# The selftest mock IOMMU (adapter-protocol.md, "The mock IOMMU model").
MOCK_PAGE = 2048
MOCK_APERTURE_START = 0x1000000
MOCK_APERTURE_LAST = 0x7FFFFFFF

CAPABILITIES = [
    "ioas", "access", "hwpt", "map-file", "change-process", "options", "vfio-device",
    "test:accounting", "test:dma", "test:mem", "test:process", "test:refs", "test:reserved",
    "test:state", "test:temp-memory-limit", "test:access-rw-slow-path", "test:mmap-private",
    "test:mmap-huge", "x-raw-ioctl", "vfio-compat", "nesting:selftest",
]

MAP_FIXED_IOVA = 1 << 0
MAP_WRITEABLE = 1 << 1
MAP_READABLE = 1 << 2
MAP_FLAGS = MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE

OPTION_RLIMIT_MODE = 0
OPTION_HUGE_PAGES = 1
OPTION_OP_SET = 0
OPTION_OP_GET = 1

IOMMUFD_TYPE = 0x3B
# nr, sizeof, min_size (offsetofend of the last field every version has).
IOMMUFD_CMDS = {
    "IOMMU_DESTROY": (0x80, 8, 8),
    "IOMMU_IOAS_ALLOC": (0x81, 12, 12),
    "IOMMU_IOAS_ALLOW_IOVAS": (0x82, 24, 24),
    "IOMMU_IOAS_COPY": (0x83, 40, 40),
    "IOMMU_IOAS_IOVA_RANGES": (0x84, 32, 32),
    "IOMMU_IOAS_MAP": (0x85, 40, 40),
    "IOMMU_IOAS_UNMAP": (0x86, 24, 24),
    "IOMMU_OPTION": (0x87, 24, 24),
    "IOMMU_HWPT_ALLOC": (0x89, 48, 24),
    "IOMMU_HWPT_INVALIDATE": (0x8D, 32, 32),
    "IOMMU_IOAS_MAP_FILE": (0x8F, 40, 40),
    "IOMMU_GET_HW_INFO": (0x8A, 40, 32),
    "IOMMU_IOAS_CHANGE_PROCESS": (0x92, 8, 8),
    "IOMMU_VFIO_IOAS": (0x88, 12, 12),
}
# Offsets of the fields past min_size: a shorter `size` leaves them zero (copy_struct_from_user).
LATE_FIELDS = {
    "IOMMU_HWPT_ALLOC": {"data_type": 24, "data_len": 28, "data_uptr": 32, "fault_id": 40, "__reserved2": 44},
}
# VFIO cdev commands: _IO(';', 100 + n), argsz rule: argsz < minsz -> EINVAL.
VFIO_CMDS = {
    "VFIO_DEVICE_BIND_IOMMUFD": (100 + 18, 16),
    "VFIO_DEVICE_ATTACH_IOMMUFD_PT": (100 + 19, 12),
    "VFIO_DEVICE_DETACH_IOMMUFD_PT": (100 + 20, 8),
}


class Errno(Exception):
    """A failing call: the errno name, and the struct when Linux copies it back on that failure."""

    def __init__(self, name, arg=None):
        super().__init__(name)
        self.name = name
        self.arg = arg


class RpcError(Exception):
    """The adapter itself cannot do what was asked: a JSON-RPC error, never a case result."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def log(*parts):
    print("ioas_adapter:", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- wire encoding


def u64_in(value, what):
    """A wire u64: a JSON number (safe integer) or a "0x..."/decimal string."""
    if isinstance(value, bool):
        raise RpcError(-32602, f"{what}: expected a u64, got a boolean")
    if isinstance(value, int):
        v = value
    elif isinstance(value, str):
        try:
            v = int(value, 16) if value[:2] in ("0x", "0X") else int(value, 10)
        except ValueError:
            raise RpcError(-32602, f"{what}: '{value}' is not a u64 string")
    else:
        raise RpcError(-32602, f"{what}: expected a u64, got {type(value).__name__}")
    if v < 0 or v > U64_MAX:
        raise RpcError(-32602, f"{what}: {value} is outside 0..2^64-1")
    return v


def u64_out(v):
    return v if v <= MAX_SAFE else "0x%x" % v


def field(arg, name, bits=64):
    """A struct field from the wire; a missing field reads as zero (a zeroed C struct)."""
    v = u64_in(arg.get(name, 0), name)
    if v >> bits:
        raise RpcError(-32602, f"{name}: {v:#x} does not fit in {bits} bits")
    return v


def hex_bytes(text, what):
    if not isinstance(text, str) or len(text) % 2:
        raise RpcError(-32602, f"{what}: hex bytes expected")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RpcError(-32602, f"{what}: hex bytes expected")


def ffs_bit(v):
    """1 << (index of the lowest set bit); v != 0."""
    return v & -v


def roundup_pow_of_two(v):
    return 1 << (v - 1).bit_length()


def overlaps(a_first, a_last, b_first, b_last):
    return a_first <= b_last and b_first <= a_last


# ---------------------------------------------------------------- the simulated process


class Frame:
    """One 4 KiB page of simulated physical memory. A pin holds the Frame itself, so a pinned
    page outlives MUNMAP, as a pinned struct page does."""

    __slots__ = ("pfn", "data")

    def __init__(self, pfn):
        self.pfn = pfn
        self.data = bytearray(PAGE)


class PhysicalMemory:
    """Frame numbers of the simulated physical memory, one allocator for every process and file."""

    FRAMES_PER_HPAGE = HPAGE // PAGE

    def __init__(self):
        self.next_pfn = self.FRAMES_PER_HPAGE

    def frame(self):
        f = Frame(self.next_pfn)
        self.next_pfn += 1
        return f

    def contiguous(self, n):
        """n frames, physically contiguous from a 2 MiB boundary, so a buffer can back large IOPTEs."""
        pfn = (self.next_pfn + self.FRAMES_PER_HPAGE - 1) // self.FRAMES_PER_HPAGE * self.FRAMES_PER_HPAGE
        self.next_pfn = pfn + n
        return [Frame(pfn + i) for i in range(n)]

    def copy(self, frame):
        f = self.frame()
        f.data[:] = frame.data
        return f


class MemFile:
    """A memfd: its pages are Frames shared by every mapping of it and by MAP_FILE pins."""

    def __init__(self, phys, length, huge=False):
        self.phys = phys
        self.huge = huge  # MFD_HUGETLB: sized and mapped in whole 2 MiB pages
        self.frames = {}
        self.size = 0
        self.truncate(length)

    def truncate(self, length):
        if self.huge and length % HPAGE:
            raise Errno("EINVAL")
        old_pages = (self.size + PAGE - 1) // PAGE
        new_pages = (length + PAGE - 1) // PAGE
        for i in range(new_pages, old_pages):
            self.frames.pop(i, None)  # a pin keeps its Frame; the file no longer has it
        if self.huge:  # each huge page physically contiguous
            for first in range(old_pages, new_pages, PhysicalMemory.FRAMES_PER_HPAGE):
                for i, f in enumerate(self.phys.contiguous(PhysicalMemory.FRAMES_PER_HPAGE)):
                    self.frames[first + i] = f
        else:
            for i in range(old_pages, new_pages):
                self.frames[i] = self.phys.frame()
        self.size = length


class User:
    """The user every simulated process runs as: its locked_vm (per-user charges, in pages)."""

    def __init__(self):
        self.locked_pages = 0


class Process:
    """One simulated process: its user memory (4 KiB pages, zero-filled when mapped, each backed
    by a Frame; `shared` holds the pages that map a file, which fork shares rather than copies),
    its capabilities and RLIMIT_MEMLOCK, and its mm's counters (locked_vm, pinned_vm). After exit
    the mm keeps its counters (pins still hold it, as mmgrab does) but has no address space."""

    BASE = 0x7F0000000000
    DEFAULT_MEMLOCK_PAGES = (8 << 20) // PAGE  # Linux's default RLIMIT_MEMLOCK, 8 MiB

    def __init__(self, pid, phys, user, drop):
        self.pid = pid
        self.phys = phys
        self.user = user
        self.alive = True
        self.pages = {}  # user page number -> Frame
        self.shared = set()  # user page numbers of shared file mappings
        self.cow = set()  # user page numbers of MAP_PRIVATE file mappings still on the file's page
        self.huge = []  # [start, stop) byte ranges of hugetlb mappings
        self.next_addr = self.BASE
        self.caps_dropped = set(drop)
        self.memlock_limit_pages = self.DEFAULT_MEMLOCK_PAGES
        self.mm_locked_pages = 0
        self.mm_pinned_pages = 0

    def fork(self, pid):
        """fork(2): anonymous pages are copied (a pinned page stays with the parent, as Linux
        copies maybe-pinned pages at fork), file mappings shared; same user, caps and limit."""
        child = Process(pid, self.phys, self.user, self.caps_dropped)
        child.pages = {pg: f if pg in self.shared or pg in self.cow else self.phys.copy(f)
                       for pg, f in self.pages.items()}
        child.shared = set(self.shared)
        child.cow = set(self.cow)
        child.huge = list(self.huge)
        child.next_addr = self.next_addr
        child.memlock_limit_pages = self.memlock_limit_pages
        return child

    def exit(self):
        """exit(2): the address space goes, in place, so that a page store that pins from this
        mm finds nothing (EFAULT); the counters stay with the mm."""
        self.alive = False
        self.pages.clear()
        self.shared.clear()
        self.cow.clear()
        self.huge.clear()

    def mmap_file(self, length, memfile, offset, private=False, huge=False):
        """A mapping of a file: its pages are the file's frames (none past EOF). A MAP_PRIVATE
        page stays the file's (copy on write) until a CPU write or a long-term pin unshares it.
        A hugetlb file maps whole 2 MiB pages from a 2 MiB aligned offset."""
        if length == 0 or offset % PAGE or (huge and not memfile.huge):
            raise Errno("EINVAL")
        if memfile.huge:
            if offset % HPAGE:
                raise Errno("EINVAL")
            length = (length + HPAGE - 1) // HPAGE * HPAGE
        n = (length + PAGE - 1) // PAGE
        addr = (self.next_addr + HPAGE - 1) // HPAGE * HPAGE
        self.next_addr = addr + n * PAGE + HPAGE
        if memfile.huge:
            self.huge.append((addr, addr + length))
        for i in range(n):
            frame = memfile.frames.get(offset // PAGE + i)
            if frame is not None:
                self.pages[addr // PAGE + i] = frame
                (self.cow if private else self.shared).add(addr // PAGE + i)
        return addr

    def unshare(self, pages):
        """The write fault (or gup_must_unshare for a FOLL_LONGTERM pin) on a MAP_PRIVATE file
        page: the page gets an anonymous copy of the file page; the file is left alone."""
        for pg in pages:
            if pg in self.cow:
                self.cow.discard(pg)
                self.pages[pg] = self.phys.copy(self.pages[pg])

    def capable(self, cap):
        return cap not in self.caps_dropped

    def mmap(self, length, huge=False):
        """Anonymous memory; `huge` is MAP_HUGETLB | MAP_POPULATE: whole 2 MiB pages."""
        if length == 0:
            raise Errno("EINVAL")
        if huge:
            length = (length + HPAGE - 1) // HPAGE * HPAGE
        n = (length + PAGE - 1) // PAGE
        # Every mapping starts on a 2 MiB boundary, as a THP-friendly allocator would; automatic
        # IOVAs keep the address's alignment, so the cases may rely on at least page alignment.
        addr = (self.next_addr + HPAGE - 1) // HPAGE * HPAGE
        self.next_addr = addr + n * PAGE + HPAGE
        for p, frame in zip(range(addr // PAGE, addr // PAGE + n), self.phys.contiguous(n)):
            self.pages[p] = frame
        if huge:
            self.huge.append((addr, addr + length))
        return addr

    def munmap(self, addr, length):
        if addr % PAGE or length == 0 or addr + length > U64_MAX + 1:
            raise Errno("EINVAL")
        end = addr + length
        # A hugetlb mapping splits only on its 2 MiB boundaries (hugetlb_vm_op_split).
        for start, stop in self.huge:
            for cut in (addr, end):
                if start < cut < stop and cut % HPAGE:
                    raise Errno("EINVAL")
        left = [(start, min(stop, addr)) for start, stop in self.huge if start < addr]
        right = [(max(start, end), stop) for start, stop in self.huge if stop > end]
        self.huge = [(start, stop) for start, stop in left + right if start < stop]
        for p in range(addr // PAGE, (addr + length + PAGE - 1) // PAGE):
            self.pages.pop(p, None)
            self.shared.discard(p)
            self.cow.discard(p)

    def page_range(self, addr, length):
        if length == 0:
            return range(0)
        return range(addr // PAGE, (addr + length - 1) // PAGE + 1)

    def mapped(self, addr, length):
        return all(p in self.pages for p in self.page_range(addr, length))

    def read(self, addr, length):
        if addr + length > U64_MAX + 1 or not self.mapped(addr, length):
            raise Errno("EFAULT")
        out = bytearray()
        while length:
            off = addr % PAGE
            n = min(length, PAGE - off)
            out += self.pages[addr // PAGE].data[off:off + n]
            addr += n
            length -= n
        return bytes(out)

    def write(self, addr, data):
        if addr + len(data) > U64_MAX + 1 or not self.mapped(addr, len(data)):
            raise Errno("EFAULT")
        self.unshare(self.page_range(addr, len(data)))
        i = 0
        while i < len(data):
            off = addr % PAGE
            n = min(len(data) - i, PAGE - off)
            self.pages[addr // PAGE].data[off:off + n] = data[i:i + n]
            addr += n
            i += n


# ---------------------------------------------------------------- IOAS model


class Pages:
    """The pinned-page store of one MAP (a user VA range) or MAP_FILE (a file range), shared by
    COPY. Addresses inside it are in its source's byte space: user VA, or file offset."""

    def __init__(self, base, length, writable, account, mm, frames, is_file):
        self.base = base  # user VA, or file offset, of the first byte
        self.length = length
        self.writable = writable
        self.account = account  # "none" | "user" | "mm", fixed when the MAP creates it
        self.mm = mm  # the Process it was mapped from (source_mm): charged, and pinned from
        self.frames = frames  # the source: page number -> Frame (that process's memory, or a file)
        self.is_file = is_file
        # Pinning a page the source lacks: unmapped user memory is EFAULT, a page past the end
        # of a file EINVAL.
        self.missing_errno = "EINVAL" if is_file else "EFAULT"
        self.pinned = {}  # source page number -> the Frame this store holds pinned
        # len(pinned) - last_npinned: pinned pages the owner holds no charge for. Non-zero only
        # after IOAS_CHANGE_PROCESS could not uncharge a dead MM-mode owner (it had zeroed
        # last_npinned): a pin charges them with the new pages, an unpin releases them first
        # for free (pages.c update_unpinned sees npinned <= last_npinned).
        self.uncharged = 0


class Area:
    def __init__(self, iova, length, pages, start_byte, prot):
        self.iova = iova
        self.length = length
        self.pages = pages
        self.start_byte = start_byte  # offset of the area's first byte inside its pages' range
        self.prot = prot

    @property
    def last(self):
        return self.iova + self.length - 1

    def source_pages(self):
        a = self.pages.base + self.start_byte
        return range(a // PAGE, (a + self.length - 1) // PAGE + 1)

    def source_addr(self, iova):
        return self.pages.base + self.start_byte + (iova - self.iova)


class Ioas:
    kind = "ioas"

    def __init__(self, oid):
        self.id = oid
        self.areas = []  # sorted by iova, disjoint
        self.reserved = []  # (first, last, owner); owner None = test-added
        self.allowed = []  # (first, last), sorted, disjoint
        self.domains = []  # HwptPaging objects, in attach order
        self.accesses = []  # Access objects attached here
        self.disable_large_pages = False
        self.iova_alignment = 1

    def alignment_with(self, domains, disable_large_pages, accesses=None):
        align = PAGE if disable_large_pages else 1
        for d in domains:
            align = max(align, d.min_page_size)
        for a in self.accesses if accesses is None else accesses:
            align = max(align, a.iova_alignment)
        return align

    def contig_segments(self, iova, last):
        """The areas covering [iova, last] without a gap, each with the part it covers, and
        whether they reach `last` (iopt_for_each_contig_area / iopt_area_contig_done)."""
        out = []
        cur = iova
        for a in self.areas:
            if a.last < cur:
                continue
            if a.iova > cur:
                break
            seg_last = min(a.last, last)
            out.append((a, cur, seg_last))
            if seg_last >= last:
                return out, True
            cur = seg_last + 1
        return out, False

    def check_alignment(self, new_alignment):
        """iopt_check_iova_alignment: every area must sit on the new alignment."""
        for a in self.areas:
            if a.iova % new_alignment or a.length % new_alignment or \
                    ((a.pages.base + a.start_byte) % PAGE) % new_alignment:
                raise Errno("EADDRINUSE")

    def area_hits(self, first, last):
        return [a for a in self.areas if overlaps(a.iova, a.last, first, last)]

    def reserved_hit(self, first, last):
        return any(overlaps(f, l, first, last) for f, l, _ in self.reserved)

    def allowed_hit(self, first, last):
        return any(overlaps(f, l, first, last) for f, l in self.allowed)

    def reserve(self, first, last, owner):
        """iopt_reserve_iova: never over an area nor an allowed range."""
        if self.area_hits(first, last) or self.allowed_hit(first, last):
            raise Errno("EADDRINUSE")
        self.reserved.append((first, last, owner))

    def holes(self, spans, window_first, window_last):
        """The gaps of the union of spans inside [window_first, window_last], ascending."""
        out = []
        cur = window_first
        for f, l in sorted(spans):
            if l < cur:
                continue
            if f > window_last:
                break
            if f > cur:
                out.append((cur, f - 1))
            if l >= window_last:
                return out
            cur = max(cur, l + 1)
        if cur <= window_last:
            out.append((cur, window_last))
        return out

    def check_iova(self, iova, length):
        """iopt_check_iova, for a fixed IOVA."""
        if iova & (self.iova_alignment - 1):
            raise Errno("EINVAL")
        last = iova + length - 1
        if last > U64_MAX:
            raise Errno("EOVERFLOW")
        if self.reserved_hit(iova, last):
            raise Errno("EINVAL")
        if self.area_hits(iova, last):
            raise Errno("EEXIST")

    def alloc_iova(self, addr, length):
        """iopt_alloc_iova: first fit, lowest address, keeping the source's alignment."""
        page_offset = addr % PAGE
        if length == 0 or length >= ULONG_MAX // 2:
            raise Errno("EOVERFLOW")
        align = roundup_pow_of_two(length)
        if addr:
            align = min(align, ffs_bit(addr))
        if align >= HPAGE:
            align = HPAGE
        if align < self.iova_alignment:
            raise Errno("EINVAL")
        window = (PAGE, ULONG_MAX - PAGE)
        if self.allowed:
            spans = [(max(f, window[0]), min(l, window[1])) for f, l in self.allowed
                     if overlaps(f, l, window[0], window[1])]
        else:
            spans = [window]
        used = [(a.iova, a.last) for a in self.areas] + [(f, l) for f, l, _ in self.reserved]
        for sf, sl in spans:
            for hf, hl in self.holes(used, sf, sl):
                start = hf + align - 1
                if start > U64_MAX:
                    continue
                start = (start & ~(align - 1)) | page_offset
                if start >= hl or hl - start < length - 1:
                    continue
                return start
        raise Errno("ENOSPC")

    def insert_area(self, area):
        self.areas.append(area)
        self.areas.sort(key=lambda a: a.iova)


class HwptPaging:
    """A HWPT_PAGING: one mock IOMMU domain mirroring its IOAS; automatic (made by attaching a
    device to the IOAS, freed with its last device) or allocated by IOMMU_HWPT_ALLOC."""

    kind = "hwpt_paging"

    def __init__(self, oid, ioas, auto=True):
        self.id = oid
        self.ioas = ioas
        self.auto = auto
        self.devices = []
        self.min_page_size = MOCK_PAGE
        self.aperture = (MOCK_APERTURE_START, MOCK_APERTURE_LAST)
        self.nest_parent = False
        self.dirty_tracking = False
        self.children = []  # the HWPT_NESTED built on it: each holds a reference (DESTROY is EBUSY)


class HwptNested:
    """A HWPT_NESTED of the selftest driver: a user-managed stage 1 over a NEST_PARENT paging
    HWPT (its parent). The mock stage 1 translates nothing; it only keeps MOCK_NESTED_IOTLB_NUM
    IOTLB slots, all set to the `iotlb` value given at allocation, that HWPT_INVALIDATE clears."""

    kind = "hwpt_nested"
    auto = False
    dirty_tracking = False

    def __init__(self, oid, parent, iotlb):
        self.id = oid
        self.parent = parent
        self.devices = []
        self.iotlb = [iotlb] * MOCK_NESTED_IOTLB_NUM


class Device:
    kind = "device"

    def __init__(self, oid, topo_dev):
        self.id = oid
        self.topo = topo_dev
        self.hwpt = None


class Access:
    """An emulated-device access (the selftest's access fd): pins and reads IOVA of one IOAS.
    Its pin items are numbered from 0, as the selftest's next_id."""

    kind = "access"

    def __init__(self, oid, needs_pin):
        self.id = oid
        self.ioas = None
        self.needs_pin = needs_pin
        self.iova_alignment = PAGE if needs_pin else 1
        self.items = []  # dicts: id, iova, length, pins [(Pages, set of user page numbers)]
        self.next_item_id = 0


class TopoDevice:
    def __init__(self, name, model, flags, vf_token=None):
        self.name = name
        self.model = model
        self.no_dirty = "no_dirty" in flags
        self.pasid = "pasid" in flags
        # A VF of a vfio-pci PF with this VF token (32 hex digits), or None.
        self.vf_token = vf_token.replace("-", "").lower() if isinstance(vf_token, str) else None
        self.bound = None  # (Context, Device) while bound


class Context:
    def __init__(self, fd):
        self.fd = fd
        self.objects = {}  # id -> object
        self.account_mm = False
        self.vfio_ioas = None  # the IOAS the VFIO container ioctls act on (IOMMU_VFIO_IOAS)

    def new_id(self):
        i = 1
        while i in self.objects:
            i += 1
        if i > 0x7FFFFFFF:
            raise Errno("ENOSPC")
        return i

    def get(self, oid, kind):
        o = self.objects.get(oid)
        if o is None or (kind is not None and o.kind != kind):
            raise Errno("ENOENT")
        return o


# ---------------------------------------------------------------- the machine


class Machine:
    def __init__(self):
        self.build({"bridges": [], "devices": []})

    def build(self, topology):
        bridges = {}
        for b in topology.get("bridges", []):
            model = (b.get("iommu") or {}).get("model")
            bridges[b.get("name")] = model
        self.devices = {}
        for d in topology.get("devices", []):
            model = bridges.get(d.get("bridge"))
            if model != "mock":
                raise RpcError(-32602, f"device {d.get('name')}: IOMMU model {model!r} is not implemented (only mock)")
            self.devices[d.get("name")] = TopoDevice(d.get("name"), model, d.get("flags") or [], d.get("vf_token"))
        drop = ((topology.get("process") or {}).get("drop")) or []
        self.phys = PhysicalMemory()
        self.initial = Process(1, self.phys, User(), drop)
        self.processes = {1: self.initial}
        self.process = self.initial  # the caller of the request being served
        self.files = {}  # fd -> MemFile: one fd table for every process
        self.temp_memory_limit = TEMP_MEMORY_LIMIT_DEFAULT
        self.contexts = {}
        self.next_fd = 3

    # ------------------------------------------------------------ pinning

    def needed_pins(self, pages_objs, changes):
        """For each pages object, the user pages that domains need in the candidate state:
        every IOAS as it is, except those in `changes` (ioas -> (areas, domains))."""
        need = {id(p): set() for p in pages_objs}
        for ioas in self.all_ioas():
            areas, domains = changes.get(ioas, (ioas.areas, ioas.domains))
            if not domains:
                continue
            for a in areas:
                need[id(a.pages)].update(a.source_pages())
        for acc in self.all_accesses():
            for item in acc.items:
                for pages, pgs in item["pins"]:
                    need[id(pages)].update(pgs)
        return need

    def all_accesses(self):
        return [o for c in self.contexts.values() for o in c.objects.values() if isinstance(o, Access)]

    def all_ioas(self):
        return [o for c in self.contexts.values() for o in c.objects.values() if isinstance(o, Ioas)]

    def all_pages(self, extra_areas=()):
        seen = {}
        for ioas in self.all_ioas():
            for a in ioas.areas:
                seen[id(a.pages)] = a.pages
        for a in extra_areas:
            seen[id(a.pages)] = a.pages
        for acc in self.all_accesses():
            for item in acc.items:
                for pages, _ in item["pins"]:
                    seen[id(pages)] = pages
        return list(seen.values())

    def repin(self, changes, extra_areas=()):
        """Moves to the candidate state `changes` (ioas -> (areas, domains)): pins what it
        newly needs (EFAULT if the user memory is gone, nothing changed), unpins the rest."""
        pages_objs = self.all_pages(extra_areas)
        need = self.needed_pins(pages_objs, changes)
        # Each store charges the mm it was mapped from (and that mm's task's RLIMIT_MEMLOCK):
        # pinned_vm always, locked_vm in MM mode, the user's locked_vm in USER mode.
        user_delta = 0
        user_limit = None
        mm_delta = {}  # Process -> [locked, pinned]
        for p in pages_objs:
            for pg in need[id(p)]:
                if pg not in p.pinned and pg not in p.frames:
                    raise Errno(p.missing_errno)
            n = len(need[id(p)]) - len(p.pinned)
            if n == 0:
                continue
            n = n + p.uncharged if n > 0 else min(0, n + p.uncharged)
            d = mm_delta.setdefault(p.mm, [0, 0])
            d[1] += n
            if p.account == "mm":
                d[0] += n
            elif p.account == "user":
                user_delta += n
                if n > 0 and user_limit is None:
                    user_limit = p.mm.memlock_limit_pages
        # Pinned pages are charged after they are pinned (pages.c): EFAULT comes first.
        if user_delta > 0 and self.initial.user.locked_pages + user_delta > user_limit:
            raise Errno("ENOMEM")
        for mm, (locked, _) in mm_delta.items():
            if locked > 0 and mm.mm_locked_pages + locked > mm.memlock_limit_pages:
                raise Errno("ENOMEM")
        for ioas, (areas, domains) in changes.items():
            ioas.areas = sorted(areas, key=lambda a: a.iova)
            ioas.domains = list(domains)
        for p in pages_objs:
            if not p.is_file:
                p.mm.unshare(pg for pg in need[id(p)] if pg not in p.pinned)  # long-term pins unshare
            n = len(need[id(p)]) - len(p.pinned)
            p.uncharged = 0 if n > 0 else max(0, p.uncharged + n)
            p.pinned = {pg: p.pinned.get(pg) or p.frames[pg] for pg in need[id(p)]}
        self.initial.user.locked_pages += user_delta
        for mm, (locked, pinned) in mm_delta.items():
            mm.mm_locked_pages += locked
            mm.mm_pinned_pages += pinned

    def refcounts(self, addr, length):
        """The pin count of the frame behind each 4 KiB page of user memory: how many page
        stores hold it pinned (a store pins a page once, whoever needs it)."""
        counts = {}
        for p in self.all_pages():
            for frame in p.pinned.values():
                counts[id(frame)] = counts.get(id(frame), 0) + 1
        out = []
        for pg in self.process.page_range(addr, length):
            frame = self.process.pages.get(pg)
            out.append(counts.get(id(frame), 0) if frame is not None else 0)
        return out

    def pinned_frames(self):
        # Distinct frames with a non-zero pin count: a frame two pages stores hold (two areas
        # over the same user page) is one pinned frame, as CHECK_REFS shows it with a count of 2.
        return len({id(frame) for p in self.all_pages() for frame in p.pinned.values()})

    # ------------------------------------------------------------ domains and devices

    def add_domain(self, ioas, hwpt):
        """iopt_table_add_domain: alignment, aperture reservations, then fill (pin)."""
        new_align = max(ioas.iova_alignment, hwpt.min_page_size)
        if new_align > PAGE:
            raise Errno("EINVAL")
        if new_align != ioas.iova_alignment:
            ioas.check_alignment(new_align)
        start, last = hwpt.aperture
        added = []
        try:
            if start != 0:
                ioas.reserve(0, start - 1, hwpt)
                added.append(ioas.reserved[-1])
            if last != ULONG_MAX:
                ioas.reserve(last + 1, ULONG_MAX, hwpt)
                added.append(ioas.reserved[-1])
            self.repin({ioas: (ioas.areas, ioas.domains + [hwpt])})
        except Errno:
            for r in added:
                ioas.reserved.remove(r)
            raise
        ioas.iova_alignment = new_align

    def remove_domain(self, ioas, hwpt):
        ioas.reserved = [r for r in ioas.reserved if r[2] is not hwpt]
        self.repin({ioas: (ioas.areas, [d for d in ioas.domains if d is not hwpt])})
        ioas.iova_alignment = ioas.alignment_with(ioas.domains, ioas.disable_large_pages)

    def detach(self, ctx, dev):
        hwpt = dev.hwpt
        if hwpt is None:
            return
        dev.hwpt = None
        hwpt.devices.remove(dev)
        if hwpt.auto and not hwpt.devices:
            self.destroy_hwpt(ctx, hwpt)

    def destroy_hwpt(self, ctx, hwpt):
        self.remove_domain(hwpt.ioas, hwpt)
        del ctx.objects[hwpt.id]

    def destroy_nested(self, ctx, hwpt):
        hwpt.parent.children.remove(hwpt)
        del ctx.objects[hwpt.id]

    def attach(self, ctx, dev, pt_id):
        obj = ctx.objects.get(pt_id)
        if obj is None:
            raise Errno("ENOENT")
        if isinstance(obj, (HwptPaging, HwptNested)):
            # The mock driver refuses a device without dirty tracking on a dirty-tracking domain.
            if obj.dirty_tracking and dev.topo.no_dirty:
                raise Errno("EINVAL")
            if dev.hwpt is not obj:
                old = dev.hwpt
                obj.devices.append(dev)
                dev.hwpt = obj
                if old is not None:
                    old.devices.remove(dev)
                    if old.auto and not old.devices:
                        self.destroy_hwpt(ctx, old)
            return obj.id
        if isinstance(obj, Ioas):
            # iommufd_device_auto_get_domain: an existing automatic HWPT of the IOAS first
            # (the mock driver accepts every mock device), else a new one.
            for h in obj.domains:
                if h.auto:
                    return self.attach(ctx, dev, h.id)
            hwpt = HwptPaging(ctx.new_id(), obj)
            self.add_domain(obj, hwpt)
            ctx.objects[hwpt.id] = hwpt
            return self.attach(ctx, dev, hwpt.id)
        raise Errno("EINVAL")

    def translate(self, dev, iova, write):
        """A device access through its IOMMU: (fault, area) -- the mock domain mirrors its IOAS,
        so a present IOVA is an area's, and its page is one the area's pages hold pinned."""
        hwpt = dev.hwpt
        if hwpt is None:
            return "blocked", None
        if isinstance(hwpt, HwptNested):
            raise RpcError(-32602, "DMA through a nested HWPT (a guest stage 1) is not modelled")
        first, last = hwpt.aperture
        if iova < first or iova > last:
            return "aperture", None
        for a in hwpt.ioas.areas:
            if a.iova <= iova <= a.last:
                if not a.prot & (MAP_WRITEABLE if write else MAP_READABLE):
                    return "permission", None
                return None, a
        return "not-present", None

    def dma_chunks(self, dev, iova, length, write):
        """Splits a DMA into (frame, offset, n) pieces, or returns the first fault."""
        pieces = []
        while length:
            fault, area = self.translate(dev, iova, write)
            if fault:
                return fault, None
            va = area.source_addr(iova)
            n = min(length, PAGE - va % PAGE, area.last - iova + 1)
            pieces.append((area.pages.pinned[va // PAGE], va % PAGE, n))
            iova += n
            length -= n
        return None, pieces

    def unbind(self, ctx, dev):
        self.detach(ctx, dev)
        del ctx.objects[dev.id]
        dev.topo.bound = None

    def access_unmap(self, ioas, first, last):
        """The access drivers' unmap callback: every pin item touching [first, last] of an
        access on this IOAS is unpinned (the selftest's iommufd_test_access_unmap)."""
        changed = False
        for acc in ioas.accesses:
            keep = [it for it in acc.items if it["iova"] > last or it["iova"] + it["length"] - 1 < first]
            if len(keep) != len(acc.items):
                acc.items = keep
                changed = True
        if changed:
            self.repin({})

    def access_unmap_all(self, acc):
        if acc.items:
            acc.items = []
            self.repin({})

    def destroy_access(self, ctx, acc):
        acc.items = []
        self.repin({})
        if acc.ioas is not None:
            ioas = acc.ioas
            ioas.accesses.remove(acc)
            ioas.iova_alignment = ioas.alignment_with(ioas.domains, ioas.disable_large_pages)
        del ctx.objects[acc.id]

    def close(self, ctx):
        """close(2): accesses and devices go first, then every other object, leaves first."""
        for o in list(ctx.objects.values()):
            if isinstance(o, Access):
                self.destroy_access(ctx, o)
        for o in list(ctx.objects.values()):
            if isinstance(o, Device):
                self.unbind(ctx, o)
        for o in list(ctx.objects.values()):
            if isinstance(o, HwptNested):
                self.destroy_nested(ctx, o)
        for o in list(ctx.objects.values()):
            if isinstance(o, HwptPaging):
                self.destroy_hwpt(ctx, o)
        for o in list(ctx.objects.values()):
            if isinstance(o, Ioas):
                self.repin({o: ([], [])})
                del ctx.objects[o.id]
        del self.contexts[ctx.fd]


# ---------------------------------------------------------------- ioctls


def check_size(arg, sizeof, min_size):
    """The core's extensible-struct rule: size < min -> EINVAL, a non-zero tail -> E2BIG."""
    size = field(arg, "size", 32)
    if size < min_size:
        raise Errno("EINVAL")
    if size > sizeof:
        tail = hex_bytes(arg.get("__trailing", ""), "__trailing")[: size - sizeof]
        if any(tail):
            raise Errno("E2BIG")


def ioctl_destroy(m, ctx, arg):
    oid = field(arg, "id", 32)
    obj = ctx.objects.get(oid)
    if obj is None:
        raise Errno("ENOENT")
    if isinstance(obj, (Device, Access)):
        raise Errno("EBUSY")  # held by its driver until unbind / the access is destroyed
    if isinstance(obj, HwptPaging):
        if obj.devices or obj.children:
            raise Errno("EBUSY")
        m.destroy_hwpt(ctx, obj)
        return {}
    if isinstance(obj, HwptNested):
        if obj.devices:
            raise Errno("EBUSY")
        m.destroy_nested(ctx, obj)
        return {}
    if isinstance(obj, Ioas):
        if obj.domains or obj.accesses:
            raise Errno("EBUSY")
        m.repin({obj: ([], [])})
        del ctx.objects[oid]
        return {}
    raise Errno("ENOENT")


def ioctl_ioas_alloc(m, ctx, arg):
    if field(arg, "flags", 32):
        raise Errno("EOPNOTSUPP")
    ioas = Ioas(ctx.new_id())
    ctx.objects[ioas.id] = ioas
    return {"out_ioas_id": ioas.id}


def read_ranges(m, ptr, count):
    out = []
    for i in range(count):
        raw = m.process.read(ptr + 16 * i, 16)
        out.append((int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")))
    return out


def ioctl_allow_iovas(m, ctx, arg):
    if field(arg, "__reserved", 32):
        raise Errno("EOPNOTSUPP")
    ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
    num = field(arg, "num_iovas", 32)
    ptr = field(arg, "allowed_iovas")
    ranges = []
    for first, last in read_ranges(m, ptr, num):
        if first >= last:
            raise Errno("EINVAL")
        if any(overlaps(f, l, first, last) for f, l in ranges):
            raise Errno("EINVAL")
        ranges.append((first, last))
    for first, last in ranges:
        if ioas.reserved_hit(first, last):
            raise Errno("EADDRINUSE")
    ioas.allowed = sorted(ranges)
    return {}


def ioctl_iova_ranges(m, ctx, arg):
    if field(arg, "__reserved", 32):
        raise Errno("EOPNOTSUPP")
    ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
    capacity = field(arg, "num_iovas", 32)
    ptr = field(arg, "allowed_iovas")
    holes = ioas.holes([(f, l) for f, l, _ in ioas.reserved], 0, ULONG_MAX)
    for i, (f, l) in enumerate(holes[:capacity]):
        m.process.write(ptr + 16 * i, f.to_bytes(8, "little") + l.to_bytes(8, "little"))
    out = {"num_iovas": len(holes), "out_iova_alignment": u64_out(ioas.iova_alignment)}
    if len(holes) > capacity:
        raise Errno("EMSGSIZE", out)  # the struct is copied back before the error
    return out


def map_pages(m, ioas, segments, length, iova, fixed, prot):
    """iopt_map_pages: the IOVA checks, the areas, then the domains filled (pinning)."""
    if length & (ioas.iova_alignment - 1) or length == 0:
        raise Errno("EINVAL")
    if not fixed:
        first_pages, first_start, _ = segments[0]
        iova = ioas.alloc_iova(first_pages.base + first_start, length)
    else:
        ioas.check_iova(iova, length)
    areas = []
    cur = iova
    for pages, start_byte, seg_len in segments:
        if (prot & MAP_WRITEABLE) and not pages.writable:
            raise Errno("EPERM")
        if ((pages.base + start_byte) % PAGE) & (ioas.iova_alignment - 1):
            raise Errno("EINVAL")
        areas.append(Area(cur, seg_len, pages, start_byte, prot))
        cur += seg_len
    m.repin({ioas: (ioas.areas + areas, ioas.domains)}, extra_areas=areas)
    return iova


def account_mode(m, ctx):
    """How new pinned pages are charged: not at all with CAP_IPC_LOCK, else per mm or per user."""
    if m.process.capable("CAP_IPC_LOCK"):
        return "none"
    return "mm" if ctx.account_mm else "user"


def ioctl_map(m, ctx, arg):
    flags = field(arg, "flags", 32)
    if flags & ~MAP_FLAGS or field(arg, "__reserved", 32):
        raise Errno("EOPNOTSUPP")
    iova = field(arg, "iova")
    length = field(arg, "length")
    if iova >= ULONG_MAX or length >= ULONG_MAX:
        raise Errno("EOVERFLOW")
    if not flags & (MAP_READABLE | MAP_WRITEABLE):
        raise Errno("EINVAL")
    ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
    iova = map_user_pages(m, ctx, ioas, field(arg, "user_va"), length, iova, flags & MAP_FIXED_IOVA, flags)
    return {"iova": u64_out(iova)}


def map_user_pages(m, ctx, ioas, uptr, length, iova, fixed, prot):
    """iopt_map_user_pages: a page store over the caller's memory, mapped at iova (or at an
    allocated IOVA); prot holds MAP_WRITEABLE / MAP_READABLE."""
    if uptr + length > U64_MAX:
        raise Errno("EOVERFLOW")
    if length == 0 or length > SIZE_MAX - PAGE:
        raise Errno("EINVAL")
    account = account_mode(m, ctx)
    pages = Pages(uptr, length, bool(prot & MAP_WRITEABLE), account, m.process, m.process.pages, False)
    return map_pages(m, ioas, [(pages, 0, length)], length, iova, fixed, prot)


def ioctl_map_file(m, ctx, arg):
    flags = field(arg, "flags", 32)
    if flags & ~MAP_FLAGS:
        raise Errno("EOPNOTSUPP")
    iova = field(arg, "iova")
    length = field(arg, "length")
    if iova >= ULONG_MAX or length >= ULONG_MAX:
        raise Errno("EOVERFLOW")
    if not flags & (MAP_READABLE | MAP_WRITEABLE):
        raise Errno("EINVAL")
    ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
    # iopt_map_file_pages (v6.19): length and last byte before the fd lookup (v6.13-v6.18
    # looked the fd up first and checked the length after it).
    start = field(arg, "start")
    if length == 0:
        raise Errno("EINVAL")
    if start + length - 1 > U64_MAX:
        raise Errno("EOVERFLOW")
    fd = u64_in(arg.get("fd", 0), "fd") if not (isinstance(arg.get("fd"), int) and arg["fd"] < 0) else -1
    memfile = m.files.get(fd)
    if memfile is None:
        raise Errno("EBADF")
    if length > SIZE_MAX - PAGE:
        raise Errno("EINVAL")
    account = account_mode(m, ctx)
    # The file's size is not checked here (iopt_alloc_file_pages does not): pinning a page
    # past its end -- when a domain or an access needs it -- is EINVAL.
    pages = Pages(start, length, bool(flags & MAP_WRITEABLE), account, m.process, memfile.frames, True)
    iova = map_pages(m, ioas, [(pages, 0, length)], length, iova, flags & MAP_FIXED_IOVA, flags)
    return {"iova": u64_out(iova)}


def ioctl_copy(m, ctx, arg):
    flags = field(arg, "flags", 32)
    if flags & ~MAP_FLAGS:
        raise Errno("EOPNOTSUPP")
    length = field(arg, "length")
    src_iova = field(arg, "src_iova")
    dst_iova = field(arg, "dst_iova")
    if length >= ULONG_MAX or src_iova >= ULONG_MAX or dst_iova >= ULONG_MAX:
        raise Errno("EOVERFLOW")
    if not flags & (MAP_READABLE | MAP_WRITEABLE):
        raise Errno("EINVAL")
    src = ctx.get(field(arg, "src_ioas_id", 32), "ioas")
    # iopt_get_pages: the source range must be covered by contiguous areas.
    if length == 0:
        raise Errno("EINVAL")
    last = src_iova + length - 1
    if last > U64_MAX:
        raise Errno("EOVERFLOW")
    covered, reaches_last = src.contig_segments(src_iova, last)
    if not reaches_last:
        raise Errno("ENOENT")
    segments = [(a.pages, a.start_byte + (first - a.iova), seg_last - first + 1) for a, first, seg_last in covered]
    dst = ctx.get(field(arg, "dst_ioas_id", 32), "ioas")
    iova = map_pages(m, dst, segments, length, dst_iova, flags & MAP_FIXED_IOVA, flags)
    return {"dst_iova": u64_out(iova)}


def ioctl_unmap(m, ctx, arg):
    ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
    iova = field(arg, "iova")
    length = field(arg, "length")
    if iova == 0 and length == U64_MAX:
        first, last = 0, ULONG_MAX
        unmap_all = True
    else:
        unmap_all = False
        if iova >= ULONG_MAX or length >= ULONG_MAX:
            raise Errno("EOVERFLOW")
        if length == 0:
            raise Errno("EINVAL")
        first, last = iova, iova + length - 1
        if last > U64_MAX:
            raise Errno("EOVERFLOW")
    unmapped, failure = unmap_iova_range(m, ioas, first, last)
    if failure:
        raise Errno(failure)
    if unmapped == 0 and not unmap_all:
        raise Errno("ENOENT")
    return {"length": u64_out(unmapped)}


def unmap_iova_range(m, ioas, first, last):
    """iopt_unmap_iova_range: removes every area inside [first, last]; nothing mapped there is
    success. Returns (bytes unmapped, errno or None): an area that straddles the range stops it
    with ENOENT, and the areas removed before stay removed."""
    unmapped = 0
    for a in list(ioas.areas):
        if not overlaps(a.iova, a.last, first, last):
            continue
        if a.iova < first or a.last > last:
            return unmapped, "ENOENT"
        m.access_unmap(ioas, a.iova, a.last)
        m.repin({ioas: ([x for x in ioas.areas if x is not a], ioas.domains)})
        unmapped += a.length
    return unmapped, None


def needs_charge_move(pages, caller):
    """ioas.c need_charge_update: an uncharged store never moves; an MM-mode store moves when
    it belongs to another mm; a USER-mode one also when the user differs (it counts in the mm's
    pinned_vm as well)."""
    if pages.account == "none":
        return False
    if pages.account == "mm":
        return pages.mm is not caller
    return pages.mm.user is not caller.user or pages.mm is not caller


def ioctl_change_process(m, ctx, arg):
    """IOMMU_IOAS_CHANGE_PROCESS: every store behind an area of every IOAS of this context moves
    to the calling process. Only file stores can (a user-VA store is tied to its address space:
    EINVAL); the caller is charged for all of them first (what each has charged: last_npinned),
    against its own RLIMIT_MEMLOCK (ENOMEM leaves everything as it was, except that every store
    has its charge resynced to its pinned count), then each old owner is uncharged the store's
    pinned count. An MM-mode owner whose process exited cannot be (no mmget on a dead mm): its
    store keeps nothing charged, the stores move anyway and the call ends in EINVAL."""
    if field(arg, "__reserved", 32):
        raise Errno("EOPNOTSUPP")
    caller = m.process
    stores = {}
    for o in ctx.objects.values():
        if isinstance(o, Ioas):
            for a in o.areas:
                if not a.pages.is_file:
                    raise Errno("EINVAL")
                stores[id(a.pages)] = a.pages
    moving = [p for p in stores.values() if needs_charge_move(p, caller)]
    user_pages = sum(len(p.pinned) - p.uncharged for p in moving if p.account == "user")
    mm_pages = sum(len(p.pinned) - p.uncharged for p in moving if p.account == "mm")
    # charge_current goes mode by mode (USER before MM) and undoes on failure: check both first.
    if (user_pages and caller.user.locked_pages + user_pages > caller.memlock_limit_pages) or \
            (mm_pages and caller.mm_locked_pages + mm_pages > caller.memlock_limit_pages):
        for p in stores.values():
            p.uncharged = 0
        raise Errno("ENOMEM")
    caller.user.locked_pages += user_pages
    caller.mm_locked_pages += mm_pages
    caller.mm_pinned_pages += user_pages + mm_pages
    failed = False
    for p in moving:
        n = len(p.pinned)
        if p.account == "mm" and not p.mm.alive:
            failed = True
            p.uncharged = n
            continue
        p.uncharged = 0
        p.mm.mm_pinned_pages -= n
        if p.account == "user":
            p.mm.user.locked_pages -= n
        else:
            p.mm.mm_locked_pages -= n
    for p in stores.values():
        p.mm = caller
    if failed:
        raise Errno("EINVAL")
    return {}


def ioctl_option(m, ctx, arg):
    if field(arg, "__reserved", 16):
        raise Errno("EOPNOTSUPP")
    option_id = field(arg, "option_id", 32)
    op = field(arg, "op", 16)
    object_id = field(arg, "object_id", 32)
    val = field(arg, "val64")
    if option_id == OPTION_RLIMIT_MODE:
        if object_id:
            raise Errno("EOPNOTSUPP")
        if op == OPTION_OP_GET:
            return {"val64": 1 if ctx.account_mm else 0}
        if op == OPTION_OP_SET:
            if "CAP_SYS_RESOURCE" in m.process.caps_dropped:
                raise Errno("EPERM")
            if ctx.objects:
                raise Errno("EBUSY")
            if val not in (0, 1):
                raise Errno("EINVAL")
            ctx.account_mm = val == 1
            return {"val64": u64_out(val)}
        raise Errno("EOPNOTSUPP")
    if option_id == OPTION_HUGE_PAGES:
        ioas = ctx.get(object_id, "ioas")
        if op == OPTION_OP_GET:
            return {"val64": 0 if ioas.disable_large_pages else 1}
        if op == OPTION_OP_SET:
            if val == 0:
                disable_large_pages(ioas)
                return {"val64": 0}
            if val == 1:
                ioas.disable_large_pages = False
                ioas.iova_alignment = ioas.alignment_with(ioas.domains, False)
                return {"val64": 1}
            raise Errno("EINVAL")
        raise Errno("EOPNOTSUPP")
    raise Errno("EOPNOTSUPP")


def disable_large_pages(ioas):
    """iopt_disable_large_pages: IOVA alignment becomes at least PAGE; refused once domains
    hold mappings, or when an area is not on the new alignment."""
    if ioas.disable_large_pages:
        return
    if ioas.domains and ioas.areas:
        raise Errno("EINVAL")
    new_align = ioas.alignment_with(ioas.domains, True)
    if new_align > PAGE:
        raise Errno("EINVAL")
    if new_align != ioas.iova_alignment:
        ioas.check_alignment(new_align)
    ioas.disable_large_pages = True
    ioas.iova_alignment = new_align


HWPT_ALLOC_NEST_PARENT = 1 << 0
HWPT_ALLOC_DIRTY_TRACKING = 1 << 1
HWPT_FAULT_ID_VALID = 1 << 2
HWPT_ALLOC_PASID = 1 << 3


def ioctl_hwpt_alloc(m, ctx, arg):
    """IOMMU_HWPT_ALLOC in hw_pagetable.c's order: a HWPT_PAGING over an IOAS, or a selftest
    HWPT_NESTED over a NEST_PARENT paging HWPT (the mock driver's checks and payload)."""
    if field(arg, "__reserved", 32):
        raise Errno("EOPNOTSUPP")
    flags = field(arg, "flags", 32)
    data_type = field(arg, "data_type", 32)
    data_len = field(arg, "data_len", 32)
    if (data_type == 0) != (data_len == 0):
        raise Errno("EINVAL")
    dev = ctx.get(field(arg, "dev_id", 32), "device")
    pt = ctx.objects.get(field(arg, "pt_id", 32))
    if pt is None:
        raise Errno("EINVAL")
    if isinstance(pt, Ioas):
        valid = HWPT_ALLOC_NEST_PARENT | HWPT_ALLOC_DIRTY_TRACKING | HWPT_FAULT_ID_VALID | HWPT_ALLOC_PASID
        if flags & ~valid:
            raise Errno("EOPNOTSUPP")
        if flags & HWPT_ALLOC_DIRTY_TRACKING and dev.topo.no_dirty:
            raise Errno("EOPNOTSUPP")
        if flags & HWPT_FAULT_ID_VALID and flags & HWPT_ALLOC_NEST_PARENT:
            raise Errno("EOPNOTSUPP")
        if data_len:
            raise RpcError(-32602, "IOMMU_HWPT_ALLOC: driver data for a paging HWPT is not modelled")
        if flags & HWPT_FAULT_ID_VALID:
            # No FAULT object can exist here (no `fault` capability), so the lookup that
            # follows a successful allocation always fails; nothing is left behind.
            ctx.get(field(arg, "fault_id", 32), "fault")
        hwpt = HwptPaging(ctx.new_id(), pt, auto=False)
        hwpt.nest_parent = bool(flags & HWPT_ALLOC_NEST_PARENT)
        hwpt.dirty_tracking = bool(flags & HWPT_ALLOC_DIRTY_TRACKING)
        m.add_domain(pt, hwpt)
        ctx.objects[hwpt.id] = hwpt
        return {"out_hwpt_id": hwpt.id}
    if isinstance(pt, HwptPaging):
        # iommufd_hwpt_nested_alloc, then the mock driver's nested allocation.
        if flags & ~(HWPT_FAULT_ID_VALID | HWPT_ALLOC_PASID) or not data_len:
            raise Errno("EOPNOTSUPP")
        if pt.auto or not pt.nest_parent:
            raise Errno("EINVAL")
        iotlb = selftest_nested_data(m, data_type, data_len, field(arg, "data_uptr"))
        if flags & HWPT_FAULT_ID_VALID:
            ctx.get(field(arg, "fault_id", 32), "fault")  # no FAULT object exists: ENOENT
        hwpt = HwptNested(ctx.new_id(), pt, iotlb)
        pt.children.append(hwpt)
        ctx.objects[hwpt.id] = hwpt
        return {"out_hwpt_id": hwpt.id}
    # A nested HWPT (or any other object) cannot be a parent.
    raise Errno("EINVAL")


HWPT_DATA_SELFTEST = 0xDEAD
HWPT_INVALIDATE_DATA_SELFTEST = 0xDEADBEEF
MOCK_NESTED_IOTLB_NUM = 4  # iotlb ids 0..3
TEST_INVALIDATE_FLAG_ALL = 1 << 0
# struct iommu_hwpt_selftest {iotlb u32, pagetable_type u32}: min_len offsetofend(iotlb).
SELFTEST_DATA_SIZE, SELFTEST_DATA_MIN = 8, 4
# struct iommu_hwpt_invalidate_selftest {flags u32, iotlb_id u32}: min_len offsetofend(iotlb_id).
SELFTEST_INV_SIZE = 8


def copy_driver_struct(m, uptr, user_len, ksize, min_len):
    """iommu_copy_struct_from_user after its type check: a user length below the first version
    or above the kernel's struct is EINVAL (never E2BIG), then copy_struct_from_user reads
    user_len bytes (EFAULT when unmapped) and zero-fills up to ksize."""
    if user_len < min_len or user_len > ksize:
        raise Errno("EINVAL")
    return m.process.read(uptr, user_len) + bytes(ksize - user_len)


def selftest_nested_data(m, data_type, data_len, uptr):
    """The mock driver's nested payload: another type is EOPNOTSUPP; returns the iotlb value."""
    if data_type != HWPT_DATA_SELFTEST:
        raise Errno("EOPNOTSUPP")
    data = copy_driver_struct(m, uptr, data_len, SELFTEST_DATA_SIZE, SELFTEST_DATA_MIN)
    return int.from_bytes(data[0:4], "little")


def ioctl_hwpt_invalidate(m, ctx, arg):
    """iommufd_hwpt_invalidate: on every failure past the size checks the struct is copied back
    with entry_num = the entries handled before it (0 when the driver was not reached)."""
    entry_num = field(arg, "entry_num", 32)
    done = 0
    try:
        if field(arg, "__reserved", 32):
            raise Errno("EOPNOTSUPP")
        uptr = field(arg, "data_uptr")
        entry_len = field(arg, "entry_len", 32)
        if entry_num and (not uptr or not entry_len):
            raise Errno("EINVAL")
        hwpt = ctx.get(field(arg, "hwpt_id", 32), None)
        if not isinstance(hwpt, HwptNested):
            raise Errno("EINVAL")  # a paging HWPT (or any other object): no user cache to flush
        # mock_domain_cache_invalidate_user: entries in order, each applied before the next is read.
        if field(arg, "data_type", 32) != HWPT_INVALIDATE_DATA_SELFTEST:
            raise Errno("EINVAL")
        for i in range(entry_num):
            entry = copy_driver_struct(m, uptr + i * entry_len, entry_len, SELFTEST_INV_SIZE, SELFTEST_INV_SIZE)
            flags = int.from_bytes(entry[0:4], "little")
            iotlb_id = int.from_bytes(entry[4:8], "little")
            if flags & ~TEST_INVALIDATE_FLAG_ALL:
                raise Errno("EOPNOTSUPP")
            if iotlb_id >= MOCK_NESTED_IOTLB_NUM:
                raise Errno("EINVAL")
            if flags & TEST_INVALIDATE_FLAG_ALL:
                hwpt.iotlb = [0] * MOCK_NESTED_IOTLB_NUM
            else:
                hwpt.iotlb[iotlb_id] = 0
            done += 1
    except Errno as e:
        raise Errno(e.name, {**arg, "entry_num": done}) from None
    return {"entry_num": done}


HW_INFO_FLAG_INPUT_TYPE = 1 << 0
HW_INFO_TYPE_DEFAULT = 0
HW_INFO_TYPE_SELFTEST = 0xFEEDBEEF
HW_INFO_SELFTEST_REGVAL = 0xDEADBEEF
HW_CAP_DIRTY_TRACKING = 1 << 0
HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3
MOCK_PASID_WIDTH = 20


def ioctl_get_hw_info(m, ctx, arg):
    """device.c iommufd_get_hw_info for a mock device: struct iommu_test_hw_info {flags 0,
    test_reg 0xdeadbeef}, copied up to data_len, the rest of the buffer zeroed."""
    flags = field(arg, "flags", 32)
    if flags & ~HW_INFO_FLAG_INPUT_TYPE:
        raise Errno("EOPNOTSUPP")
    in_type = field(arg, "in_data_type", 32) if flags & HW_INFO_FLAG_INPUT_TYPE else HW_INFO_TYPE_DEFAULT
    reserved = arg.get("__reserved", [])
    if any(u64_in(x, "__reserved") for x in (reserved if isinstance(reserved, list) else [reserved])):
        raise Errno("EOPNOTSUPP")
    dev = ctx.get(field(arg, "dev_id", 32), "device")
    if in_type not in (HW_INFO_TYPE_DEFAULT, HW_INFO_TYPE_SELFTEST):
        raise Errno("EOPNOTSUPP")
    data = (0).to_bytes(4, "little") + HW_INFO_SELFTEST_REGVAL.to_bytes(4, "little")
    user_len = field(arg, "data_len", 32)
    ptr = field(arg, "data_uptr")
    copy_len = min(user_len, len(data))
    if user_len:
        m.process.write(ptr, data[:copy_len] + bytes(user_len - copy_len))
    caps = HW_CAP_PCI_ATS_NOT_SUPPORTED  # a mock device is no PCI function with ATS
    if not dev.topo.no_dirty:
        caps |= HW_CAP_DIRTY_TRACKING
    out = {"data_len": len(data), "out_data_type": HW_INFO_TYPE_SELFTEST,
           "out_max_pasid_log2": MOCK_PASID_WIDTH if dev.topo.pasid else 0}
    if field(arg, "size", 32) >= 40:
        out["out_capabilities"] = caps
    return out


def vfio_device(m, ctx, arg):
    name = arg.get("device")
    dev = m.devices.get(name) if isinstance(name, str) else None
    if dev is None:
        raise Errno("ENODEV")
    return dev


VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0


def vfio_bind(m, ctx, arg):
    # device_cdev.c vfio_df_ioctl_bind_iommufd (v6.17+, ksize fixed in v6.18): the 24-byte
    # struct is copied with copy_struct_from_user (non-zero bytes past it: E2BIG; fields past
    # argsz read zero), then iommufd < 0 or unknown flags: EINVAL, then bound twice: EINVAL,
    # then the VF token (vfio_df_check_token, vfio-pci's vfio_pci_validate_vf_token).
    argsz = field(arg, "argsz", 32)
    if any(hex_bytes(arg.get("__trailing", ""), "__trailing")):
        raise Errno("E2BIG")
    flags = field(arg, "flags", 32)
    raw_fd = arg.get("iommufd", 0)
    negative = isinstance(raw_fd, int) and raw_fd < 0
    if negative or field(arg, "iommufd", 32) >> 31 or flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN:
        raise Errno("EINVAL")
    dev = vfio_device(m, ctx, arg)
    if dev.bound is not None:
        raise Errno("EINVAL")
    given = None
    if flags & VFIO_DEVICE_BIND_FLAG_TOKEN:
        ptr = field(arg, "token_uuid_ptr") if argsz >= 24 else 0
        given = m.process.read(ptr, 16).hex()
    if dev.vf_token is None:
        if given is not None:
            raise Errno("EINVAL")  # "not a PF or VF" / "PF not bound to vfio-pci"
    elif given != dev.vf_token:
        raise Errno("EACCES")  # "VF token required" / "Incorrect VF token"
    obj = Device(ctx.new_id(), dev)
    ctx.objects[obj.id] = obj
    dev.bound = (ctx, obj)
    return {"out_devid": obj.id}


def bound_device(m, ctx, arg):
    dev = vfio_device(m, ctx, arg)
    if dev.bound is None or dev.bound[0] is not ctx:
        raise Errno("EINVAL")
    return dev.bound[1]


def vfio_attach(m, ctx, arg):
    if field(arg, "flags", 32):
        raise Errno("EINVAL")  # PASID attach is not modelled
    obj = bound_device(m, ctx, arg)
    return {"pt_id": m.attach(ctx, obj, field(arg, "pt_id", 32))}


def vfio_detach(m, ctx, arg):
    if field(arg, "flags", 32):
        raise Errno("EINVAL")
    obj = bound_device(m, ctx, arg)
    m.detach(ctx, obj)
    return {}


# ---------------------------------------------------------------- VFIO type1 container compatibility
# vfio_compat.c: a /dev/iommu fd answers the VFIO container ioctls, acting on the context's
# compat IOAS. They carry `argsz` instead of `size` and check it themselves (argsz < minsz ->
# EINVAL, before the compat IOAS is looked up); the ioctl's return value travels as `ret`.

VFIO_API_VERSION = 0
VFIO_TYPE1_IOMMU = 1
VFIO_TYPE1v2_IOMMU = 3
VFIO_DMA_CC_IOMMU = 4
VFIO_UNMAP_ALL = 9
VFIO_DMA_MAP_FLAG_READ = 1 << 0
VFIO_DMA_MAP_FLAG_WRITE = 1 << 1
VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1
VFIO_IOMMU_INFO_PGSIZES = 1 << 0
VFIO_IOMMU_INFO_CAPS = 1 << 1
VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1
VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3
VFIO_INFO_SIZEOF = 24  # struct vfio_iommu_type1_info: argsz, flags, iova_pgsizes, cap_offset, pad
VFIO_INFO_MINSZ = 16  # offsetofend(iova_pgsizes): the pre-capability ABI
VFIO_IOAS_GET, VFIO_IOAS_SET, VFIO_IOAS_CLEAR = 0, 1, 2
# Request numbers _IO(';', 100 + n) of the container commands vfio_compat.c answers (the others,
# ENABLE/DISABLE/DIRTY_PAGES included, are ENOTTY); RAW_IOCTL wants them by name.
VFIO_CONTAINER_NRS = {100 + n for n in (0, 1, 2, 12, 13, 14)}


def compat_ioas(ctx):
    """get_compat_ioas: ENODEV when none is set or it has been destroyed since."""
    ioas = ctx.vfio_ioas
    if ioas is None or ctx.objects.get(ioas.id) is not ioas:
        raise Errno("ENODEV")
    return ioas


def ioctl_vfio_ioas(m, ctx, arg):
    if field(arg, "__reserved", 16):
        raise Errno("EOPNOTSUPP")
    op = field(arg, "op", 16)
    if op == VFIO_IOAS_GET:
        return {"ioas_id": compat_ioas(ctx).id}
    if op == VFIO_IOAS_SET:
        ctx.vfio_ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")  # looked up before the swap
        return {}
    if op == VFIO_IOAS_CLEAR:
        ctx.vfio_ioas = None
        return {}
    raise Errno("EOPNOTSUPP")


def vfio_get_api_version(m, ctx, arg):
    return {"__ret": VFIO_API_VERSION}


def vfio_check_extension(m, ctx, arg):
    kind = field(arg, "type")
    if kind in (VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL):
        return {"__ret": 1}  # no no-IOMMU mode is modelled
    if kind == VFIO_DMA_CC_IOMMU:
        # iommufd_vfio_cc_iommu: 1 unless a domain of the compat IOAS does not enforce cache
        # coherency; a mock device lacks IOMMU_CAP_ENFORCE_COHERENCY, so no mock domain does.
        return {"__ret": 0 if compat_ioas(ctx).domains else 1}
    # VFIO_NOIOMMU_IOMMU (CONFIG_VFIO_NOIOMMU taken as off), the nesting type, UPDATE_VADDR and
    # every unknown extension.
    return {"__ret": 0}


def vfio_set_iommu(m, ctx, arg):
    kind = field(arg, "type")
    if kind not in (VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU):
        raise Errno("EINVAL")
    ioas = compat_ioas(ctx)
    # TYPE1 may unmap inside a mapping, which large IOPTEs could not honour: turn them off.
    if kind == VFIO_TYPE1_IOMMU:
        disable_large_pages(ioas)
    return {"__ret": 0}


def vfio_pgsizes(ioas):
    """iommufd_get_pagesizes: the page sizes every domain has, sub-CPU-page sizes folded into
    PAGE (vfio_update_pgsize_bitmap), at least the IOVA alignment."""
    bitmap = U64_MAX
    for _ in ioas.domains:
        bitmap &= MOCK_PAGE  # the mock domain's pgsize_bitmap
    if bitmap & (PAGE - 1):
        bitmap = (bitmap & ~(PAGE - 1)) | PAGE
    return max(bitmap, ioas.iova_alignment)


def vfio_iommu_get_info(m, ctx, arg):
    """iommufd_vfio_iommu_get_info over the caller's buffer as bytes: the struct, then the
    capability chain (DMA_AVAIL, then IOVA_RANGE, each starting 8-byte aligned). Nothing is
    written at or past argsz: a capability (and a range of IOVA_RANGE) only when it fits whole,
    a chain link only when the next capability's offset is inside argsz, the struct cut at argsz."""
    argsz = field(arg, "argsz", 32)
    if argsz < VFIO_INFO_MINSZ:
        raise Errno("EINVAL")
    ioas = compat_ioas(ctx)
    buf = bytearray(struct_bytes(arg, [("argsz", 0, 4), ("flags", 4, 4), ("iova_pgsizes", 8, 8),
                                       ("cap_offset", 16, 4), ("pad", 20, 4)], VFIO_INFO_SIZEOF))
    buf.extend(hex_bytes(arg.get("__trailing", ""), "__trailing"))
    if len(buf) < argsz:
        buf.extend(bytes(argsz - len(buf)))

    def put(offset, data):
        assert offset + len(data) <= argsz  # the kernel never writes past argsz
        buf[offset:offset + len(data)] = data

    def le(v, n):
        return v.to_bytes(n, "little")

    def cap_header(cap_id, nxt=0):
        return le(cap_id, 2) + le(1, 2) + le(nxt, 4)  # id, version 1, next

    def fill_dma_avail(at, avail):
        if avail >= 12:
            put(at, cap_header(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) + le(0xFFFFFFFF, 4))
        return 12

    def fill_iova_range(at, avail):
        holes = ioas.holes([(f, l) for f, l, _ in ioas.reserved], 0, ULONG_MAX)
        for i, (first, last) in enumerate(holes):
            if avail >= 16 + 16 * (i + 1):
                put(at + 16 + 16 * i, le(first, 8) + le(last, 8))
        if avail >= 16 + 16 * len(holes):
            put(at, cap_header(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) + le(len(holes), 4) + le(0, 4))
        return 16 + 16 * len(holes)

    total = VFIO_INFO_SIZEOF
    last_cap = None
    for fill in (fill_dma_avail, fill_iova_range):
        size = fill(total, argsz - total if argsz > total else 0)
        size = (size + 7) & ~7
        if last_cap is not None and argsz >= total:
            put(last_cap + 4, le(total, 4))
        last_cap = total
        total += size
    info = le(total, 4) + le(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, 4) + \
        le(vfio_pgsizes(ioas), 8) + le(VFIO_INFO_SIZEOF if argsz >= total else 0, 4) + le(0, 4)
    put(0, info[:min(argsz, VFIO_INFO_SIZEOF)])
    out = {
        "argsz": int.from_bytes(buf[0:4], "little"),
        "flags": int.from_bytes(buf[4:8], "little"),
        "iova_pgsizes": u64_out(int.from_bytes(buf[8:16], "little")),
        "cap_offset": int.from_bytes(buf[16:20], "little"),
        "pad": int.from_bytes(buf[20:24], "little"),
    }
    if len(buf) > VFIO_INFO_SIZEOF:
        out["__trailing"] = bytes(buf[VFIO_INFO_SIZEOF:]).hex()
    return out


def vfio_map_dma(m, ctx, arg):
    flags = field(arg, "flags", 32)
    if field(arg, "argsz", 32) < 32 or flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE):
        raise Errno("EINVAL")
    ioas = compat_ioas(ctx)
    prot = (MAP_READABLE if flags & VFIO_DMA_MAP_FLAG_READ else 0) | \
        (MAP_WRITEABLE if flags & VFIO_DMA_MAP_FLAG_WRITE else 0)
    map_user_pages(m, ctx, ioas, field(arg, "vaddr"), field(arg, "size"), field(arg, "iova"), True, prot)
    return {}


def area_split(m, ioas, area, iova):
    """iopt_area_split: `iova` becomes the last byte of a new left part; both parts keep the
    same page store. A split at the area's own first or last byte is a no-op."""
    if iova == area.iova or iova == area.last:
        return
    align = ioas.iova_alignment
    new_start = iova + 1
    if new_start & (align - 1) or area.source_addr(new_start) & (align - 1):
        raise Errno("EINVAL")
    # Pins of an access are not tracked per area, so an area they touch cannot be split.
    if any(overlaps(it["iova"], it["iova"] + it["length"] - 1, area.iova, area.last)
           for acc in ioas.accesses for it in acc.items):
        raise Errno("EINVAL")
    # A domain may hold it in large IOPTEs unless large pages are off.
    if ioas.domains and not ioas.disable_large_pages:
        raise Errno("EINVAL")
    left = Area(area.iova, new_start - area.iova, area.pages, area.start_byte, area.prot)
    right = Area(new_start, area.last - iova, area.pages, area.start_byte + (new_start - area.iova), area.prot)
    ioas.areas.remove(area)
    ioas.insert_area(left)
    ioas.insert_area(right)


def cut_iova(m, ioas, iovas):
    """iopt_cut_iova: split the area holding each IOVA there, in order; the first refusal stops
    it and the splits already made stay."""
    for iova in iovas:
        hit = [a for a in ioas.areas if a.iova <= iova <= a.last]
        if hit:
            area_split(m, ioas, hit[0], iova)


def vfio_unmap_dma(m, ctx, arg):
    flags = field(arg, "flags", 32)
    if field(arg, "argsz", 32) < 24 or flags & ~VFIO_DMA_UNMAP_FLAG_ALL:
        raise Errno("EINVAL")
    ioas = compat_ioas(ctx)
    iova = field(arg, "iova")
    size = field(arg, "size")
    if flags & VFIO_DMA_UNMAP_FLAG_ALL:
        if iova or size:
            raise Errno("EINVAL")
        unmapped, failure = unmap_iova_range(m, ioas, 0, ULONG_MAX)
    else:
        if ioas.disable_large_pages:
            # TYPE1: cut at the range's last byte and just before its first (not before 0).
            cuts = [(iova + size - 1) & U64_MAX] + ([iova - 1] if iova else [])
            cut_iova(m, ioas, cuts)
        if size == 0:
            unmapped, failure = 0, "EINVAL"
        elif iova + size - 1 > U64_MAX:
            unmapped, failure = 0, "EOVERFLOW"
        else:
            unmapped, failure = unmap_iova_range(m, ioas, iova, iova + size - 1)
    out = {"size": u64_out(unmapped)}
    if failure:
        raise Errno(failure, out)  # the struct goes back with the size unmapped so far
    return out


def struct_bytes(arg, layout, sizeof):
    raw = bytearray(sizeof)
    for name, off, n in layout:
        raw[off:off + n] = field(arg, name, 8 * n).to_bytes(n, "little")
    return raw


VFIO_CONTAINER_HANDLERS = {
    "VFIO_GET_API_VERSION": vfio_get_api_version,
    "VFIO_CHECK_EXTENSION": vfio_check_extension,
    "VFIO_SET_IOMMU": vfio_set_iommu,
    "VFIO_IOMMU_GET_INFO": vfio_iommu_get_info,
    "VFIO_IOMMU_MAP_DMA": vfio_map_dma,
    "VFIO_IOMMU_UNMAP_DMA": vfio_unmap_dma,
}


HANDLERS = {
    "IOMMU_DESTROY": ioctl_destroy,
    "IOMMU_IOAS_ALLOC": ioctl_ioas_alloc,
    "IOMMU_IOAS_ALLOW_IOVAS": ioctl_allow_iovas,
    "IOMMU_IOAS_COPY": ioctl_copy,
    "IOMMU_IOAS_IOVA_RANGES": ioctl_iova_ranges,
    "IOMMU_IOAS_MAP": ioctl_map,
    "IOMMU_IOAS_UNMAP": ioctl_unmap,
    "IOMMU_OPTION": ioctl_option,
    "IOMMU_HWPT_ALLOC": ioctl_hwpt_alloc,
    "IOMMU_HWPT_INVALIDATE": ioctl_hwpt_invalidate,
    "IOMMU_IOAS_MAP_FILE": ioctl_map_file,
    "IOMMU_GET_HW_INFO": ioctl_get_hw_info,
    "IOMMU_IOAS_CHANGE_PROCESS": ioctl_change_process,
    "IOMMU_VFIO_IOAS": ioctl_vfio_ioas,
    "VFIO_DEVICE_BIND_IOMMUFD": vfio_bind,
    "VFIO_DEVICE_ATTACH_IOMMUFD_PT": vfio_attach,
    "VFIO_DEVICE_DETACH_IOMMUFD_PT": vfio_detach,
}


def do_ioctl(m, ctx, cmd, arg):
    if cmd in IOMMUFD_CMDS:
        _, sizeof, min_size = IOMMUFD_CMDS[cmd]
        check_size(arg, sizeof, min_size)
        size = field(arg, "size", 32)
        late = {k: 0 for k, off in LATE_FIELDS.get(cmd, {}).items() if off >= size}
        if late:
            arg = {**arg, **late}
    elif cmd in VFIO_CMDS:
        if field(arg, "argsz", 32) < VFIO_CMDS[cmd][1]:
            raise Errno("EINVAL")
    elif cmd in VFIO_CONTAINER_HANDLERS:
        return VFIO_CONTAINER_HANDLERS[cmd](m, ctx, arg)
    else:
        raise Errno("ENOTTY")
    return HANDLERS[cmd](m, ctx, arg)


# Byte layouts (name, offset, bytes) of the structs RAW_IOCTL may carry, from iommufd.h.
U32 = 4
LAYOUTS = {
    "IOMMU_DESTROY": [("size", 0, U32), ("id", 4, U32)],
    "IOMMU_IOAS_ALLOC": [("size", 0, U32), ("flags", 4, U32), ("out_ioas_id", 8, U32)],
    "IOMMU_IOAS_ALLOW_IOVAS": [("size", 0, U32), ("ioas_id", 4, U32), ("num_iovas", 8, U32),
                               ("__reserved", 12, U32), ("allowed_iovas", 16, 8)],
    "IOMMU_IOAS_COPY": [("size", 0, U32), ("flags", 4, U32), ("dst_ioas_id", 8, U32), ("src_ioas_id", 12, U32),
                        ("length", 16, 8), ("dst_iova", 24, 8), ("src_iova", 32, 8)],
    "IOMMU_IOAS_IOVA_RANGES": [("size", 0, U32), ("ioas_id", 4, U32), ("num_iovas", 8, U32), ("__reserved", 12, U32),
                               ("allowed_iovas", 16, 8), ("out_iova_alignment", 24, 8)],
    "IOMMU_IOAS_MAP": [("size", 0, U32), ("flags", 4, U32), ("ioas_id", 8, U32), ("__reserved", 12, U32),
                       ("user_va", 16, 8), ("length", 24, 8), ("iova", 32, 8)],
    "IOMMU_IOAS_UNMAP": [("size", 0, U32), ("ioas_id", 4, U32), ("iova", 8, 8), ("length", 16, 8)],
    "IOMMU_OPTION": [("size", 0, U32), ("option_id", 4, U32), ("op", 8, 2), ("__reserved", 10, 2),
                     ("object_id", 12, U32), ("val64", 16, 8)],
}


def raw_ioctl(m, ctx, arg):
    """RAW_IOCTL: a request number with raw struct bytes (or a bare pointer), dispatched as
    main.c does: numbers outside the iommufd table go to the VFIO compat handler (ENOTTY but
    for its container commands, which must come by name), then `size` is read (EFAULT), then the full request must match (ENOTTY)."""
    request = u64_in(arg.get("request"), "request")
    nr = request & 0xFF
    table = {n: name for name, (n, _, _) in IOMMUFD_CMDS.items()}
    if nr < 0x80 or nr > 0x94:
        if request == (IOMMUFD_TYPE << 8) | nr and nr in VFIO_CONTAINER_NRS:
            raise RpcError(-32602, "RAW_IOCTL of a VFIO container command: pass it by name")
        raise Errno("ENOTTY")
    if "bytes" in arg:
        raw = hex_bytes(arg["bytes"], "bytes")
    else:
        argp = u64_in(arg.get("argp", 0), "argp")
        if argp == 0 or not m.process.mapped(argp, 4):
            raise Errno("EFAULT")
        raise RpcError(-32602, "RAW_IOCTL through a valid pointer: pass bytes")
    if len(raw) < 4:
        raise Errno("EFAULT")
    if request != (IOMMUFD_TYPE << 8) | nr or nr not in table:
        raise Errno("ENOTTY")
    cmd = table[nr]
    if cmd not in LAYOUTS:
        raise RpcError(-32602, f"RAW_IOCTL of {cmd}: pass it by name")
    size = int.from_bytes(raw[:4], "little")
    if size > len(raw):
        raise Errno("EFAULT")
    sizeof = IOMMUFD_CMDS[cmd][1]
    fields = {name: int.from_bytes(raw[off:off + n], "little") if off + n <= size else 0
              for name, off, n in LAYOUTS[cmd]}
    if size > sizeof:
        fields["__trailing"] = raw[sizeof:size].hex()
    out = {**fields, **do_ioctl(m, ctx, cmd, fields)}
    return {k: (u64_out(v) if isinstance(v, int) else v) for k, v in out.items() if k != "__trailing"}


# ---------------------------------------------------------------- test hooks


def hook(m, fd, op, arg):
    p = m.process
    if op == "MMAP":
        length = u64_in(arg.get("length"), "length")
        if "fd" in arg:
            memfile = m.files.get(arg.get("fd"))
            if memfile is None:
                raise Errno("EBADF")
            offset = u64_in(arg.get("offset", 0), "offset")
            private = bool(arg.get("private", False))
            return {"addr": u64_out(p.mmap_file(length, memfile, offset, private, bool(arg.get("huge", False))))}
        return {"addr": u64_out(p.mmap(length, bool(arg.get("huge", False))))}
    if op == "MEMFD_CREATE":
        memfile = MemFile(m.phys, u64_in(arg.get("length"), "length"), bool(arg.get("huge", False)))
        fd = m.next_fd
        m.next_fd += 1
        m.files[fd] = memfile
        return {"fd": fd}
    if op == "FTRUNCATE":
        memfile = m.files.get(arg.get("fd"))
        if memfile is None:
            raise Errno("EBADF")
        memfile.truncate(u64_in(arg.get("length"), "length"))
        return {}
    if op == "MUNMAP":
        p.munmap(u64_in(arg.get("addr"), "addr"), u64_in(arg.get("length"), "length"))
        return {}
    if op == "MEM_WRITE":
        p.write(u64_in(arg.get("addr"), "addr"), hex_bytes(arg.get("data"), "data"))
        return {}
    if op == "MEM_READ":
        return {"data": p.read(u64_in(arg.get("addr"), "addr"), u64_in(arg.get("length"), "length")).hex()}
    if op == "CHECK_REFS":
        return {"refs": m.refcounts(u64_in(arg.get("addr"), "addr"), u64_in(arg.get("length"), "length"))}
    if op == "STATE":
        return state(m)
    if op == "SET_MEMLOCK_LIMIT":
        p.memlock_limit_pages = u64_in(arg.get("pages"), "pages")
        return {}
    if op == "ACCOUNTING":
        return {"user_pages": p.user.locked_pages, "mm_pages": p.mm_locked_pages, "pinned_pages": p.mm_pinned_pages}
    if op == "PROCESS_FORK":
        pid = max(m.processes) + 1
        m.processes[pid] = p.fork(pid)
        return {"pid": pid}
    if op == "PROCESS_EXIT":
        child = m.processes.get(arg.get("pid"))
        if child is None or child is m.initial or not child.alive:
            raise RpcError(-32602, f"PROCESS_EXIT: {arg.get('pid')!r} is no live forked process")
        child.exit()
        return {}
    if op == "RAW_IOCTL":
        ctx = m.contexts.get(fd)
        if ctx is None:
            raise Errno("EBADF")
        return raw_ioctl(m, ctx, arg)
    if op == "SET_TEMP_MEMORY_LIMIT":
        if fd not in m.contexts:
            raise Errno("EBADF")
        m.temp_memory_limit = hook_temp_memory_limit(arg)
        return {}
    if op in ACCESS_HOOKS:
        ctx = m.contexts.get(fd)
        if ctx is None:
            raise Errno("EBADF")
        return ACCESS_HOOKS[op](m, ctx, arg)
    if op not in ("ADD_RESERVED", "DEVICE_UNBIND", "DMA_READ", "DMA_WRITE", "TRANSLATE"):
        raise RpcError(-32601, f"test hook {op} is not implemented (not in this adapter's capabilities)")
    ctx = m.contexts.get(fd)
    if ctx is None:
        raise Errno("EBADF")
    if op == "ADD_RESERVED":
        # iommufd_test_add_reserved in current selftest.c checks the range before it looks the
        # IOAS up: length 0 is EINVAL, start + length - 1 past 2^64 - 1 is EOVERFLOW.
        start = u64_in(arg.get("start"), "start")
        length = u64_in(arg.get("length"), "length")
        if length == 0:
            raise Errno("EINVAL")
        if start + length - 1 > U64_MAX:
            raise Errno("EOVERFLOW")
        ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
        ioas.reserve(start, start + length - 1, None)
        return {}
    dev = ctx.get(field(arg, "dev_id", 32), "device")
    if op == "DEVICE_UNBIND":
        m.unbind(ctx, dev)
        return {}
    if "pasid" in arg:
        raise RpcError(-32602, f"{op}: PASID DMA is not modelled (no pasid capability)")
    iova = u64_in(arg.get("iova"), "iova")
    if op == "TRANSLATE":
        write = bool(arg.get("write", False))
        fault, area = m.translate(dev, iova, write)
        if fault:
            return {"fault": fault}
        va = area.source_addr(iova)
        frame = area.pages.pinned[va // PAGE]
        return {"fault": None, "phys": u64_out(frame.pfn * PAGE + va % PAGE), "page_size": MOCK_PAGE,
                "readable": bool(area.prot & MAP_READABLE), "writeable": bool(area.prot & MAP_WRITEABLE)}
    if op == "DMA_READ":
        fault, pieces = m.dma_chunks(dev, iova, u64_in(arg.get("length"), "length"), False)
        if fault:
            return {"fault": fault}
        return {"fault": None, "data": b"".join(bytes(f.data[o:o + n]) for f, o, n in pieces).hex()}
    data = hex_bytes(arg.get("data"), "data")  # DMA_WRITE
    fault, pieces = m.dma_chunks(dev, iova, len(data), True)
    if fault:
        return {"fault": fault}
    i = 0
    for f, o, n in pieces:
        f.data[o:o + n] = data[i:i + n]
        i += n
    return {"fault": None}


# pages.c sizes its temporary PFN batch from this many bytes; a batch needs room for at least
# one PFN and its count (8 + 4 bytes), so the selftest op refuses less with EINVAL.
TEMP_MEMORY_LIMIT_DEFAULT = 65536
TEMP_MEMORY_LIMIT_MIN = 12


def hook_temp_memory_limit(arg):
    """SET_TEMP_MEMORY_LIMIT: only the size of the kernel's batch buffers changes, which is
    invisible at this model's level (a batch split never changes what is pinned or mapped)."""
    limit = field(arg, "limit", 32)
    if limit < TEMP_MEMORY_LIMIT_MIN:
        raise Errno("EINVAL")
    return limit


ACCESS_NEEDS_PIN_PAGES = 1 << 0
ACCESS_MAX_BYTES = 16 << 20  # the selftest refuses more with ENOMEM


def attach_access(m, acc, ioas):
    """iopt_add_access: the access joins the IOAS, whose alignment may rise (EADDRINUSE)."""
    new_align = ioas.alignment_with(ioas.domains, ioas.disable_large_pages, ioas.accesses + [acc])
    if new_align > PAGE:
        raise Errno("EINVAL")
    if new_align != ioas.iova_alignment:
        ioas.check_alignment(new_align)
    ioas.accesses.append(acc)
    ioas.iova_alignment = new_align
    acc.ioas = ioas


def hook_create_access(m, ctx, arg):
    flags = field(arg, "flags", 32)
    if flags & ~ACCESS_NEEDS_PIN_PAGES:
        raise Errno("EOPNOTSUPP")
    acc = Access(ctx.new_id(), bool(flags & ACCESS_NEEDS_PIN_PAGES))
    ioas = ctx.get(field(arg, "ioas_id", 32), "ioas")
    attach_access(m, acc, ioas)
    ctx.objects[acc.id] = acc
    return {"access_id": acc.id}


def hook_destroy_access(m, ctx, arg):
    m.destroy_access(ctx, ctx.get(field(arg, "access_id", 32), "access"))
    return {}


def hook_replace_ioas(m, ctx, arg):
    acc = ctx.get(field(arg, "access_id", 32), "access")
    if acc.ioas is None:
        raise Errno("ENOENT")
    new = ctx.get(field(arg, "ioas_id", 32), "ioas")
    old = acc.ioas
    if new is old:
        return {}
    attach_access(m, acc, new)
    m.access_unmap_all(acc)
    old.accesses.remove(acc)
    old.iova_alignment = old.alignment_with(old.domains, old.disable_large_pages)
    return {}


def access_range(acc, iova, length, write):
    """The checks iommufd_access_pin_pages / _rw share; the covering (area, first, last) parts."""
    if length == 0:
        raise Errno("EINVAL")
    last = iova + length - 1
    if last > U64_MAX:
        raise Errno("EOVERFLOW")
    if acc.ioas is None:
        raise Errno("ENOENT")
    segs, done = acc.ioas.contig_segments(iova, last)
    return segs, done, (MAP_WRITEABLE if write else MAP_READABLE)


def hook_access_pin(m, ctx, arg):
    iova = u64_in(arg.get("iova"), "iova")
    length = u64_in(arg.get("length"), "length")
    write = bool(arg.get("write", False))
    if length > ACCESS_MAX_BYTES:
        raise Errno("ENOMEM")
    acc = ctx.get(field(arg, "access_id", 32), "access")
    if not acc.needs_pin:
        raise Errno("EOPNOTSUPP")
    segs, done, need_prot = access_range(acc, iova, length, write)
    pins = []
    for i, (a, first, last) in enumerate(segs):
        # Interior joins between areas must fall on page boundaries of the user memory.
        if (i > 0 and a.source_addr(first) % PAGE) or (i < len(segs) - 1 and (a.source_addr(last) + 1) % PAGE):
            raise Errno("EINVAL")
        if not a.prot & need_prot:
            raise Errno("EPERM")
        pins.append((a.pages, set(range(a.source_addr(first) // PAGE, a.source_addr(last) // PAGE + 1))))
    item = {"id": acc.next_item_id, "iova": iova, "length": length, "pins": pins}
    acc.items.append(item)
    try:
        m.repin({})
    except Errno:
        acc.items.remove(item)
        raise
    # The kernel pins each area of the walk before it learns the walk stopped at a gap, so a
    # pin failure (EFAULT) comes before ENOENT; what it pinned is then unpinned.
    if not done:
        acc.items.remove(item)
        m.repin({})
        raise Errno("ENOENT")
    acc.next_item_id += 1
    return {"pages_id": item["id"]}


def hook_access_unpin(m, ctx, arg):
    acc = ctx.get(field(arg, "access_id", 32), "access")
    pages_id = field(arg, "pages_id", 32)
    for item in acc.items:
        if item["id"] == pages_id:
            acc.items.remove(item)
            m.repin({})
            return {}
    raise Errno("ENOENT")


def rw_frames(m, pages, addr, length, write, slow_path):
    """pages.c iopt_pages_rw_access: which frames an access read or write of [addr, addr+length)
    of a page store touches, as a function of the page number, after checking they all exist.
    - a file store, or a copy spanning pages made from another mm or with the test's SLOW_PATH
      flag: iopt_pages_rw_slow, whose pfn_reader takes the frames the store holds pinned (for a
      domain or an access) and pins the rest through the source (EFAULT once unmapped or gone);
    - a copy inside one page from another mm (or SLOW_PATH): iopt_pages_rw_page pins that page
      again at the user VA of the source mm (EFAULT if unmapped), or goes the slow way when the
      mm is gone;
    - otherwise copy_{to,from}_user at the user VA of the caller, who owns the store: whatever
      the VA maps now (EFAULT if unmapped), not what the store pinned."""
    if write and not pages.writable:
        raise Errno("EPERM")
    first, last = addr // PAGE, (addr + length - 1) // PAGE
    through_source = {pg: pages.frames.get(pg) for pg in range(first, last + 1)}
    other_mm = slow_path or m.process is not pages.mm
    if pages.is_file or (other_mm and not (first == last and pages.mm.alive)):
        frames = {pg: pages.pinned.get(pg) or f for pg, f in through_source.items()}
        if None in frames.values():
            raise Errno(pages.missing_errno)
        return frames.get
    # iopt_pages_rw_page, or the caller's own VA: either way what the source VA maps now.
    if None in through_source.values():
        raise Errno("EFAULT")
    return through_source.get


def hook_access_rw(m, ctx, arg):
    iova = u64_in(arg.get("iova"), "iova")
    write = bool(arg.get("write", False))
    data = hex_bytes(arg.get("data", ""), "data") if write else None
    length = len(data) if write else u64_in(arg.get("length", 0), "length")
    if length > ACCESS_MAX_BYTES:
        raise Errno("ENOMEM")
    slow_path = bool(arg.get("slow_path", False))
    acc = ctx.get(field(arg, "access_id", 32), "access")
    segs, done, need_prot = access_range(acc, iova, length, write)
    out = bytearray()
    # Area by area, as iommufd_access_rw: a later failure leaves earlier areas written.
    for a, first, last in segs:
        if not a.prot & need_prot:
            raise Errno("EPERM")
        va = a.source_addr(first)
        n = last - first + 1
        frame_of = rw_frames(m, a.pages, va, n, write, slow_path)
        while n:
            off = va % PAGE
            k = min(n, PAGE - off)
            frame = frame_of(va // PAGE)
            if write:
                frame.data[off:off + k] = data[len(out):len(out) + k]
                out += data[len(out):len(out) + k]
            else:
                out += frame.data[off:off + k]
            va += k
            n -= k
    if not done:
        raise Errno("ENOENT")
    return {} if write else {"data": bytes(out).hex()}


ACCESS_HOOKS = {
    "CREATE_ACCESS": hook_create_access,
    "DESTROY_ACCESS": hook_destroy_access,
    "ACCESS_REPLACE_IOAS": hook_replace_ioas,
    "ACCESS_PIN": hook_access_pin,
    "ACCESS_UNPIN": hook_access_unpin,
    "ACCESS_RW": hook_access_rw,
}


def state(m):
    contexts = []
    for fd in sorted(m.contexts):
        c = m.contexts[fd]
        objects = []
        for oid in sorted(c.objects):
            o = c.objects[oid]
            entry = {"id": oid, "kind": o.kind}
            if isinstance(o, Ioas):
                entry["areas"] = [{"iova": u64_out(a.iova), "length": u64_out(a.length)} for a in o.areas]
                entry["iova_alignment"] = o.iova_alignment
            elif isinstance(o, HwptPaging):
                entry["ioas_id"] = o.ioas.id
                entry["devices"] = [d.id for d in o.devices]
            elif isinstance(o, HwptNested):
                entry["parent_id"] = o.parent.id
                entry["devices"] = [d.id for d in o.devices]
            objects.append(entry)
        contexts.append({"fd": fd, "objects": objects})
    # A counter below zero means a charge went back to the wrong owner: an adapter bug, which
    # a sum over processes would hide.
    if m.initial.user.locked_pages < 0 or any(p.mm_locked_pages < 0 or p.mm_pinned_pages < 0 for p in m.processes.values()):
        raise RuntimeError("a locked or pinned page counter is negative")
    # An exited process's mm lives on only while a page store holds it (mmgrab); once none does
    # it is freed with whatever it was still charged (IOAS_CHANGE_PROCESS can leave a dead mm
    # charged when it moves the store away: it cannot uncharge a dead mm in MM mode).
    held = {id(pg.mm) for pg in m.all_pages()}
    procs = [p for p in m.processes.values() if p.alive or id(p) in held]
    return {
        "contexts": contexts,
        "pins": {"pinned_frames": m.pinned_frames()},
        # The mm counters summed over every live mm (an exited one's keeps its charges).
        "accounting": {
            "user_locked_pages": m.initial.user.locked_pages,
            "mm_locked_pages": sum(p.mm_locked_pages for p in procs),
            "mm_pinned_pages": sum(p.mm_pinned_pages for p in procs),
            "memlock_limit_pages": m.initial.memlock_limit_pages,
        },
    }


# ---------------------------------------------------------------- JSON-RPC loop


def dispatch(m, method, params):
    if not isinstance(params, dict):
        raise RpcError(-32602, "params must be an object")
    if method == "hello":
        if params.get("protocol") != PROTOCOL:
            raise RpcError(-32002, f"unsupported protocol {params.get('protocol')}")
        return {
            "protocol": PROTOCOL,
            "implementation": {"name": "ioasid-python-ioas", "version": "0.1.0", "language": "python"},
            "capabilities": CAPABILITIES,
        }
    if method == "world":
        topology = params.get("topology")
        if not isinstance(topology, dict):
            raise RpcError(-32602, "world: topology must be an object")
        m.build(topology)
        return {}
    if method == "open":
        fd = m.next_fd
        m.next_fd += 1
        m.contexts[fd] = Context(fd)
        return {"fd": fd}
    if method == "close":
        ctx = m.contexts.get(params.get("fd"))
        if ctx is None:
            raise RpcError(-32602, f"close: no open context fd {params.get('fd')}")
        m.close(ctx)
        return {}
    if method in ("ioctl", "test"):
        caller = m.processes.get(params.get("pid", 1))
        if caller is None or not caller.alive:
            raise RpcError(-32602, f"{method}: pid {params.get('pid')!r} is no live process")
        m.process = caller
        try:
            return call(m, method, params)
        finally:
            m.process = m.initial
    if method == "shutdown":
        return {}
    raise RpcError(-32601, f"unknown method {method}")


def call(m, method, params):
    """An ioctl or a test hook, made by the process m.process."""
    if method == "ioctl":
        ctx = m.contexts.get(params.get("fd"))
        if ctx is None:
            return {"errno": "EBADF"}
        arg = params.get("arg") or {}
        try:
            out = do_ioctl(m, ctx, str(params.get("cmd", "")), arg)
        except Errno as e:
            r = {"errno": e.name}
            if e.arg is not None:
                r["arg"] = {**arg, **e.arg}
            return r
        ret = out.pop("__ret", 0)  # an ioctl's positive return value (VFIO_CHECK_EXTENSION)
        return {"ret": ret, "arg": {**arg, **out}}
    try:
        return {"ret": 0, "out": hook(m, params.get("fd"), params.get("op"), params.get("arg") or {})}
    except Errno as e:
        return {"errno": e.name}


# The protocol's message limit (conformance/PROTOCOL.md): a longer line is refused unread.
MESSAGE_MAX_BYTES = 64 * 1024 * 1024


def request_lines(stream):
    """Lines of at most MESSAGE_MAX_BYTES; a longer one comes out as an int, its size, never whole."""
    while True:
        line = stream.readline(MESSAGE_MAX_BYTES + 1)
        if not line:
            return
        if len(line) <= MESSAGE_MAX_BYTES or line.endswith(b"\n") and len(line) == MESSAGE_MAX_BYTES + 1:
            yield line.decode("utf-8", errors="replace")
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(1 << 20)
            if not line:
                break
            size += len(line)
        yield size - 1 if line.endswith(b"\n") else size


def main():
    m = Machine()
    out = sys.stdout
    for line in request_lines(sys.stdin.buffer):
        if isinstance(line, int):
            reply = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": f"request line of {line} bytes exceeds the {MESSAGE_MAX_BYTES}-byte message limit"}}
            out.write(json.dumps(reply, separators=(",", ":")) + "\n")
            out.flush()
            continue
        if not line.strip():
            continue
        rid = None
        msg = None
        try:
            msg = json.loads(line)
            rid = msg.get("id") if isinstance(msg, dict) else None
            if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or "method" not in msg:
                raise RpcError(-32600, "invalid request")
            result = dispatch(m, msg["method"], msg.get("params", {}))
            reply = {"jsonrpc": "2.0", "id": rid, "result": result}
        except json.JSONDecodeError as e:
            reply = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": f"parse error: {e}"}}
        except RpcError as e:
            reply = {"jsonrpc": "2.0", "id": rid, "error": {"code": e.code, "message": e.message}}
        except Exception as e:  # an adapter bug: say so, never guess a result
            log("internal error:", repr(e))
            reply = {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": f"internal error: {e!r}"}}
        out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        out.flush()
        if isinstance(msg, dict) and msg.get("method") == "shutdown" and "result" in reply:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
