"""The embedded demo behind ``make demo``: the whole method, end to end, on miniature data.

An application of ``mmseg_uem``, not part of it. The demo is an ordered list of named
sections (``sections.SECTIONS``); ``tools/demo.py``
runs all of them, ``--sections NAME ...`` some (with the sections they require). Every
section runs the same command-line tools a user runs, on the miniature data generated
first under ``<work_dir>/data``:

- ``core``: ``tools/train.py`` stage 1 (``configs/uem/demo/demo_g_stage1.py``) and stage 2
  (``configs/uem/demo/demo_gd.py``); ``tools/test.py`` the stage-2 model on the miniature
  RoadAnomaly set with the ID, OoD and LR scores (``--eval AP FPR95 AUROC``, heat maps of the
  LR run via ``--show-dir``) and both models on the miniature Cityscapes val split
  (``--eval mIoU``); prints the table.
- ``table4`` (``table4.py``, needs ``core``): one D network, then UEM, RbA and PEBAL
  outlier supervision from it; OoD metrics with each one's score and mIoU before / after.
- ``stock``: a UEM on a stock mmseg segmentor (``stock.py``): mmseg's
  DeepLabV3+ trained as mmseg trains it, a D-D UEM on its frozen checkpoint, the stock
  model's MSP / MaxLogit / Energy against the UEM's scores, mIoU before and after.
- ``dinov3`` (``dinov3.py``): the core section's two stages and scores on a tiny
  DINOv3-architecture ViT (RoPE, storage tokens, LayerScale), beside the core table.

A section is ``DemoSection(name, help, run, requires)`` (``context.py``): ``run(ctx)`` takes
the ``DemoContext``, prints its table and returns its numbers (a json-able dict, stored in
``<work_dir>/demo_results.json`` under the section's name). To add one, write its ``run``
and append it to ``sections.SECTIONS``. Every checkpoint a section reads is the one its
training run saved last, found through mmengine's ``last_checkpoint`` file
(``DemoContext.train``), so no section names an iteration.

The demo configs read their data from ``demo_root``, which defaults to
``work_dirs/demo/data/`` and is taken from the environment variable ``DATA_ENV`` when set
(mmengine's ``{{$VAR:default}}`` substitution): the demo sets it to ``<work_dir>/data/``.
"""
