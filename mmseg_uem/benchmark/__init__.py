"""The throughput benchmark's parts (``tools/benchmarks/throughput.py``): timing and memory
(``measure``), backbone twins (``twins``), the timed sections (``sections``), FLOPs
(``flops``), host-device syncs (``syncs``) and the report (``report``).

Not imported by ``mmseg_uem`` itself.
"""
