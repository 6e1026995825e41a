"""A fix of Beam's S3 writer for empty files, installed where infergraph writes files.

Beam's S3 uploader (2.77) sends its buffered bytes as a part only when there are some, then
completes the multipart upload; a file with no bytes (a failures file of a run without
failures, an empty shard) completes an upload of no parts, which S3 refuses (``MalformedXML``),
failing the run at its last step. With the fix, an upload that has no part yet sends its buffer
as its one part even when it is empty (S3 accepts a last part of any size).

:func:`install` is idempotent and cheap. It is called in the launching process
(``run_graph_files``: the DirectRunner's in-process runs), in every Dask task
(``infergraph.beam.dask_runner``), and in the ``setup`` of the file DoFns (reading inputs,
writing Parquet). On other runners' workers (Dataflow, Flink) it is in place only in worker
processes where one of those DoFns has set up: a process that only finalizes Beam's text sink
(a JSONL output) may lack it, and an empty JSONL output on S3 then fails there as it does in
Beam itself.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Make Beam's S3 uploader write empty files (a no-op without Beam's AWS libraries)."""
    try:
        from apache_beam.io.aws import s3io  # noqa: PLC0415 (boto3: optional)
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
