"""What can still be played of a damaged RealSense recording: a copy with everything before the damage.

A recording cut off (power lost, disk full, the recorder killed) has its frames but not what librealsense
needs to open it: a ROS1 .bag keeps its index at the end of the file, written when the recording closes; a
rosbag2 .db3 is an SQLite database whose last pages are gone. librealsense then refuses the whole file
("Failed to create ros reader", "database disk image is malformed"), so a recording truncated at 99 %
used to yield no frame at all. These functions write a playable copy of the part before the damage:

  .bag  the records are read in order from the start; every chunk that is whole and parses is copied, the
        whole messages of a chunk that is cut off become a chunk of their own, and the index (per-chunk
        index records, connection records and chunk infos) is written anew from the messages in those
        chunks. The first record that is cut off or does not parse is the damage: nothing after it is
        trusted. Uncompressed chunks only (what librealsense ≥ 2.54 writes); LZ4 chunks would need
        the lz4 module to be indexed, and are reported as not salvageable.
  .db3  SQLite reads the tables row by row until it reaches a page that is missing or broken (or a row
        that breaks the schema's NOT NULL constraints: a half-written page); the rows read before it go into
        a new database with the same schema. A copy whose header claims only the pages the file still has
        is what SQLite reads: with the original page count it refuses the file before the first row.

Standard library only; the runtime never imports torch.
"""

from __future__ import annotations

import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"#ROSBAG V2.0\n"
SQLITE_MAGIC = b"SQLite format 3\x00"
OP_MESSAGE, OP_BAG_HEADER, OP_INDEX, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION = 2, 3, 4, 5, 6, 7
BAG_HEADER_BYTES = 4096  # the bag header record is padded to this size, so that it can be rewritten in place


class NotSalvageable(Exception):
    """Nothing before the damage can be played; the message says why."""


@dataclass
class Salvage:
    """What a salvage kept: the file reads well up to `kept_bytes` of its `total_bytes`, `messages` in all;
    `expected_bytes` is the size its header promises, where the format says (a .db3)."""

    kept_bytes: int
    total_bytes: int
    messages: int
    expected_bytes: int | None = None

    def describe(self) -> str:
        if self.expected_bytes is not None and self.expected_bytes > self.total_bytes:
            return (f"cut off: {self.total_bytes} of the {self.expected_bytes} bytes its header promises "
                    f"({100 * self.total_bytes / self.expected_bytes:.0f} %)")
        return f"damaged or cut off at byte {self.kept_bytes} of {self.total_bytes}"


