"""What ``tools/`` share: command-line arguments and config edits (``cli``), pre-flight
checks of the files a run needs (``preflight``), building and closing a run (``launch``)
and the embedded demo (``demo``).

Not imported by ``mmseg_uem`` itself (registration needs none of it).
"""
