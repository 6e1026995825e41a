"""The benchmark suite: ``python -m benchmarks`` (``make bench``); see docs/performance.md.

Modules: ``suite`` (the run: one process per variant, the table, the targets, the JSON),
``variant`` (one variant in this process), ``plan`` (models, variants, row counts), ``data``
(the rows), ``models`` (building the models), one module of variants per family
(``onnx_variants``, ``chain_variants``, ``tf_variants``, ``remote_variants``; ``file_run`` for
``infergraph run``), ``beam_run`` (pipelines), ``records``, ``targets``, ``table``, ``machine``,
``chart``, and ``report`` (the docs' numbers from a run's JSON).
"""
