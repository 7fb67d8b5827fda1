"""A streaming walk over one JSON document too large to load at once.

``json.load`` on a trace of a million events builds every event as a dict before the
first is looked at (gigabytes). :class:`JsonStream` keeps a window of a few MiB of text,
decodes one value at a time with the standard library's C decoder
(``JSONDecoder.raw_decode`` at an offset), refills the window when a value runs past its
end, and counts the text read against a limit. :meth:`JsonStream.document` walks the
top-level object: the value of ``traceEvents`` is handed over one event at a time, small
keys (``deviceProperties``) are decoded whole. Flow events as Kineto writes them
(``{"ph": "s", "id": ..., ...}``, no nested object) are skipped without being decoded.
A file that ends early is "truncated"; other malformed text names where it went wrong.

>>> import io
>>> seen = []
>>> JsonStream(io.StringIO('{"traceEvents": [{"ph": "X", "n": 1}, {"ph": "f", "id": 2}], "x": [1]}'),
...            "t", 1 << 20).document(seen.append)
()
>>> seen
[{'ph': 'X', 'n': 1}, None]
"""

from __future__ import annotations

import json
import re
from types import MappingProxyType

from ..errors import SparsimError, shown
from ..units import prose_bytes

__all__ = ["JsonStream"]

_CHUNK = 1 << 22
_WS = re.compile(r"[ \t\n\r]*")
#: a flow event as Kineto writes it ("ph" first, no nested object): skipped without decoding
_FLOW = re.compile(r'\{\s*"ph":\s*"[sf]",[^{}]*\}')


class JsonStream:
    """A streaming walk over one JSON document: top-level keys, then the events of
    ``traceEvents`` one at a time (json's C decoder on a sliding window of text)."""

    def __init__(self, text, label: str, max_bytes: int):
        self.text, self.label, self.max_bytes = text, label, max_bytes
        self.buf, self.pos, self.read, self.eof = "", 0, 0, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.text.read(_CHUNK)
        if not data:
            self.eof = True
            return False
        self.read += len(data)
        if self.read > self.max_bytes:
            raise SparsimError(f"{self.label}: more than {prose_bytes(self.max_bytes)} of JSON; allowed: a smaller "
                               "trace (profile fewer steps: torch.profiler.schedule(active=1))")
        self.buf = self.buf[self.pos:] + data
        self.pos = 0
        return True

    def peek(self) -> str:
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, char: str, where: str) -> None:
        got = self.peek()
        if got != char:
            self._fail(got, f"{char!r} {where}")
        self.pos += 1

    def _fail(self, got: str, wanted: str):
        if not got:
            raise SparsimError(f"{self.label}: truncated: the file ends where {wanted} should follow (was the export "
                               "interrupted?); allowed: a complete trace")
        raise SparsimError(f"{self.label}: not valid JSON near character {self.read - len(self.buf) + self.pos:,} "
                           f"(got {shown(got)}, wanted {wanted}); allowed: a torch.profiler Chrome trace")

    def value(self):
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos < (64 << 20) and self._fill():
                    continue
                if self.eof and (exc.pos >= len(self.buf) - 1 or "Unterminated" in exc.msg):
                    self._fail("", "the rest of a value")
                self._fail(self.buf[exc.pos:exc.pos + 1], f"a JSON value ({exc.msg})")
            if end >= len(self.buf) and self._fill():  # a number may continue in the next chunk
                continue
            self.pos = end
            return obj

    def events(self, add) -> None:
        self.expect("[", "to open traceEvents")
        if self.peek() == "]":
            self.pos += 1
            return
        flow = _FLOW.match
        while True:
            self.peek()
            skipped = flow(self.buf, self.pos)
            if skipped is not None:
                self.pos = skipped.end()
                add(None)
            else:
                add(self.value())
            got = self.peek()
            if got == "]":
                self.pos += 1
                return
            if got != ",":
                self._fail(got, "',' or ']' in traceEvents")
            self.pos += 1

    def document(self, add) -> tuple:
        self.expect("{", "to open the trace")
        devices, seen = (), False
        if self.peek() == "}":
            self.pos += 1
        else:
            while True:
                key = self.value()
                self.expect(":", "after a key")
                if key == "traceEvents":
                    seen = True
                    self.events(add)
                elif key == "deviceProperties":
                    value = self.value()
                    devices = tuple(MappingProxyType(dict(d)) for d in value if isinstance(d, dict)) \
                        if isinstance(value, list) else ()
                else:
                    self.value()
                got = self.peek()
                if got == "}":
                    self.pos += 1
                    break
                if got != ",":
                    self._fail(got, "',' or '}' between top-level keys")
                self.pos += 1
        if not seen:
            raise SparsimError(f"{self.label}: a JSON object without 'traceEvents': not a Chrome trace; allowed: the "
                               "JSON that torch.profiler's export_chrome_trace() writes")
        return devices
