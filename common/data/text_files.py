"""UTF-8 text files read line by line, with a byte-order mark ignored and decoding errors that say where.

Annotation and GloVe files are UTF-8. A file saved by another tool may start with a BOM (`EF BB BF`), which would
otherwise become part of the first video id or word; a file in another encoding must fail with its name, line
and byte, not with a bare `UnicodeDecodeError` at an offset of some buffer.
"""

import codecs


class EncodingError(ValueError):
    """A file that is not UTF-8; the message names the file, the line and the byte."""


def decode_line(raw, path, line_number, file_offset):
    """`raw` (bytes of line `line_number`, starting at byte `file_offset` of `path`) as text, BOM stripped."""
    if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
        file_offset += len(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EncodingError(
            f"{path}:{line_number}: not UTF-8: byte 0x{raw[e.start]:02x} at column {e.start + 1} (byte "
            f"{file_offset + e.start} of the file); save the file as UTF-8"
        ) from None


def iter_lines(path):
    """Yields `(line_number, line, num_bytes)` of every line (1-based, line ending kept, BOM stripped)."""
    offset = 0
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            yield line_number, decode_line(raw, path, line_number, offset), len(raw)
            offset += len(raw)


def read_text(path):
    """The whole file as text (BOM stripped); a decoding error names its line."""
    return "".join(line for _, line, _ in iter_lines(path))