def salvage(src: Path, dst: Path) -> Salvage:
    """Write the playable part of `src` (.bag or .db3, by content) to `dst`; raises NotSalvageable."""
    with open(src, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(MAGIC):
        return salvage_bag(src, dst)
    if head == SQLITE_MAGIC:
        return salvage_db3(src, dst)
    raise NotSalvageable("it starts neither as a ROS1 bag (#ROSBAG V2.0) nor as an SQLite database (a .db3)")


# -- ROS1 .bag ---------------------------------------------------------------------------------------------

def _fields(header: bytes) -> dict[str, bytes]:
    fields, pos = {}, 0
    while pos < len(header):
        if pos + 4 > len(header):
            raise ValueError("truncated header field")
        (n,) = struct.unpack_from("<I", header, pos)
        field = header[pos + 4: pos + 4 + n]
        if len(field) != n or b"=" not in field:
            raise ValueError("broken header field")
        name, _, value = field.partition(b"=")
        fields[name.decode("ascii")] = value
        pos += 4 + n
    return fields


def _header(data: bytes, pos: int) -> tuple[dict[str, bytes], int] | None:
    """(header fields, data start) of the record at `pos`, or None when its header is cut off or broken; its data
    may be cut off."""
    if pos + 4 > len(data):
        return None
    (header_len,) = struct.unpack_from("<I", data, pos)
    data_at = pos + 4 + header_len + 4
    if data_at > len(data):
        return None
    try:
        return _fields(data[pos + 4: data_at - 4]), data_at
    except (ValueError, UnicodeDecodeError):
        return None


def _record(data: bytes, pos: int) -> tuple[dict[str, bytes], int, int] | None:
    """(header fields, data start, record end) of the record at `pos`, or None when it is cut off or broken."""
    header = _header(data, pos)
    if header is None:
        return None
    fields, data_at = header
    (data_len,) = struct.unpack_from("<I", data, data_at - 4)
    if data_at + data_len > len(data) or len(fields.get("op", b"")) != 1:
        return None
    return fields, data_at, data_at + data_len


def _make_record(fields: dict[str, bytes], data: bytes) -> bytes:
    header = b"".join(struct.pack("<I", len(k) + 1 + len(v)) + k.encode() + b"=" + v for k, v in fields.items())
    return struct.pack("<I", len(header)) + header + struct.pack("<I", len(data)) + data


def _time(raw: bytes) -> tuple[int, int]:
    return struct.unpack("<II", raw)


def salvage_bag(src: Path, dst: Path) -> Salvage:
    data = Path(src).read_bytes()
    if not data.startswith(MAGIC):
        raise NotSalvageable("it is not a ROS1 bag (no #ROSBAG V2.0 at its start)")
    first = _record(data, len(MAGIC))
    if first is None or first[0]["op"] != bytes([OP_BAG_HEADER]):
        raise NotSalvageable("its bag header is cut off or broken")
    pos = first[2]
    chunks = []  # (record bytes, {conn: [(time, offset)]}, [connection records])
    connections: dict[int, bytes] = {}
    messages = 0
    while True:
        rec = _record(data, pos)
        if rec is None:
            cut = _cut_chunk(data, pos)  # the whole messages at the start of a chunk that is cut off
            if cut is not None:
                record, index, conns, kept = cut
                chunks.append((record, index))
                connections.update(conns)
                messages += sum(len(v) for v in index.values())
                pos = kept
            break
        fields, start, end = rec
        op = fields["op"][0]
        if op == OP_INDEX:  # the old per-chunk index: rebuilt below from the chunk itself
            pos = end
            continue
        if op != OP_CHUNK:
            break  # connection or chunk-info records: the index begins (or junk); nothing after it is a frame
        compression = fields.get("compression", b"?").decode("ascii", "replace")
        if compression != "none":
            if not chunks:
                raise NotSalvageable(f"its chunks are {compression}-compressed, which amf-edge cannot re-index; "
                                     "`rosbag reindex` (ROS 1) can")
            break
        parsed = _chunk_messages(data[start:end])
        if parsed is None:
            break  # a chunk that does not parse is where the damage starts (its whole messages stay lost: they
            # may be the broken part)
        index, conns = parsed
        chunks.append((data[pos:end], index))
        connections.update(conns)
        messages += sum(len(v) for v in index.values())
        pos = end
    if not messages:
        raise NotSalvageable(f"no whole chunk of frames precedes the damage at byte {pos}")
    out = bytearray(BAG_HEADER_BYTES + len(MAGIC))
    infos = []
    for record, index in chunks:
        chunk_pos = len(out)
        out += record
        times = [t for entries in index.values() for t, _ in entries]
        for conn, entries in index.items():
            out += _make_record({"op": bytes([OP_INDEX]), "ver": struct.pack("<I", 1), "conn": struct.pack("<I", conn),
                                 "count": struct.pack("<I", len(entries))},
                                b"".join(t + struct.pack("<I", offset) for t, offset in entries))
        infos.append(_make_record(
            {"op": bytes([OP_CHUNK_INFO]), "ver": struct.pack("<I", 1), "chunk_pos": struct.pack("<Q", chunk_pos),
             "start_time": min(times, key=_time), "end_time": max(times, key=_time),
             "count": struct.pack("<I", len(index))},
            b"".join(struct.pack("<II", conn, len(entries)) for conn, entries in index.items())))
    index_pos = len(out)
    for record in connections.values():
        out += record
    for info in infos:
        out += info
    header = _make_record({"op": bytes([OP_BAG_HEADER]), "index_pos": struct.pack("<Q", index_pos),
                           "conn_count": struct.pack("<I", len(connections)),
                           "chunk_count": struct.pack("<I", len(chunks))}, b"")
    padding = BAG_HEADER_BYTES - len(header)
    header = header[:-4] + struct.pack("<I", padding) + b" " * padding
    out[: len(MAGIC) + BAG_HEADER_BYTES] = MAGIC + header
    Path(dst).write_bytes(bytes(out))
    return Salvage(pos, len(data), messages)


def _cut_chunk(data: bytes, pos: int) -> tuple[bytes, dict[int, list], dict[int, bytes], int] | None:
    """A chunk record made of the whole messages of the uncompressed chunk cut off at `pos`: (record, index,
    connections, where the damage starts), or None when there is none."""
    header = _header(data, pos)
    if header is None:
        return None
    fields, start = header
    if fields.get("op") != bytes([OP_CHUNK]) or fields.get("compression") != b"none":
        return None
    parsed = _chunk_messages(data[start:], partial=True)
    if parsed is None or not parsed[0]:
        return None
    index, conns, end = parsed
    body = data[start: start + end]
    record = _make_record({"op": bytes([OP_CHUNK]), "compression": b"none", "size": struct.pack("<I", len(body))},
                          body)
    return record, index, conns, start + end


def _chunk_messages(chunk: bytes, partial: bool = False) -> tuple | None:
    """The messages of one uncompressed chunk ({conn: [(time, offset)]}) and its connection records; with
    `partial`, those before the first record that is cut off, and where that record starts."""
    index: dict[int, list] = {}
    conns: dict[int, bytes] = {}
    pos = 0
    while pos < len(chunk):
        rec = _record(chunk, pos)
        if rec is None:
            if partial:
                break
            return None
        fields, _, end = rec
        try:
            conn = struct.unpack("<I", fields["conn"])[0]
            if fields["op"][0] == OP_MESSAGE:
                if len(fields["time"]) != 8:
                    return None
                index.setdefault(conn, []).append((fields["time"], pos))
            elif fields["op"][0] == OP_CONNECTION:
                conns[conn] = chunk[pos:end]
            else:
                return None
        except (KeyError, struct.error):
            return None
        pos = end
    return (index, conns, pos) if partial else (index, conns)


# -- rosbag2 .db3 ------------------------------------------------------------------------------------------

def salvage_db3(src: Path, dst: Path) -> Salvage:
    data = bytearray(Path(src).read_bytes())
    total = len(data)
    if total < 100:
        raise NotSalvageable("its SQLite header is cut off")
    page_size = struct.unpack(">H", data[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise NotSalvageable(f"its SQLite header is broken (page size {page_size})")
    pages = total // page_size
    expected = page_size * struct.unpack(">I", data[28:32])[0]
    data[28:32] = struct.pack(">I", pages)  # the pages still there: SQLite refuses a file shorter than its header says
    del data[pages * page_size:]
    copy = Path(dst).with_name(Path(dst).name + ".damaged")
    copy.write_bytes(bytes(data))
    try:
        # immutable: no journal, no lock, nothing written beside the file
        source = sqlite3.connect(f"file:{copy.resolve()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        copy.unlink(missing_ok=True)
        raise NotSalvageable(f"SQLite cannot open it ({e})") from None
    Path(dst).unlink(missing_ok=True)
    target = sqlite3.connect(str(dst))
    messages = 0
    try:
        try:
            schema = source.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        except sqlite3.Error as e:
            raise NotSalvageable(f"its schema is unreadable ({e})") from None
        tables = [name for kind, name, _ in schema if kind == "table" and not name.startswith("sqlite_")]
        if "messages" not in tables or "topics" not in tables:
            raise NotSalvageable(f"it has no rosbag2 messages and topics tables (tables: {', '.join(tables)})")
        for kind, name, sql in schema:
            if kind == "table" and not name.startswith("sqlite_"):
                target.execute(sql)
        for name in tables:
            kept = 0
            try:
                for row in source.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):
                    try:
                        target.execute(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(row))})', row)
                    except sqlite3.IntegrityError:
                        break  # a half-written row: the damage
                    kept += 1
            except sqlite3.DatabaseError:
                pass  # the damage: keep the rows before it
            if name == "messages":
                messages = kept
        for kind, _, sql in schema:
            if kind == "index":
                target.execute(sql)
        target.commit()
    finally:
        source.close()
        target.close()
        copy.unlink(missing_ok=True)
    if not messages:
        Path(dst).unlink(missing_ok=True)
        raise NotSalvageable("no message row precedes the damage")
    return Salvage(min(total, expected), total, messages, expected)
