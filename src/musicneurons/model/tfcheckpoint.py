"""Read TensorFlow (V2 "TensorBundle") checkpoints with numpy only: no TensorFlow, no protobuf.

A checkpoint ``<prefix>`` is two kinds of files:

``<prefix>.index``
    A LevelDB-format table (SSTable). Keys are tensor names, sorted; values are serialized
    ``BundleEntryProto`` messages (dtype, shape, shard id, byte offset and size, masked crc32c of
    the bytes). The entry under the empty key ``""`` is the ``BundleHeaderProto`` (number of
    shards, endianness, version).
``<prefix>.data-SSSSS-of-NNNNN``
    The raw little-endian tensor bytes, back to back.

Table layout (LevelDB ``table_format.md``): data blocks, a metaindex block, an index block, then a
48-byte footer ``metaindex handle | index handle | zero padding to 40 bytes | magic (8 bytes)``.
A handle is ``varint64 offset, varint64 size``. Every block is followed by a 5-byte trailer
``compression type (0 = none, 1 = snappy) | masked crc32c (block + type byte)``. A block is a run
of entries ``varint32 shared | varint32 non_shared | varint32 value_len | key suffix | value``
(a key shares ``shared`` leading bytes with the previous key), then ``uint32`` restart offsets
(entries with ``shared == 0``) and a ``uint32`` restart count.

:func:`read_tf_checkpoint` returns ``{name: np.ndarray}`` with the values TF's
``tf.train.load_checkpoint(prefix).get_tensor(name)`` returns, and raises :class:`CheckpointError`
naming the file and the reason for anything malformed.
"""

from __future__ import annotations

import math
import re
import struct
import tarfile
from pathlib import Path

import google_crc32c
import numpy as np

