"""The ``.vkz`` file: a small binary header, the payload, and a checksum of everything.

Layout (integers little endian; ``varint`` is unsigned LEB128)::

    magic      3 bytes  b"VKZ"
    version    1 byte   FORMAT_VERSION
    mode       1 byte   0 = lossless (bits-back ANS), 1 = lossy (quantised latents)
    flags      1 byte   bit 0: example names follow; bit 1: learned latent density (lossy)
    model id   8 bytes  sha256 of the model weights, first 8 bytes
    header     varint length, then fields (see Header.fields_bytes)
    payload    varint length, then bytes (the ANS stack as little-endian uint32 words)
    crc32      4 bytes  over every byte before it

The decompressor checks, in order: magic and version, length (a truncated file), the CRC (a
corrupt file), then the model id (a file made by another model), each with its own message.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch

from vaekit.applications.compression.errors import CompressionError

MAGIC = b"VKZ"
FORMAT_VERSION = 1
LOSSLESS, LOSSY = 0, 1
MODE_NAMES = {LOSSLESS: "lossless", LOSSY: "lossy"}
_NAMES, _LEARNED = 1, 2


def model_id(model: torch.nn.Module) -> bytes:
    """sha256 over the model's state dict (names, dtypes, shapes, bytes), first 8 bytes."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        a = t.detach().cpu().contiguous()
        h.update(f"{name}:{a.dtype}:{tuple(a.shape)};".encode())
        h.update(a.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()[:8]


# ---------------------------------------------------------------- varints


class Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def varint(self, v: int) -> Writer:
        if v < 0:
            raise ValueError("varint of a negative number")
        while True:
            byte, v = v & 0x7F, v >> 7
            self.buf.append(byte | (0x80 if v else 0))
            if not v:
                return self

    def svarint(self, v: int) -> Writer:
        return self.varint(2 * v if v >= 0 else -2 * v - 1)  # zigzag

    def raw(self, b: bytes) -> Writer:
        self.buf += b
        return self

    def blob(self, b: bytes) -> Writer:
        return self.varint(len(b)).raw(b)


class Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CompressionError("the file is truncated: it ends inside its header")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def varint(self) -> int:
        v, shift = 0, 0
        while True:
            (byte,) = self.raw(1)
            v |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return v
            if shift > 63:
                raise CompressionError("the file's header is corrupt (an integer field does not end)")

    def svarint(self) -> int:
        u = self.varint()
        return u // 2 if u % 2 == 0 else -(u + 1) // 2

    def blob(self) -> bytes:
        return self.raw(self.varint())


# ---------------------------------------------------------------- header


@dataclass(frozen=True)
class Header:
    """What a decompressor needs besides the model: counts, shapes, and the mode's settings."""

    mode: int
    model_id: bytes
    count: int  # examples in the file
    shape: tuple[int, ...]  # one example's shape
    names: tuple[str, ...] = ()  # file names of the examples (folder sources), else empty
    # lossless
    latent_bits: int = 0
    batch_sizes: tuple[int, ...] = ()  # the chained stream's batches, in coding order
    exceptions: tuple[np.ndarray, ...] = ()  # guard-band exceptions: batch, slot, position, value arrays
    data_sha256: bytes = b""  # of the examples' integer levels: checks the decoded data
    references: tuple[int, ...] = ()  # latent bins of the layers below the top: (means, log2 scales) codes
    # lossy
    quality: int = 0
    density_id: bytes = b""  # 4 bytes of the learned density's sha256; empty: the discretised prior
    extra: dict = field(default_factory=dict)

    def fields_bytes(self) -> bytes:
        w = Writer().varint(self.count).varint(len(self.shape))
        for s in self.shape:
            w.varint(s)
        if self.mode == LOSSLESS:
            w.varint(self.latent_bits).varint(len(self.batch_sizes))
            for before, b in zip((0, *self.batch_sizes), self.batch_sizes):
                w.svarint(b - before)  # sizes grow slowly: one byte each
            batch, slot, pos, value = self.exceptions or (np.zeros(0, np.int64),) * 4
            w.varint(len(batch))
            for b, s, p, v in zip(batch.tolist(), slot.tolist(), pos.tolist(), value.tolist()):
                w.varint(b).varint(s).varint(p).svarint(v)
            w.raw(self.data_sha256).varint(len(self.references))
            for v in self.references:
                w.svarint(v)
        else:
            w.varint(self.quality)
            if self.density_id:
                w.raw(self.density_id)
        if self.names:
            w.blob(zlib.compress("\n".join(self.names).encode(), 9))
        return bytes(w.buf)


def pack(header: Header, payload: bytes) -> bytes:
    flags = (_NAMES if header.names else 0) | (_LEARNED if header.density_id else 0)
    w = Writer().raw(MAGIC + bytes([FORMAT_VERSION, header.mode, flags]) + header.model_id)
    w.blob(header.fields_bytes()).blob(payload)
    return bytes(w.buf) + struct.pack("<I", zlib.crc32(w.buf))


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and check a file; raises CompressionError naming what is wrong."""
    if len(data) < 4 or data[:3] != MAGIC:
        raise CompressionError(
            "not a vaekit compressed file (it does not start with 'VKZ'); pass a file written by 'vaekit compress'"
        )
    if data[3] != FORMAT_VERSION:
        raise CompressionError(
            f"the file has format version {data[3]}; this vaekit reads version {FORMAT_VERSION}: use a matching vaekit"
        )
    r = Reader(data, 4)
    mode, flags = r.raw(1)[0], r.raw(1)[0]
    mid = r.raw(8)
    fields = r.blob()
    payload_len = r.varint()
    if r.pos + payload_len + 4 > len(data):
        raise CompressionError(f"the file is truncated: {len(data)} bytes, its header says {r.pos + payload_len + 4}")
    if r.pos + payload_len + 4 < len(data):
        raise CompressionError(f"the file has {len(data) - r.pos - payload_len - 4} unexpected bytes at its end: it is corrupt")
    payload = data[r.pos : r.pos + payload_len]
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CompressionError("the file is corrupt (its checksum does not match its content)")
    if mode not in MODE_NAMES:
        raise CompressionError(f"the file has an unknown mode {mode}: it is corrupt or from a newer vaekit")
    return _fields(mode, flags, mid, fields), payload


def _fields(mode: int, flags: int, mid: bytes, fields: bytes) -> Header:
    f = Reader(fields)
    count = f.varint()
    shape = tuple(f.varint() for _ in range(f.varint()))
    kw: dict = {}
    if mode == LOSSLESS:
        kw["latent_bits"] = f.varint()
        kw["batch_sizes"] = tuple(np.cumsum([f.svarint() for _ in range(f.varint())], dtype=np.int64).tolist())
        rows = [(f.varint(), f.varint(), f.varint(), f.svarint()) for _ in range(f.varint())]
        cols = np.array(rows, np.int64).reshape(-1, 4).T
        kw["exceptions"] = tuple(cols)
        kw["data_sha256"] = f.raw(32)
        kw["references"] = tuple(f.svarint() for _ in range(f.varint()))
    else:
        kw["quality"] = f.varint()
        if flags & _LEARNED:
            kw["density_id"] = f.raw(4)
    if flags & _NAMES:
        kw["names"] = tuple(zlib.decompress(f.blob()).decode().split("\n"))
    return Header(mode=mode, model_id=mid, count=count, shape=shape, **kw)


def words_to_bytes(words: np.ndarray) -> bytes:
    return np.asarray(words, dtype="<u4").tobytes()


def bytes_to_words(payload: bytes) -> np.ndarray:
    if len(payload) % 4:
        raise CompressionError("the file's payload is not a whole number of 32-bit words: it is corrupt")
    return np.frombuffer(payload, dtype="<u4").astype(np.uint32)
