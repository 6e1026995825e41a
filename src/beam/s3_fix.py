"""A fix of Beam's S3 writer for empty files, installed where infergraph writes files.

Beam's S3 uploader (2.77) sends its buffered bytes as a part only when there are some, then
completes the multipart upload; a file with no bytes (a failures file of a run without
failures, an empty shard) completes an upload of no parts, which S3 refuses (``MalformedXML``),
failing the run at its last step. With the fix, an upload that has no part yet sends its buffer
as its one part even when it is empty (S3 accepts a last part of any size).

:func:`install` is idempotent and cheap; the runners call it in the launching process and in
every Dask task (``infergraph.beam.dask_runner``), and the graph's and files' DoFns in their
``setup``, so that workers have it before they write.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Make Beam's S3 uploader write empty files (a no-op without Beam's AWS libraries)."""
    try:
        from apache_beam.io.aws import s3io
    except ImportError:  # no boto3: no S3 filesystem to fix
        return
    uploader = s3io.S3Uploader
    original = uploader.finish
    if getattr(original, "infergraph_fix", False):
        return

    def finish(self: Any) -> None:
        if not self.parts and not self.buffer and self.last_error is None:
            self._write_to_s3(self.buffer)  # the one (empty) part of an empty file
        original(self)

    finish.infergraph_fix = True  # type: ignore[attr-defined]
    uploader.finish = finish  # type: ignore[method-assign]