__all__ = ["CheckpointError", "read_tf_checkpoint", "list_tf_checkpoint", "crc32c"]

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
_CRC_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto DataType -> numpy (little-endian)
_DTYPES = {
    1: np.dtype("<f4"),   # DT_FLOAT
    2: np.dtype("<f8"),   # DT_DOUBLE
    3: np.dtype("<i4"),   # DT_INT32
    4: np.dtype("u1"),    # DT_UINT8
    5: np.dtype("<i2"),   # DT_INT16
    6: np.dtype("i1"),    # DT_INT8
    9: np.dtype("<i8"),   # DT_INT64
    10: np.dtype("?"),    # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
_DTYPE_NAMES = {7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128", 20: "resource",
                21: "variant"}

#: names skipped by default: Adam slots, Adam's beta powers, the step counter
OPTIMIZER_PATTERN = re.compile(r"(^|/)(Adam(_\d+)?)(/|$)|(^|/)beta[12]_power$|(^|/)global_step$")


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, or in an unsupported format."""


# ------------------------------------------------------------------------------------ crc32c
def crc32c(data, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc`` (Google's ``google-crc32c``, SSE4.2)."""
    return google_crc32c.extend(crc, data if isinstance(data, bytes) else memoryview(data).tobytes())


def _unmask_crc(masked: int) -> int:
    rot = (masked - _CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ------------------------------------------------------------------------------- protobuf
def _varint(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Corrupt(f"truncated varint in {what}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Corrupt(f"varint too long in {what}")


def _fields(buf: bytes, what: str):
    """Yield ``(field_number, wire_type, value)`` of a serialized protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos, what)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, what)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise _Corrupt(f"truncated fixed64 in {what}")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            n, pos = _varint(buf, pos, what)
            if pos + n > len(buf):
                raise _Corrupt(f"truncated length-delimited field in {what}")
            value = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            if pos + 4 > len(buf):
                raise _Corrupt(f"truncated fixed32 in {what}")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise _Corrupt(f"bad protobuf wire type {wire} in {what}")
        yield field, wire, value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


class _Corrupt(Exception):
    """Internal: a reason; turned into CheckpointError with the file name by the caller."""


def _parse_entry(name: str, buf: bytes) -> dict:
    what = f"the entry of {name!r}"
    entry = {"dtype": 0, "shape": [], "shard_id": 0, "offset": 0, "size": 0, "crc32c": None,
             "sliced": False}
    for field, wire, value in _fields(buf, what):
        if field == 1 and wire == 0:
            entry["dtype"] = value
        elif field == 2 and wire == 2:
            for f2, w2, v2 in _fields(value, what):
                if f2 == 2 and w2 == 2:  # TensorShapeProto.Dim
                    size = 0
                    for f3, w3, v3 in _fields(v2, what):
                        if f3 == 1 and w3 == 0:
                            size = _signed64(v3)
                    entry["shape"].append(size)
                elif f2 == 3 and w2 == 0 and v2:
                    raise _Corrupt(f"tensor {name!r} has an unknown rank")
        elif field == 3 and wire == 0:
            entry["shard_id"] = value
        elif field == 4 and wire == 0:
            entry["offset"] = _signed64(value)
        elif field == 5 and wire == 0:
            entry["size"] = _signed64(value)
        elif field == 6 and wire == 5:
            entry["crc32c"] = value
        elif field == 7:
            entry["sliced"] = True
    if any(d < 0 for d in entry["shape"]) or entry["offset"] < 0 or entry["size"] < 0:
        raise _Corrupt(f"negative shape, offset or size in {what}")
    return entry


def _parse_header(buf: bytes) -> dict:
    header = {"num_shards": 0, "endianness": 0}
    for field, wire, value in _fields(buf, "the bundle header"):
        if field == 1 and wire == 0:
            header["num_shards"] = value
        elif field == 2 and wire == 0:
            header["endianness"] = value
    return header


# --------------------------------------------------------------------------------- SSTable
def _block(table: bytes, offset: int, size: int, what: str, verify_crc: bool) -> bytes:
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER_SIZE > len(table):
        raise _Corrupt(f"{what} (bytes {offset}..{end + BLOCK_TRAILER_SIZE}) lies past the end "
                       f"of the file ({len(table)} bytes): truncated")
    data = table[offset:end]
    ctype = table[end]
    if ctype == 1:
        raise _Corrupt(f"{what} is snappy-compressed; only uncompressed tables are supported")
    if ctype != 0:
        raise _Corrupt(f"{what} has unknown compression type {ctype}")
    if verify_crc:
        stored = _unmask_crc(struct.unpack_from("<I", table, end + 1)[0])
        if crc32c(table[offset:end + 1]) != stored:
            raise _Corrupt(f"{what} fails its crc32c check: corrupt")
    return data


def _block_entries(block: bytes, what: str):
    """Yield ``(key, value)`` of one table block, checking the restart array."""
    if len(block) < 4:
        raise _Corrupt(f"{what} is too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if n_restarts == 0 or limit < 0:
        raise _Corrupt(f"{what} has a bad restart array ({n_restarts} restarts)")
    restarts = set(struct.unpack_from(f"<{n_restarts}I", block, limit))
    pos = 0
    key = b""
    seen_restarts = 0
    while pos < limit:
        start = pos
        shared, pos = _varint(block, pos, what)
        non_shared, pos = _varint(block, pos, what)
        vlen, pos = _varint(block, pos, what)
        if start in restarts:
            seen_restarts += 1
            if shared:
                raise _Corrupt(f"{what}: entry at a restart point shares a key prefix")
        if shared > len(key) or pos + non_shared + vlen > limit:
            raise _Corrupt(f"{what}: entry at byte {start} runs past the block")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + vlen]
        pos += vlen
    if seen_restarts != n_restarts:
        raise _Corrupt(f"{what}: restart array does not match the entries")


def _read_table(table: bytes, verify_crc: bool) -> list[tuple[bytes, bytes]]:
    if len(table) < FOOTER_SIZE:
        raise _Corrupt(f"file is {len(table)} bytes, shorter than the {FOOTER_SIZE}-byte footer")
    footer = table[-FOOTER_SIZE:]
    magic = struct.unpack_from("<Q", footer, FOOTER_SIZE - 8)[0]
    if magic != TABLE_MAGIC:
        raise _Corrupt("bad table magic number (not a TensorFlow checkpoint index, or truncated)")
    _, pos = _varint(footer, 0, "the footer")
    _, pos = _varint(footer, pos, "the footer")  # metaindex handle: unused (no filters)
    index_off, pos = _varint(footer, pos, "the footer")
    index_size, pos = _varint(footer, pos, "the footer")
    body_end = len(table) - FOOTER_SIZE
    if index_off + index_size + BLOCK_TRAILER_SIZE > body_end:
        raise _Corrupt("index block handle points past the data: truncated or corrupt")
    index = _block(table, index_off, index_size, "the index block", verify_crc)
    entries: list[tuple[bytes, bytes]] = []
    last_key = None
    for i, (_, handle) in enumerate(_block_entries(index, "the index block")):
        off, p = _varint(handle, 0, "a block handle")
        size, _ = _varint(handle, p, "a block handle")
        if off + size + BLOCK_TRAILER_SIZE > index_off:
            raise _Corrupt(f"data block {i} handle points past the data blocks")
        block = _block(table, off, size, f"data block {i}", verify_crc)
        for key, value in _block_entries(block, f"data block {i}"):
            if last_key is not None and key <= last_key:
                raise _Corrupt(f"keys out of order in data block {i}: corrupt")
            last_key = key
            entries.append((key, value))
    return entries


MAX_INDEX_BYTES = 256 * 2**20  # a real index is a few KB (Google's biggest: ~10 KB); refuse absurd ones unread

# ------------------------------------------------------------------------------- sources
class _DirSource:
    """Files ``<prefix>.index`` / ``<prefix>.data-*``: plain files of the prefix's folder (no symbolic links, nothing
    that resolves outside it)."""

    def __init__(self, prefix: Path):
        self.prefix = prefix

    def label(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    def _path(self, suffix: str, what: str) -> Path:
        path = Path(f"{self.prefix}{suffix}")
        if path.is_symlink():
            raise CheckpointError(f"{path}: is a symbolic link; checkpoint files must be plain files")
        if not path.is_file():
            raise CheckpointError(f"{path}: {what} is missing")
        if path.resolve().parent != path.parent.resolve():
            raise CheckpointError(f"{path}: resolves outside the checkpoint folder {path.parent}")
        return path

    def read(self, suffix: str) -> bytes:
        path = self._path(suffix, "file")
        if path.stat().st_size > MAX_INDEX_BYTES:
            raise CheckpointError(f"{path}: {path.stat().st_size} bytes is too large for a checkpoint index")
        return path.read_bytes()

    def open(self, suffix: str):
        path = self._path(suffix, "data shard")
        return open(path, "rb"), path.stat().st_size

    def close(self):
        pass


class _TarSource:
    """Members of a tar archive, read in memory by name; nothing is extracted to disk."""

    def __init__(self, tar_path: Path, tar: tarfile.TarFile, prefix: str):
        self.tar_path, self.tar, self.prefix = tar_path, tar, prefix
        self.members = {m.name: m for m in tar.getmembers() if m.isfile()}

    def label(self, suffix: str) -> str:
        return f"{self.tar_path}:{self.prefix}{suffix}"

    def _member(self, suffix: str, what: str):
        member = self.members.get(self.prefix + suffix)
        if member is None:
            raise CheckpointError(f"{self.label(suffix)}: {what} is missing from the archive")
        return member

    def read(self, suffix: str) -> bytes:
        member = self._member(suffix, "file")
        if member.size > MAX_INDEX_BYTES:
            raise CheckpointError(f"{self.label(suffix)}: {member.size} bytes is too large for a checkpoint index")
        try:
            return self.tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise CheckpointError(f"{self.label(suffix)}: cannot read from the archive ({e})") from e

    def open(self, suffix: str):
        member = self._member(suffix, "data shard")
        return self.tar.extractfile(member), member.size

    def close(self):
        self.tar.close()


def _prefix_from_state(text: str) -> str | None:
    m = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', text, re.M)
    return m.group(1) if m else None


def _open_source(path) -> _DirSource | _TarSource:
    path = Path(path)
    if path.is_dir():
        state = path / "checkpoint"
        if state.is_file():
            rel = _prefix_from_state(state.read_text(errors="replace"))
            if rel is None:
                raise CheckpointError(f"{state}: no model_checkpoint_path in the checkpoint file")
            prefix = Path(rel) if Path(rel).is_absolute() else path / rel
            # an absolute path from another machine, or one that leads out of the folder: the file of that name here
            if not Path(f"{prefix}.index").is_file() or prefix.parent.resolve() != path.resolve():
                prefix = path / Path(rel).name
            return _DirSource(prefix)
        indexes = sorted(path.glob("*.index"))
        if len(indexes) != 1:
            raise CheckpointError(f"{path}: expected one *.index file (or a 'checkpoint' file), "
                                  f"found {len(indexes)}")
        return _DirSource(indexes[0].with_suffix(""))
    if path.is_file() and (path.name.endswith((".tar", ".tar.gz", ".tgz"))
                           or (tarfile.is_tarfile(path) and not path.name.endswith(".index"))):
        try:
            tar = tarfile.open(path, "r:*")
            names = [m.name for m in tar.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as e:  # "r:*" lists every method it tried, one a line
            why = ("not a tar file, plain or gzip/bzip2/xz-compressed" if "could not be opened" in str(e)
                   else " ".join(str(e).split()))
            raise CheckpointError(f"{path}: not a readable tar archive ({why}); expected a Magenta TF checkpoint "
                                  f"archive (.tar or .tar.gz holding model.ckpt.index and its .data files)") from e
        indexes = [n for n in names if n.endswith(".index")]
        states = [n for n in names if n.rsplit("/", 1)[-1] == "checkpoint"]
        prefix = None
        if len(indexes) > 1 and len(states) == 1:
            rel = _prefix_from_state(tar.extractfile(states[0]).read().decode(errors="replace"))
            base = states[0][: -len("checkpoint")]
            if rel is not None and f"{base}{Path(rel).name}.index" in indexes:
                prefix = f"{base}{Path(rel).name}"
        if prefix is None:
            if len(indexes) != 1:
                tar.close()
                raise CheckpointError(f"{path}: expected one *.index member in the archive, "
                                      f"found {len(indexes)}")
            prefix = indexes[0][: -len(".index")]
        return _TarSource(path, tar, prefix)
    name = str(path)
    if name.endswith(".index"):
        name = name[: -len(".index")]
    elif re.search(r"\.data-\d{5}-of-\d{5}$", name):
        name = re.sub(r"\.data-\d{5}-of-\d{5}$", "", name)
    if not Path(f"{name}.index").is_file():
        raise CheckpointError(f"{path}: no checkpoint here (no {name}.index, not a directory "
                              f"or a .tar)")
    return _DirSource(Path(name))


# ----------------------------------------------------------------------------------- API
def _index(source, verify_crc: bool) -> tuple[dict, dict[str, dict]]:
    raw = source.read(".index")
    label = source.label(".index")
    try:
        entries = _read_table(raw, verify_crc)
        if not entries or entries[0][0] != b"":
            raise _Corrupt("no bundle header entry (key '')")
        header = _parse_header(entries[0][1])
        if header["endianness"] != 0:
            raise _Corrupt("big-endian checkpoints are not supported")
        if header["num_shards"] < 1:
            raise _Corrupt(f"header says {header['num_shards']} data shards")
        tensors = {}
        for key, value in entries[1:]:
            try:
                name = key.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _Corrupt(f"tensor name {key!r} is not UTF-8") from e
            tensors[name] = _parse_entry(name, value)
    except _Corrupt as e:
        raise CheckpointError(f"{label}: {e}") from None
    return header, tensors


def list_tf_checkpoint(path) -> dict[str, tuple[tuple[int, ...], np.dtype | str]]:
    """Names, shapes and dtypes of every tensor in a checkpoint, without reading the data.

    Parameters
    ----------
    path : str or Path
        A checkpoint prefix, a directory holding one checkpoint, or a ``.tar`` archive.

    Returns
    -------
    dict
        ``name -> (shape, dtype)``; dtype is a numpy dtype, or the TF type name if unsupported.
    """
    source = _open_source(path)
    try:
        _, tensors = _index(source, verify_crc=True)
    finally:
        source.close()
    return {n: (tuple(e["shape"]), _DTYPES.get(e["dtype"], _DTYPE_NAMES.get(e["dtype"], str(e["dtype"]))))
            for n, e in tensors.items()}


def read_tf_checkpoint(path, skip_optimizer: bool = True, verify_crc: bool = True, names=None
                       ) -> dict[str, np.ndarray]:
    """Read every tensor of a TensorFlow V2 checkpoint, as TF's own reader returns it.

    Parameters
    ----------
    path : str or Path
        A checkpoint prefix (``.../model.ckpt``; the ``.index`` or a ``.data-*`` file name is
        accepted too), a directory holding one checkpoint (its ``checkpoint`` state file is
        followed when present), or a ``.tar`` / ``.tar.gz`` archive holding one (read in memory;
        nothing is extracted).
    skip_optimizer : bool
        Skip Adam slots (``.../Adam``, ``.../Adam_1``), ``beta1_power``, ``beta2_power`` and
        ``global_step``.
    verify_crc : bool
        Check the crc32c of every table block and every tensor's bytes.
    names : set of str, optional
        Read only these tensors (the others are never allocated: a hostile entry for a tensor the config does not
        use costs nothing).

    Returns
    -------
    dict[str, np.ndarray]
        ``name -> array`` in the checkpoint's (sorted) order, native byte order, C-contiguous,
        writable, with the stored shape and dtype (float32, float16, float64, int8/16/32/64,
        uint8/16/32/64, bool).

    Raises
    ------
    CheckpointError
        ``"<file>: <reason>"`` for a missing file or shard, a truncated or corrupt index or data
        shard, a failed checksum, snappy compression, or an unsupported dtype.
    """
    source = _open_source(path)
    try:
        header, tensors = _index(source, verify_crc)
        index_label = source.label(".index")
        n_shards = header["num_shards"]
        wanted = {n: e for n, e in tensors.items()
                  if not (skip_optimizer and OPTIMIZER_PATTERN.search(n)) and (names is None or n in names)}
        by_shard: dict[int, list[str]] = {}
        for name, e in wanted.items():
            if e["sliced"]:
                raise CheckpointError(f"{index_label}: tensor {name!r} is partitioned into "
                                      f"slices, which is not supported")
            if e["dtype"] not in _DTYPES:
                tname = _DTYPE_NAMES.get(e["dtype"], f"enum {e['dtype']}")
                raise CheckpointError(f"{index_label}: tensor {name!r} has unsupported dtype "
                                      f"{tname}")
            expected = math.prod(e["shape"]) * _DTYPES[e["dtype"]].itemsize  # Python ints: no overflow
            if e["size"] != expected:
                raise CheckpointError(f"{index_label}: tensor {name!r} has {e['size']} bytes, "
                                      f"its shape {e['shape']} and dtype need {expected}")
            if not 0 <= e["shard_id"] < n_shards:
                raise CheckpointError(f"{index_label}: tensor {name!r} is in shard "
                                      f"{e['shard_id']}, the header says {n_shards} shards")
            by_shard.setdefault(e["shard_id"], []).append(name)
        out: dict[str, np.ndarray] = {}
        for shard in sorted(by_shard):
            suffix = f".data-{shard:05d}-of-{n_shards:05d}"
            label = source.label(suffix)
            f, size = source.open(suffix)
            with f:
                for name in sorted(by_shard[shard], key=lambda n: wanted[n]["offset"]):
                    e = wanted[name]
                    if e["offset"] + e["size"] > size:
                        raise CheckpointError(
                            f"{label}: tensor {name!r} needs bytes {e['offset']}..."
                            f"{e['offset'] + e['size']} but the shard has {size}: truncated")
                    f.seek(e["offset"])
                    data = bytearray(e["size"])  # writable: the array below shares it
                    if f.readinto(data) != e["size"]:
                        raise CheckpointError(f"{label}: short read for tensor {name!r}: "
                                              f"truncated")
                    if verify_crc and e["crc32c"] is not None:
                        if crc32c(data) != _unmask_crc(e["crc32c"]):
                            raise CheckpointError(f"{label}: tensor {name!r} fails its crc32c "
                                                  f"check: corrupt")
                    dt = _DTYPES[e["dtype"]]
                    arr = np.frombuffer(data, dtype=dt).reshape(e["shape"])
                    out[name] = arr if dt.isnative else arr.astype(dt.newbyteorder("="))
        return {n: out[n] for n in wanted}
    except (OSError, EOFError, tarfile.TarError) as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from e
    finally:
        source.close()
